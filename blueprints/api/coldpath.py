"""The API list read on a cache miss (or with the cache off), answered before Flask.

Profile (cProfile of 1,000 in-process calls, cache off, PostgreSQL, 10k cadets, `GET /api/cadets?limit=50`,
2026-12-07): 2.45 ms of CPU per request without the profiler. Under it: Flask around the view (request
context, URL matching, hooks, Response, Flask-Compress's after_request) 14%; the token lookup through the
ORM 20% (half of it the round trip); the page statement 34% (mostly the round trip and psycopg); rows
shaped into dicts 8%; gzip at COMPRESS_LEVEL 6%; JSON 2%. This path removes Flask's share (1.89 ms of
CPU, with the kept token statement of auth.py); what is left is two round trips, shaping and gzip.

This WSGI middleware sits inside the warm fast path (fastpath.py, which hands it what the cache cannot
answer) and answers a plain list GET itself, in an app context: the token's user through the same
cached lookup as the view (auth.token_record), the body through the same function as the view
(listcache.list_body: the same read, the same JSON, the same gzip at COMPRESS_LEVEL, the same cache
entries), with the same headers, and recorded for the dashboard with its statements. Every case it
cannot answer exactly goes to Flask unchanged: a missing or malformed token, an unknown, revoked or
deactivated token (Flask's 401), a role the route refuses (403), a token due its last-used touch (a
write), a bad parameter (the view's 400), a host not in TRUSTED_HOSTS, an Accept-Encoding not answered
with gzip, If-None-Match, today's held-days check or the mail sender not yet started in this process,
read replicas configured (their choice is per request), and any error (Flask answers it as always).
MUSTER_COLD_PATH=off leaves every request to Flask.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from flask import Flask, g

from blueprints.api.listcache import CACHE_CONTROL, list_body
from blueprints.api.responses import environ_list_state
from blueprints.core import fastpath
from blueprints.core.auth import TOKEN_READ, sent_token_hash, token_record, touch_due
from blueprints.core.cache import Read, prefetch
from blueprints.core.database import read_only_get
from blueprints.core.errors import AppError
from blueprints.core.fastpath import query_args, takes_gzip
from blueprints.core.liststate import ListSpec
from blueprints.core.mailer import sender_started
from blueprints.core.perf.recorder import finish_outside_flask, start_timing, stop_timing

log = logging.getLogger(__name__)
COLD_TIMING = 'fastpath;desc="cold, before Flask"'  # in Server-Timing: says which path answered


@dataclass(frozen=True)
class ColdList:
    endpoint: str  # as the dashboard names it: "GET api.cadets_list"
    rule: str
    roles: tuple[str, ...]
    read: Read
    spec: ListSpec
    fetch: Callable[..., dict]


class ColdPath(fastpath.Middleware):
    """Answer the plain list GETs of `routes` (PATH_INFO -> ColdList) that answer() can; hand the rest on."""

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        route = self.route_for(environ)
        if route is None or not self._plain(environ):
            return self.next(environ, start_response)
        found = self.answer(route, environ)
        if found is None:
            return self.next(environ, start_response)
        headers, body = found
        start_response("200 OK", headers)
        return [body]

    def _plain(self, environ: dict) -> bool:
        """Would Flask's hooks do nothing for this request but what answer() does?"""
        app = self.app
        return (app.config.get("MUSTER_COLD_PATH", True) and "HTTP_IF_NONE_MATCH" not in environ
                and takes_gzip(environ.get("HTTP_ACCEPT_ENCODING", "")) and sender_started(app))

    def answer(self, route: ColdList, environ: dict) -> tuple[list[tuple[str, str]], bytes] | None:
        """(headers, gzip body) of the list as the view answers it, or None: Flask answers."""
        hashed = sent_token_hash(environ)  # left in the environ for the view, if it is handed on
        if hashed is None:
            return None
        try:
            state = environ_list_state(environ, route.spec, query_args(environ.get("QUERY_STRING", "")))
        except (AppError, UnicodeError):
            return None
        with self.app.app_context():
            read_only_get()  # reads in autocommit, as Flask's GET requests (database._session_began)
            req = start_timing(self.app.config, self.buffer) if self.buffer is not None else None
            try:
                prefetch((TOKEN_READ, hashed), (route.read.derived("api"), state.cache_args()))  # as the view's
                user = token_record(hashed)
                if user is None or user["role"] not in route.roles or touch_due(user["token_id"]):
                    found = None
                else:
                    found = list_body(route.read, state, route.fetch)
            except Exception:  # Flask answers it as always (a 400, a 404, a 503 ...), from the start
                log.debug("cold path: handed on to Flask", exc_info=True)  # the session ends with the context
                found = None
            if found is None:
                if req is not None:
                    stop_timing(self.buffer)
                return None
            digest, body = found
            # In the order Flask sends the view's: its headers, werkzeug's, then the after_request hooks'.
            headers = [("ETag", f'"{digest}:gzip"'), ("Vary", "Accept-Encoding"), ("Cache-Control", CACHE_CONTROL),
                       ("Content-Encoding", "gzip"), ("Content-Type", "application/json"),
                       ("Content-Length", str(len(body))), *self.headers]
            if req is not None:
                events = g.get("cache_events", [])
                timing = finish_outside_flask(self.app.config, self.buffer, req, route.endpoint, route.rule, events)
                headers.append(("Server-Timing", f"{timing}, {COLD_TIMING}"))
        return headers, body


def init_app(app: Flask) -> None:
    """Wrap the app's WSGI callable, once the API's routes are registered (before the warm fast path)."""
    if app.config.get("DATABASE_REPLICA_URLS"):
        return  # a replica is chosen per request by Flask's hooks (replicas.py)
    routes = {rule: ColdList(f"GET {endpoint}", rule, view.allowed_roles, *marked)
              for rule, endpoint, view, marked in fastpath.marked_routes(app, "cached_list")}
    if routes:
        app.wsgi_app = ColdPath(app, routes)
