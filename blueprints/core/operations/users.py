"""Users, roles, passwords and preferences."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import current_app
from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_users
from blueprints.core.errors import Conflict, ValidationError
from blueprints.core.operations import apply_changes, changed_fields, get_or_404, unit_of_work
from blueprints.core.validation import MAX_ID, Field, validate
from models import CADET_ROLE, PAGE_SIZES, ROLES, ApiToken, Cadet, User, UserSettings, db, utcnow

MIN_PASSWORD = 10
USER_FIELDS = [
    Field("username", required=True, max_len=80, pattern=r"[A-Za-z0-9_.-]+",
          pattern_help="may contain only letters, digits and . _ -"),
    Field("email", "email", required=True, max_len=254),
    Field("role", "choice", required=True, choices=ROLES),
    Field("password", required=True, max_len=200),
    Field("cadet_id", "int", min=1, max=MAX_ID),
]
EDIT_FIELDS = [
    Field("role", "choice", choices=ROLES),
    Field("is_active", "bool", nullable=False),
    Field("cadet_id", "int", min=1, max=MAX_ID),
    Field("email", "email", max_len=254, nullable=False),
]
PREFERENCE_FIELDS = [
    Field("page_size", "choice", choices=tuple(str(s) for s in PAGE_SIZES)),
    Field("dark_mode", "bool"),
    Field("compact_mode", "bool"),
    Field("email_notifications", "bool"),
]


def _check_password(password: str, field: str = "password") -> None:
    if len(password) < MIN_PASSWORD:
        raise ValidationError("The password is too short.", {field: [f"must be at least {MIN_PASSWORD} characters"]})


def _check_cadet_link(cadet_id: int | None, user_id: int | None = None) -> None:
    if cadet_id is None:
        return
    if db.session.get(Cadet, cadet_id) is None:
        raise ValidationError("No such cadet.", {"cadet_id": ["does not exist"]})
    holder = db.session.scalar(select(User.id).where(User.cadet_id == cadet_id))
    if holder is not None and holder != user_id:
        raise Conflict("That cadet already has an account.", {"cadet_id": ["is linked to another user"]})


def create_user(actor: User | None, data: Mapping[str, Any]) -> int:
    """Create a user with default preferences; actor None is the command line."""
    values = validate(data, USER_FIELDS)
    _check_password(values["password"])
    if values["role"] == CADET_ROLE and values.get("cadet_id") is None:
        raise ValidationError("A cadet account must be linked to a cadet.", {"cadet_id": ["is required for cadets"]})
    _check_cadet_link(values.get("cadet_id"))
    # Sign-in matches names whatever their case, so "Admin" would be taken by "admin".
    name_key = values["username"].lower()
    clash = db.session.scalar(select(User.username).where(
        or_(func.lower(User.username) == name_key, User.email == values["email"])))
    if clash is not None:
        field = "username" if clash.lower() == name_key else "email"
        raise Conflict("That user already exists.", {field: ["is already taken"]})
    password = values.pop("password")
    conflict = Conflict("That user already exists.", {"username": ["is already taken"]})
    with unit_of_work(clear_users, conflict=conflict) as session:
        user = User(**values, password_hash=hash_password(password))
        user.settings = UserSettings()
        session.add(user)
        session.flush()
        record_audit(session, actor.id if actor else None, "users", "CREATE", user.id, values)
    return user.id


def update_user(actor: User, user_id: int, data: Mapping[str, Any]) -> None:
    """Change role, active flag, email or linked cadet. Admins cannot lock themselves out."""
    values = validate(data, EDIT_FIELDS, partial=True)
    user = get_or_404(User, user_id, "user")
    if user.id == actor.id and (values.get("role", "admin") != "admin" or values.get("is_active") is False):
        raise ValidationError("You cannot demote or deactivate yourself.", {"role": ["cannot change your own"]})
    if "cadet_id" in values:
        _check_cadet_link(values["cadet_id"], user_id)
    changed = changed_fields(user, values)
    if not changed:
        return
    ends_sessions = "role" in changed or changed.get("is_active") is False
    with unit_of_work(clear_users, conflict=Conflict("That email is taken.", {"email": ["is already taken"]})) as s:
        apply_changes(s, actor, "users", user, changed, sessions_ended=ends_sessions)
        if ends_sessions:  # a session must not keep a role it no longer has, nor return on reactivation
            _end_sessions(s, user_id)


def _end_sessions(session: Session, user_id: int) -> None:
    """Bump the user's session version: every session cookie issued before stops working."""
    session.execute(update(User).where(User.id == user_id).values(session_version=User.session_version + 1)
                    .execution_options(synchronize_session=False))


def _revoke_tokens(session: Session, user_id: int) -> int:
    """Revoke all of the user's live API tokens; how many (the caller clears the "users" cache)."""
    return session.execute(
        update(ApiToken).where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None))
        .values(revoked_at=utcnow()).execution_options(synchronize_session=False)
    ).rowcount


def sign_out(user: User) -> None:
    """End all of the user's sessions: a signed cookie copied before logout would otherwise still work."""
    with unit_of_work(clear_users) as session:  # the cached signed-in user holds the session version
        _end_sessions(session, user.id)
        record_audit(session, user.id, "users", "UPDATE", user.id, {"action": "sign-out"})


def hash_password(password: str) -> str:
    """werkzeug's salted hash of a password, by the app's PASSWORD_HASH_METHOD (scrypt)."""
    return generate_password_hash(password, current_app.config["PASSWORD_HASH_METHOD"])


def reset_password(actor: User, user_id: int, new_password: str, revoke_tokens: bool = True) -> User:
    """An admin sets a new password: the lockout is lifted, the user's sessions end and, unless the admin
    chooses otherwise, their API tokens are revoked; the audit row says which."""
    _check_password(new_password or "", "new_password")
    user = get_or_404(User, user_id, "user")
    password_hash = hash_password(new_password)  # slow: outside the transaction
    with unit_of_work(clear_users) as session:  # "users" holds the cached token lookups
        user.password_hash = password_hash
        user.failed_logins, user.first_failed_at, user.locked_until = 0, None, None
        _end_sessions(session, user_id)
        revoked = _revoke_tokens(session, user_id) if revoke_tokens else 0
        record_audit(session, actor.id, "users", "UPDATE", user_id,
                     {"action": "reset-password", "revoke_tokens": revoke_tokens, "tokens_revoked": revoked})
    return user  # expired by the commit: its session version reloads as the new one


def change_password(actor: User, current: str, new_password: str) -> User:
    """A user changes their own password, proving they know the current one; their other sessions end
    (the caller re-issues the current one)."""
    user = get_or_404(User, actor.id, "user")  # the actor may be a detached copy from the cache
    if not check_password_hash(user.password_hash, current or ""):
        raise ValidationError("The current password is wrong.", {"current_password": ["is not correct"]})
    _check_password(new_password or "", "new_password")
    password_hash = hash_password(new_password)
    with unit_of_work(clear_users) as session:  # the cached signed-in user holds the session version
        user.password_hash = password_hash
        _end_sessions(session, actor.id)
        record_audit(session, actor.id, "users", "UPDATE", actor.id, {"action": "change-password"})
    return user  # expired by the commit: its session version reloads as the new one


def update_preferences(actor: User, data: Mapping[str, Any]) -> None:
    """Page size and display preferences of the acting user."""
    values = validate(data, PREFERENCE_FIELDS, partial=True)
    if "page_size" in values:
        values["page_size"] = int(values["page_size"])
    with unit_of_work(clear_users) as session:  # the signed-in user's cached copy holds the preferences
        settings = session.scalar(select(UserSettings).where(UserSettings.user_id == actor.id)) \
            or UserSettings(user_id=actor.id)
        for key, value in values.items():
            setattr(settings, key, value)
        session.add(settings)
        record_audit(session, actor.id, "user_settings", "UPDATE", actor.id, values)
