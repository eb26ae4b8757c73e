"""Who is asking: session sign-in for pages, Bearer tokens for the API, roles checked on the server.

This side only checks; what a check writes (the lockout counters, a token's last use) is an
operation in core/operations/lockout.py and core/operations/tokens.py.
"""

from __future__ import annotations

import secrets
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import cache, wraps
from typing import Any, NoReturn

from flask import Flask, current_app, g, request
from flask.sessions import SecureCookieSessionInterface
from flask_login import current_user
from sqlalchemy import bindparam, func, select
from werkzeug.security import check_password_hash, generate_password_hash

from blueprints.core.cache import Read, prefetch
from blueprints.core.database import on_primary
from blueprints.core.errors import AppError, Forbidden, RateLimited, Unauthorized, error_body
from blueprints.core.extensions import login_manager
from blueprints.core.operations.lockout import (
    MAX_FAILURES,
    clear_user_failures,
    count_name_attempt,
    count_user_attempt,
    lock_name,
    lock_user,
    prune_now_and_then,
)
from blueprints.core.operations.tokens import TOKEN_PREFIX, record_token_use, token_hash
from blueprints.core.reads import compiled
from blueprints.core.validation import MAX_ID, is_digits
from models import ANYONE, ApiToken, User, UserSettings, db, utcnow

_TOUCH_EVERY = timedelta(minutes=5)
TOKEN_READ = Read("users:token", ("users",))
SESSION_USER_READ = Read("users:session", ("users",))  # the signed-in page user: no query per page view
_last_touch: dict[int, datetime] = {}
_LOCKED = "Too many failed sign-ins; the account is locked for a while."


class PageSessions(SecureCookieSessionInterface):
    """Signed-cookie sessions for the pages. API requests authenticate with a Bearer token, so they
    get no session: no cookie is verified or written for them (and none can stand in for a token)."""

    def open_session(self, app: Flask, request):
        if request.path.startswith("/api/"):
            return self.make_null_session(app)
        return super().open_session(app, request)


def init_app(app: Flask) -> None:
    app.session_interface = PageSessions()
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message = "Please sign in to see that page."
    login_manager.login_message_category = "info"

    @login_manager.user_loader
    def _load(session_id: str) -> User | None:
        """The session's user (from the cache), unless its session version was bumped since or it is
        deactivated. Every bump clears the "users" cache domain, so the cached copy is never older."""
        parsed = parse_session_id(session_id)
        if parsed is None:
            return None
        user_id, version = parsed
        found = SESSION_USER_READ.get(user_id, lambda: _session_user(user_id))
        return _detached_user(found) if session_user_valid(found, version) else None


def parse_session_id(session_id: object) -> tuple[int, int] | None:
    """(user id, session version) of Flask-Login's `_user_id` ("<id>:<version>"), or None."""
    if type(session_id) is not str:
        return None
    user_id, _, version = session_id.partition(":")
    if not (is_digits(user_id) and is_digits(version)) or int(user_id) > MAX_ID:
        return None  # includes sessions issued before session versions existed
    return int(user_id), int(version)


def session_user_valid(found: dict[str, Any] | None, version: int) -> bool:
    """Is this SESSION_USER_READ record still signed in at this session version (active, not bumped)?"""
    return found is not None and bool(found["is_active"]) and found["session_version"] == version


# Built once and kept compiled, as _TOKEN_USER below: every signed-in page asks it on a cache miss.
_SESSION_USER = (select(User.id, User.username, User.email, User.role, User.is_active, User.cadet_id,
                        User.session_version, UserSettings.page_size, UserSettings.dark_mode,
                        UserSettings.compact_mode, UserSettings.email_notifications)
                 .outerjoin(UserSettings, UserSettings.user_id == User.id).where(User.id == bindparam("user_id", 0)))


def _session_user(user_id: int) -> dict[str, Any] | None:
    """What a signed-in page needs of its user, as plain data (never the password hash). Read on
    the primary: who is asking decides which replica may answer the rest of the request."""
    with on_primary():
        return compiled.first_row("users:session", lambda: _SESSION_USER, {"user_id": user_id})


def _detached_user(found: dict[str, Any]) -> User:
    """A User built from cached plain data, like the API's token user: operations that change the
    user load the row themselves."""
    data = dict(found)
    prefs = {k: data.pop(k, None) for k in ("page_size", "dark_mode", "compact_mode", "email_notifications")}
    user = User(**data)
    if prefs["page_size"] is not None:
        user.settings = UserSettings(user_id=user.id, **prefs)
    user.session_record = found  # what the page cache compares a stored page's user against (pages/page_cache.py)
    return user


@cache
def _dummy_hash(method: str) -> str:
    """Checked against when the username is unknown, so timing does not reveal which names exist
    (hashed by the method real passwords are, so the check costs the same)."""
    return generate_password_hash(secrets.token_hex(8), method)


def normalize_username(name: object) -> str:
    """The one spelling of a sign-in name, used for the lookup, the lockout and the throttle key alike.

    NFKC folds full-width and other compatibility forms, then spaces are stripped and case folded.
    """
    folded = unicodedata.normalize("NFKC", str(name or "")).strip().casefold()
    return unicodedata.normalize("NFKC", folded)


def _find_user(name_key: str) -> User | None:
    # Usernames are ASCII (see USER_FIELDS), so SQL lower() matches casefold on every backend.
    return db.session.scalar(select(User).where(func.lower(User.username) == name_key).order_by(User.id).limit(1))


def authenticate(username: str, password: str) -> User:
    """Check a username and password. The attempt is counted first: once 5 in 15 minutes have failed,
    the name is locked for 30 minutes (429), whether or not an account has that name."""
    name_key, password, now = normalize_username(username), password or "", utcnow()
    user = _find_user(name_key) if name_key else None
    if user is None:
        _refuse_unknown_name(name_key[:80], password, now)
    user_id, password_hash, active = user.id, user.password_hash, user.is_active  # before commits expire them
    attempt = count_user_attempt(user_id, now)
    if attempt is None or attempt > MAX_FAILURES:
        raise RateLimited(_LOCKED)
    if not check_password_hash(password_hash, password):
        _fail(attempt, lambda: lock_user(user_id, now), now)
    if not clear_user_failures(user_id, now):
        raise RateLimited(_LOCKED)  # failures from racing requests locked the account meanwhile
    if not active:
        raise Unauthorized("This account is deactivated.")  # said only after the right password
    return user


def _refuse_unknown_name(name_key: str, password: str, now) -> NoReturn:
    """Answer exactly as for a real name: same count, same lockout, same password-hash cost."""
    attempt = count_name_attempt(name_key, now) if name_key else 1
    if attempt is None or attempt > MAX_FAILURES:
        raise RateLimited(_LOCKED)
    check_password_hash(_dummy_hash(current_app.config["PASSWORD_HASH_METHOD"]), password)
    _fail(attempt, lambda: lock_name(name_key, now), now)


def _fail(attempt: int, lock: Callable[[], None], now) -> NoReturn:
    if attempt == MAX_FAILURES:
        lock()
    prune_now_and_then(now)
    raise Unauthorized("Wrong username or password.")


# Built once and kept compiled (reads/compiled.py): a cold API request neither builds this select nor
# goes through the ORM's execute to run it (both showed in the profile of a cold list request).
_TOKEN_USER = (select(User.id, User.username, User.email, User.role, User.is_active, User.cadet_id,
                      ApiToken.id.label("token_id"))
               .join(ApiToken, ApiToken.user_id == User.id)
               .where(ApiToken.token_hash == bindparam("token_hash", ""), ApiToken.revoked_at.is_(None)))


def _resolve_token(token_hash: str) -> dict[str, Any] | None:
    with on_primary():  # as _session_user: a token made a moment ago works at once
        found = compiled.first_row("users:token", lambda: _TOKEN_USER, {"token_hash": token_hash})
    return found if found is not None and found["is_active"] else None


def user_for_token(token: str) -> tuple[User, int] | None:
    """The active user (a detached User built from cached plain data) and token id, or None.

    The lookup is cached under the "users" domain, which revoking a token or changing a user
    clears, so a warm API request needs no database connection at all.
    """
    return _user_for_hash(token_hash(token)) if well_formed(token) else None


def token_record(hashed: str) -> dict[str, Any] | None:
    """The active user of a token hash as plain data (with token_id), cached; records no use (see touch_due)."""
    return TOKEN_READ.get(hashed, lambda: _resolve_token(hashed))


def _user_for_hash(hashed: str) -> tuple[User, int] | None:
    found = token_record(hashed)
    if found is None:
        return None
    found = dict(found)
    token_id = found.pop("token_id")
    _touch(token_id)
    return User(**found), token_id


def touch_due(token_id: int) -> bool:
    """Would this request record the token's use (so it must take the path that writes)?"""
    last = _last_touch.get(token_id)
    return last is None or utcnow() - last >= _TOUCH_EVERY


def _touch(token_id: int) -> None:
    """Record when a token was last used, at most every few minutes per process (bookkeeping)."""
    if not touch_due(token_id):
        return
    now = _last_touch[token_id] = utcnow()
    record_token_use(token_id, now)


def well_formed(token: str) -> bool:
    return token.startswith(TOKEN_PREFIX) and len(token) <= 100


_TOKEN_HASH = "muster.token_hash"  # WSGI environ key: the request's Bearer token, hashed once


def sent_token_hash(environ: dict) -> str | None:
    """The hash of the request's Bearer token when it is well formed, else None. Hashed once per
    request: the API's WSGI fast path hashes it first and leaves it here for the view when it hands
    the request on to Flask, and the view's prefetch and its sign-in share it."""
    if _TOKEN_HASH not in environ:
        token = bearer_token(environ.get("HTTP_AUTHORIZATION", ""))
        environ[_TOKEN_HASH] = token_hash(token) if well_formed(token) else None
    return environ[_TOKEN_HASH]


def bearer_token(header: str) -> str:
    """The token of an `Authorization: Bearer <token>` header value, or ''."""
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


def bearer_user() -> User:
    """The API caller, from the Authorization header; raises Unauthorized (401 JSON)."""
    if not bearer_token(request.headers.get("Authorization", "")):
        raise Unauthorized("Send a personal API token as 'Authorization: Bearer <token>'.")
    hashed = sent_token_hash(request.environ)
    found = _user_for_hash(hashed) if hashed is not None else None
    if found is None:
        raise Unauthorized("The API token is invalid or revoked.")
    g.api_user, g.api_token_id = found
    return found[0]


def require_role(user: Any, roles: tuple[str, ...]) -> None:
    if roles and user.role not in roles:
        raise Forbidden()


def _prefetch(reads: Callable[..., list] | None, kwargs: dict[str, Any]) -> None:
    """Fetch the token lookup and the view's cached reads in one cache round trip."""
    hashed = sent_token_hash(request.environ)
    entries = [(TOKEN_READ, hashed)] if hashed is not None else []
    if reads is not None:
        try:
            entries += reads(**kwargs)
        except AppError:
            pass  # bad parameters: answered after authentication, by the view itself
    prefetch(*entries)


def api_route(*roles: str, prefetch: Callable[..., list] | None = None) -> Callable:
    """Decorate an API view: Bearer auth, then role check; the view gets `actor` first.

    prefetch(**view_kwargs) names the (Read, args) entries the view will read, so they are fetched
    together with the token lookup in one round trip.
    """

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            _prefetch(prefetch, kwargs)
            actor = bearer_user()
            require_role(actor, roles)
            return view(actor, *args, **kwargs)

        wrapper.allowed_roles = roles or ANYONE
        wrapper.cached_list = getattr(prefetch, "cached_list", None)  # (Read, ListSpec, fetch): WSGI fast paths
        return wrapper

    return decorator


def page_route(*roles: str) -> Callable:
    """Decorate a page view: signed-in (else to the login page and back), then role check (403)."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            if not current_user.is_authenticated:
                return login_manager.unauthorized()
            require_role(current_user, roles)
            return view(*args, **kwargs)

        wrapper.allowed_roles = roles or ANYONE
        return wrapper

    return decorator



def page_json_route(*roles: str) -> Callable:
    """Decorate a page's JSON endpoint, called by its script with the session cookie: errors (a session
    that has ended: 401; a role not allowed: 403) are JSON, never a redirect to the login page."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            try:
                if not current_user.is_authenticated:
                    raise Unauthorized("Your session has ended; sign in again.")
                require_role(current_user, roles)
                return view(*args, **kwargs)
            except AppError as exc:
                return error_body(exc.status, exc.code, exc.message, exc.details), exc.status

        wrapper.allowed_roles = roles or ANYONE
        return wrapper

    return decorator
