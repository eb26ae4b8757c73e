"""The page session, opened outside Flask exactly as Flask, Flask-Login and Flask-WTF would read it, for
the fast path (fastpath.py): only a session that Flask would leave unwritten on a plain GET passes.

Flask (SecureCookieSessionInterface.open_session): the cookie named SESSION_COOKIE_NAME, verified by
the interface's own signing serializer with max_age PERMANENT_SESSION_LIFETIME; a bad or expired one is
an empty session. Flask writes the cookie back when the session is modified, or on every request when
it is permanent and SESSION_REFRESH_EACH_REQUEST is on. Flask-Login writes it when `_remember` is set
(or REMEMBER_COOKIE_REFRESH_EACH_REQUEST), and its session protection when the client's identifier
differs from the session's `_id` and the session is still marked fresh. Flask-WTF writes it when the
session has no CSRF value yet; else its token is the value signed with a timestamp (generate_csrf).
"""

from __future__ import annotations

from hashlib import sha512

from flask import Flask
from itsdangerous import BadSignature, URLSafeTimedSerializer
from werkzeug.http import parse_cookie

from blueprints.core.auth import parse_session_id
from blueprints.core.extensions import login_manager


class SessionCheck:
    def __init__(self, app: Flask, serializer: URLSafeTimedSerializer, csrf_secret: str | bytes) -> None:
        interface = app.session_interface
        self.serializer = serializer  # built once: SECRET_KEY (and its fallbacks) are read at start-up
        self.cookie_name = interface.get_cookie_name(app)
        self.max_age = int(app.permanent_session_lifetime.total_seconds())
        self.refreshes = app.config["SESSION_REFRESH_EACH_REQUEST"]
        self.protection = app.config.get("SESSION_PROTECTION", login_manager.session_protection)
        self.remember_refreshes = bool(app.config.get("REMEMBER_COOKIE_REFRESH_EACH_REQUEST"))
        self.csrf_field = app.config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
        self.csrf = URLSafeTimedSerializer(csrf_secret, salt="wtf-csrf-token")  # as flask_wtf.csrf.generate_csrf

    @classmethod
    def for_app(cls, app: Flask) -> SessionCheck | None:
        """None when Flask would open no signed session or Flask-WTF could make no token (no secret)."""
        serializer = app.session_interface.get_signing_serializer(app)
        csrf_secret = app.config.get("WTF_CSRF_SECRET_KEY", app.secret_key)
        return cls(app, serializer, csrf_secret) if serializer is not None and csrf_secret else None

    def signed_in(self, environ: dict) -> tuple[int, int, str] | None:
        """(user id, session version, CSRF value) of a signed-in session Flask would not write back, else None."""
        cookie = parse_cookie(environ.get("HTTP_COOKIE")).get(self.cookie_name)
        if not cookie or self.remember_refreshes:
            return None
        try:
            data = self.serializer.loads(cookie, max_age=self.max_age)
        except BadSignature:  # includes SignatureExpired
            return None
        if (type(data) is not dict or "_flashes" in data or "_remember" in data
                or (data.get("_permanent") and self.refreshes) or not self._protection_passes(data, environ)):
            return None
        csrf_value, parsed = data.get(self.csrf_field), parse_session_id(data.get("_user_id"))
        if type(csrf_value) is not str or parsed is None:
            return None
        return parsed[0], parsed[1], csrf_value

    def _protection_passes(self, data: dict, environ: dict) -> bool:
        """Flask-Login's session protection would neither mark the session non-fresh nor empty it."""
        if self.protection not in ("basic", "strong") or data.get("_id") == login_identifier(environ):
            return True
        return (self.protection == "basic" or bool(data.get("_permanent"))) and data.get("_fresh") is False

    def csrf_token(self, csrf_value: str) -> str:
        """flask_wtf.csrf.generate_csrf's token for a session holding this value, made now."""
        return self.csrf.dumps(csrf_value)


def login_identifier(environ: dict) -> str:
    """flask_login.utils._create_identifier for this request (a session's `_id`), read from the environ."""
    address = environ.get("HTTP_X_FORWARDED_FOR", environ.get("REMOTE_ADDR"))
    if address is not None:
        address = address.encode("utf-8").split(b",")[0].strip()
    agent = environ.get("HTTP_USER_AGENT")
    if agent is not None:
        agent = agent.encode("utf-8")
    return sha512(f"{address}|{agent}".encode()).hexdigest()
