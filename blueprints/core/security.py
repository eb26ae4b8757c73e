"""Security headers on every response, and sign-in throttling shared across processes.

Headers are a few lines of our own (no HTTPS redirects to fight behind a load balancer). Throttling
uses Flask-Limiter's storage and strategies, in Redis when REDIS_URL is set so every process shares
the counts; the per-account lockout itself lives in the users table (blueprints/core/auth.py).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Flask, current_app, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from limits import parse

from blueprints.core.auth import normalize_username
from blueprints.core.errors import RateLimited

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
    limiter: Limiter = current_app.extensions["muster_limiter"]
    address = get_remote_address()
    checks = ((current_app.config["SIGNIN_LIMIT_PER_ADDRESS"], ("sign-in", address)),
              (current_app.config["SIGNIN_LIMIT_PER_ACCOUNT"], ("sign-in", address, _attempted_username())))
    try:
        allowed = all(limiter.limiter.hit(parse(rule), *key) for rule, key in checks)
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
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    app.config.setdefault("RATELIMIT_KEY_PREFIX", app.config["CACHE_KEY_PREFIX"] + ":limits")
    # One limiter per app (tests build several); no default limits: only sign-in is throttled.
    app.extensions["muster_limiter"] = Limiter(key_func=get_remote_address, app=app, swallow_errors=True)

    @app.after_request
    def _headers(response):
        response.headers.setdefault("Content-Security-Policy", CSP)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Referrer-Policy", "same-origin")
        if app.config.get("SESSION_COOKIE_SECURE"):
            response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
        return response
