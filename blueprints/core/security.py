"""Security headers on every response, and sign-in throttling shared across processes.

Headers are a few lines of our own (no HTTPS redirects to fight behind a load balancer). Throttling
uses the `limits` library's storage and fixed-window strategy directly, in Redis when REDIS_URL is
set so every process shares the counts; only the sign-in views pay for it (Flask-Limiter's
extension would add a hook to every request). The per-account lockout itself is counted in the
database (blueprints/core/operations/lockout.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, current_app, request, session
from limits import parse
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter

from blueprints.core.auth import normalize_username
from blueprints.core.errors import RateLimited
from blueprints.core.extensions import redis_handle

log = logging.getLogger(__name__)
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'")


def _attempted_username() -> str:
    """The name as authenticate() will look it up, so no spelling of it gets a budget of its own."""
    body = request.get_json(silent=True) if request.is_json else None
    name = body.get("username") if isinstance(body, dict) else request.form.get("username")
    return normalize_username(name)[:80]


def _throttle() -> None:
    """Count one password check per client address and per address+account; 429 past the limits."""
    if request.method != "POST":
        return
    limiter: FixedWindowRateLimiter = current_app.extensions["muster_limiter"]
    prefix = current_app.config["CACHE_KEY_PREFIX"] + ":limits"
    address = request.remote_addr or "127.0.0.1"
    checks = ((current_app.config["SIGNIN_LIMIT_PER_ADDRESS"], (prefix, "sign-in", address)),
              (current_app.config["SIGNIN_LIMIT_PER_ACCOUNT"], (prefix, "sign-in", address, _attempted_username())))
    try:
        allowed = all(limiter.hit(parse(rule), *key) for rule, key in checks)
    except Exception:  # the limiter's storage is down: fail open, the account lockout still applies
        log.warning("sign-in throttling unavailable; storage unreachable")
        return
    if not allowed:
        raise RateLimited("Too many sign-in attempts; wait a minute and try again.")


def sign_in(view: Callable) -> Callable:
    """Decorate a view that checks passwords: throttled per address and per address+account."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        _throttle()
        return view(*args, **kwargs)

    return wrapper


def init_app(app: Flask) -> None:
    client = redis_handle.for_app(app)
    # One limiter per app (tests build several), on the app's own Redis connections; only sign-in is throttled.
    storage = (storage_from_string(app.config["REDIS_URL"], connection_pool=client.connection_pool)
               if client is not None else storage_from_string("memory://"))
    app.extensions["muster_limiter"] = FixedWindowRateLimiter(storage)

    headers = [("Content-Security-Policy", CSP), ("X-Content-Type-Options", "nosniff"),
               ("X-Frame-Options", "DENY"), ("Referrer-Policy", "same-origin")]
    if app.config.get("SESSION_COOKIE_SECURE"):
        headers.append(("Strict-Transport-Security", "max-age=31536000"))
    app.extensions["muster_security_headers"] = tuple(headers)  # the API's fast path sends them too

    @app.after_request
    def _headers(response):
        # No view sets these itself, so one check stands for all of them (cheaper than setdefault each).
        if "Content-Security-Policy" not in response.headers:
            response.headers.extend(headers)
        # A signed-in page is one person's: no shared cache may keep it, and neither may the browser's
        # history after sign-out. Static assets (assets.py) and anonymous pages keep their caching.
        if (request.endpoint != "static" and "Cache-Control" not in response.headers
                and "_user_id" in session):
            response.headers["Cache-Control"] = "private, no-store"
        return response
