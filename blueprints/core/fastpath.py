"""What the WSGI fast paths (the API's lists, the staff's table pages) share: a middleware that answers
some warm GET routes from the cache before Flask, and hands every other request to Flask unchanged.

The base checks what every fast answer needs: a GET on one of its routes, the cache on, a Host that
Flask would accept (TRUSTED_HOSTS, else Flask's 400), and today's held-days check already done in this
process (else Flask's before_request runs it). A subclass's answer() does the rest and returns
(status, headers, body, cache hits), or None to fall through. An answered request is recorded for the
dashboard like any other (served_without_flask) and carries the same Server-Timing, plus FAST_TIMING.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl

from flask import Flask
from flask_compress.flask_compress import _choose_algorithm
from werkzeug.sansio.utils import host_is_trusted

from blueprints.core import cache
from blueprints.core.extensions import compress
from blueprints.core.operations import held_days
from blueprints.core.perf.recorder import served_without_flask

Answer = tuple[int, list[tuple[str, str]], bytes, int]  # status, headers, body, cache hits
_STATUS = {200: "200 OK", 304: "304 Not Modified"}
FAST_TIMING = 'fastpath;desc="before Flask"'  # in Server-Timing: says which path answered (monitoring on)


class Middleware:
    """A WSGI layer in front of the app for the GET requests of `routes` (PATH_INFO -> route): what it
    needs to answer one as Flask would (the security headers, the trusted hosts, the monitoring buffer)."""

    def __init__(self, app: Flask, routes: dict[str, Any]) -> None:
        self.app = app
        self.next: Callable = app.wsgi_app
        self.routes = routes
        self.headers = app.extensions["muster_security_headers"]
        trusted = app.config.get("TRUSTED_HOSTS")
        self.trusted_hosts = tuple(trusted) if trusted is not None else None  # else: Flask's 400
        self.buffer = app.extensions.get("muster_perf") if app.config.get("MUSTER_MONITORING") else None

    def route_for(self, environ: dict) -> Any | None:
        """The route of a GET this layer may answer: one of its paths, a Host Flask trusts (else Flask's
        400) and today's held-days check done in this process (else Flask's hook does it); else None."""
        route = self.routes.get(environ.get("PATH_INFO", "")) if environ.get("REQUEST_METHOD") == "GET" else None
        if (route is None
                or (self.trusted_hosts is not None and not _host_trusted(environ.get("HTTP_HOST"), self.trusted_hosts))
                or not held_days.confirmed_today(self.app)):
            return None
        return route


class FastPath(Middleware):
    """Answer the GET requests of `routes` that answer() can from the cache; hand the rest on."""

    def __init__(self, app: Flask, routes: dict[str, Any]) -> None:
        super().__init__(app, routes)
        self.store = cache.store_for(app)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        route = self.route_for(environ) if self.app.config.get("MUSTER_CACHE", True) else None
        if route is None:
            return self.next(environ, start_response)
        t0, wall = time.perf_counter(), time.time()
        found = self.answer(route, environ)
        if found is None:
            return self.next(environ, start_response)
        status, headers, body, hits = found
        if self.buffer is not None:
            timing = served_without_flask(self.app.config, self.buffer, t0, wall, route.endpoint, route.rule, hits,
                                          status)
            headers.append(("Server-Timing", f"{timing}, {FAST_TIMING}"))
        start_response(_STATUS[status], headers)
        return [body] if body else []

    def answer(self, route: Any, environ: dict) -> Answer | None:
        raise NotImplementedError


def installable(app: Flask) -> bool:
    """The fast paths are installed only with Redis and the cache on (every process sees every clear)."""
    return bool(app.config.get("REDIS_URL")) and bool(app.config.get("MUSTER_CACHE", True))


def marked_routes(app: Flask, mark: str) -> Iterator[tuple[str, str, Any, Any]]:
    """(rule, endpoint, view, the view's `mark` attribute) of each GET route without path arguments whose view
    carries that mark: the routes a fast path may answer."""
    for rule in app.url_map.iter_rules():
        view = app.view_functions.get(rule.endpoint)
        value = getattr(view, mark, None)
        if value is not None and not rule.arguments and "GET" in (rule.methods or ()):
            yield rule.rule, rule.endpoint, view, value


@lru_cache(maxsize=64)
def _host_trusted(environ_host: str | None, trusted: tuple[str, ...]) -> bool:
    return host_is_trusted(environ_host, trusted)


def query_args(query_string: str) -> dict[str, str]:
    """request.args as werkzeug parses it, first value per name, as a plain dict: a MultiDict's get()
    raises and catches an exception for each name it lacks (11 per list request in the profile)."""
    args: dict[str, str] = {}
    decoded = query_string.encode("latin-1").decode()  # WSGI hands bytes as latin-1; werkzeug reads UTF-8
    for name, value in parse_qsl(decoded, keep_blank_values=True, errors="werkzeug.url_quote"):
        args.setdefault(name, value)
    return args


def takes_gzip(accept_encoding: str) -> bool:
    """Whether Flask-Compress's after_request, among its COMPRESS_ALGORITHM, would answer this Accept-Encoding
    with gzip (and gzip wins a tie: it is what is stored): the only encoding the fast paths serve."""
    return _gzip_chosen(compress.enabled_algorithms, accept_encoding)


@lru_cache(maxsize=128)
def _gzip_chosen(enabled: tuple[str, ...], accept_encoding: str) -> bool:
    if "gzip" not in enabled:
        return False
    return _choose_algorithm(("gzip", *(a for a in enabled if a != "gzip")), accept_encoding) == "gzip"
