"""The warm API list read answered before Flask: one MGET, the stored gzip body, the same headers.

Profile (cProfile of a warm `GET /api/cadets?limit=50`, in-process): about 0.9 ms of CPU per hit,
of which the one MGET was about 0.1 ms; the rest was Flask's request context, URL matching, the
request hooks and building the Response. The body itself is already stored, gzip-compressed.

This WSGI middleware serves such a request from the same entries the view would read (the token
lookup, the domain generations and the stored body, fetched together), and records it for the
dashboard like any other request. It only answers when everything is current and plain; any other
case falls through to Flask, which answers exactly as before: a missing, invalid or revoked token,
a host not in TRUSTED_HOSTS (Flask's 400), a role the route refuses, a stale or missing entry, a bad
parameter (the view's 400), an Accept-Encoding the view answers with another encoding or none
(core/fastpath.takes_gzip), a token due its last-used touch, today's held-days check not yet done
in this process, a clear still pending, or Redis away. If-None-Match is compared here as in the view
(core/etags.py): a match is the same 304. Installed only with Redis and the cache on (`init_app`).
The middleware itself, and the checks every fast answer shares, are core/fastpath.py's.
It reads through the backend Flask-Caching built for the app (cache.store_for), as every other cache
read does.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask

from blueprints.api.listcache import CACHE_CONTROL
from blueprints.api.responses import environ_list_state
from blueprints.core import cache, fastpath
from blueprints.core.auth import TOKEN_READ, sent_token_hash, touch_due
from blueprints.core.cache import Read
from blueprints.core.errors import AppError
from blueprints.core.etags import none_match_hits
from blueprints.core.fastpath import Answer, query_args, takes_gzip
from blueprints.core.liststate import ListSpec


@dataclass(frozen=True)
class CachedList:
    endpoint: str  # as the dashboard names it: "GET api.list_cadets"
    rule: str
    roles: tuple[str, ...]
    body: Read  # the read's stored API body (Read.derived("api")), derived once at start-up
    spec: ListSpec


class FastPath(fastpath.FastPath):
    def answer(self, route: CachedList, environ: dict) -> Answer | None:
        found = self._stored_body(route, environ)
        if found is None:
            return None
        digest, body = found
        headers = [("ETag", f'"{digest}:gzip"'), ("Vary", "Accept-Encoding"), ("Cache-Control", CACHE_CONTROL),
                   *self.headers]
        # The same RFC 9110 comparison as the view (listcache.py), so both answer a validator alike.
        if none_match_hits(environ.get("HTTP_IF_NONE_MATCH"), digest):
            return 304, headers, b"", 2
        headers += [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                    ("Content-Encoding", "gzip")]
        return 200, headers, body, 2

    def _stored_body(self, route: CachedList, environ: dict) -> tuple[str, bytes] | None:
        """(digest, gzip body) when this request may be answered from the cache as it stands, else None."""
        hashed = sent_token_hash(environ)  # left in the environ: the view does not hash it again
        if hashed is None or not takes_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")):
            return None
        try:
            state = environ_list_state(environ, route.spec, query_args(environ.get("QUERY_STRING", "")))
        except (AppError, UnicodeError):
            return None
        values = cache.current_values(self.app, self.store, [(TOKEN_READ, hashed), (route.body, state.cache_args())])
        if values is None:
            return None
        user, body = values
        if user is None or user["role"] not in route.roles or touch_due(user["token_id"]):
            return None
        return body


def init_app(app: Flask) -> None:
    """Wrap the app's WSGI callable, once the API's routes are registered."""
    if not fastpath.installable(app):
        return
    routes = {rule: CachedList(f"GET {endpoint}", rule, view.allowed_roles, read.derived("api"), spec)
              for rule, endpoint, view, (read, spec, _) in fastpath.marked_routes(app, "cached_list")}
    if routes:
        app.wsgi_app = FastPath(app, routes)
