"""The staff's warm table pages answered before Flask: the page twin of the API's fast path.

Profile (cProfile, a warm signed-in `GET /cadets/?per_page=50` through Flask, 10k cadets): its body was
already cached, yet each request still ran Flask's request context and session, Flask-Login's user load,
URL matching, the frame's Jinja render (nav, url_for per link), Flask-Compress gzipping ~33 kB again
(the largest single cost), and the hooks: ~20x the API's fast path. Answered here instead: ~0.35 ms of
CPU in-process (the API's fast path: ~0.18 ms), of which the session's and the token's HMACs and the
one MGET are most; the page is never compressed or even read as text per request (page_cache.py).

This middleware answers such a request from one MGET: the signed-in user's SESSION_USER_READ record,
the stored page of that user and URL (page_cache.py) and the generations of both. It opens the session
cookie as Flask would (session_check.py), and answers only when Flask would answer the same page
without writing the session: the user's record is current (active, same session version) and is the
one the page was drawn for, the role may see the route, and the body is the stored page with a CSRF
token made as Flask-WTF makes it from this session. Headers are the view's: the security headers,
`Cache-Control: private, no-store`, `Vary: Accept-Encoding, Cookie`, gzip, Date; no ETag (the view sends
none). Every other case falls through to Flask, which answers as before: no, a bad or expired cookie,
flashed messages pending, a session Flask would write (permanent with SESSION_REFRESH_EACH_REQUEST,
a remember-me cookie to set or clear, Flask-Login's session protection marking it non-fresh, no CSRF
value yet), a remember-me cookie alone, an untrusted Host, a conditional or range request, an
Accept-Encoding Flask-Compress answers other than with gzip, a stale or missing entry or user record,
another role, a clear pending, Redis away, the held-days check not yet done. Installed only with Redis
and the cache on, like the API's.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from werkzeug.http import http_date

from blueprints.core import cache, fastpath
from blueprints.core.auth import SESSION_USER_READ, session_user_valid
from blueprints.core.cache import Read
from blueprints.core.fastpath import Answer, takes_gzip
from blueprints.pages.page_cache import INSTALLED, gzip_page, page_entry, page_key
from blueprints.pages.session_check import SessionCheck

# Conditional and range requests go to Flask: Flask-Compress's make_conditional decides those.
_CONDITIONAL = ("HTTP_IF_NONE_MATCH", "HTTP_IF_MODIFIED_SINCE", "HTTP_IF_MATCH", "HTTP_IF_UNMODIFIED_SINCE",
                "HTTP_IF_RANGE", "HTTP_RANGE")


@dataclass(frozen=True)
class CachedPage:
    endpoint: str  # as the dashboard names it: "GET cadets.index"
    rule: str
    roles: tuple[str, ...]
    page: Read  # page_cache.page_entry of the view's read


class PageFastPath(fastpath.FastPath):
    def __init__(self, app: Flask, routes: dict[str, CachedPage], sessions: SessionCheck) -> None:
        super().__init__(app, routes)
        self.sessions = sessions
        # In the order Flask's hooks add them (security headers, Cache-Control, Vary, then Flask-Compress).
        self.before_length = [("Content-Type", "text/html; charset=utf-8")]
        self.after_length = [*self.headers, ("Cache-Control", "private, no-store"),
                             ("Vary", "Accept-Encoding, Cookie"), ("Content-Encoding", "gzip")]

    def answer(self, route: CachedPage, environ: dict) -> Answer | None:
        if any(name in environ for name in _CONDITIONAL) or not takes_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")):
            return None
        signed_in = self.sessions.signed_in(environ)
        if signed_in is None:
            return None
        user_id, version, csrf_value = signed_in
        values = cache.current_values(self.app, self.store, [(SESSION_USER_READ, user_id),
                                                             (route.page, page_key(environ, user_id))])
        if values is None:
            return None
        user, stored = values
        # The record must be the very one the page was drawn for: same user, name, role and preferences.
        if not session_user_valid(user, version) or user["role"] not in route.roles or stored.get("user") != user:
            return None
        body = gzip_page(stored, self.sessions.csrf_token(csrf_value).encode())
        if body is None:
            return None
        headers = [*self.before_length, ("Content-Length", str(len(body))), *self.after_length,
                   ("Date", http_date())]
        return 200, headers, body, 2


def init_app(app: Flask) -> None:
    """Wrap the app's WSGI callable, once the table pages' routes are registered (see app.py)."""
    sessions = SessionCheck.for_app(app)
    if not fastpath.installable(app) or sessions is None:
        return
    routes = {rule: CachedPage(f"GET {endpoint}", rule, view.allowed_roles, page_entry(read))
              for rule, endpoint, view, read in fastpath.marked_routes(app, "page_read")}
    if routes:
        app.wsgi_app = PageFastPath(app, routes, sessions)
        app.extensions[INSTALLED] = True
