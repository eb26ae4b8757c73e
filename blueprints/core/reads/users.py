"""Admin reads: the audit log (unbounded, so no full COUNT), users, and system settings."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from sqlalchemy import or_, select

from blueprints.core.cache import Read
from blueprints.core.errors import NotFound
from blueprints.core.liststate import Filter, ListSpec, ListState
from blueprints.core.reads import fetch_page
from models import (
    AUDIT_OPERATIONS,
    ROLES,
    SETTING_DEFAULTS,
    ApiToken,
    AuditLog,
    SystemSetting,
    User,
    db,
    select_audit_logs,
)


def _day_start(d) -> datetime:
    return datetime.combine(d, time.min).astimezone()


AUDIT_SPEC = ListSpec(
    "audit",
    {"created_at": (AuditLog.created_at,), "id": (AuditLog.id,)},
    "created_at", AuditLog.id, default_desc=True,
    filters={
        "table": Filter("text", lambda v: AuditLog.table_name == v, label="Table"),
        "operation": Filter("choice", lambda v: AuditLog.operation == v, AUDIT_OPERATIONS, label="Operation"),
        "user_id": Filter("int", lambda v: AuditLog.user_id == v, label="User"),
        "date_from": Filter("date", lambda v: AuditLog.created_at >= _day_start(v), label="From"),
        "date_to": Filter("date", lambda v: AuditLog.created_at < _day_start(v + timedelta(days=1)), label="To"),
    },
    exact_count=False,
)

USER_SPEC = ListSpec(
    "users",
    {"username": (User.username,), "role": (User.role,), "created_at": (User.created_at,), "id": (User.id,)},
    "username", User.id,
    filters={
        "role": Filter("choice", lambda v: User.role == v, ROLES, label="Role"),
        "is_active": Filter("bool", lambda v: User.is_active.is_(v), label="Active"),
    },
    search=lambda t: or_(User.username.icontains(t, autoescape=True), User.email.icontains(t, autoescape=True)),
)

USER_COLUMNS = (User.id, User.username, User.email, User.role, User.is_active, User.cadet_id, User.created_at,
                User.locked_until)


USERS_LIST = Read("users:list", ("users",))
SETTINGS = Read("settings:all", ("settings",))


def list_audit(state: ListState, *, clamp_page: bool = False) -> dict[str, Any]:
    return fetch_page(select_audit_logs(), state, table="audit_logs", clamp_page=clamp_page)


def list_users(state: ListState, *, clamp_page: bool = False) -> dict[str, Any]:
    return USERS_LIST.get((state.cache_args(), clamp_page),
                          lambda: fetch_page(select(*USER_COLUMNS), state, clamp_page=clamp_page))


def get_user(user_id: int) -> dict[str, Any]:
    row = db.session.execute(select(*USER_COLUMNS).where(User.id == user_id)).mappings().first()
    if row is None:
        raise NotFound("No user with that id.")
    return dict(row)


def list_tokens(user_id: int) -> list[dict[str, Any]]:
    """A user's live API tokens (never the token itself, only its first characters)."""
    return [dict(r) for r in db.session.execute(
        select(ApiToken.id, ApiToken.name, ApiToken.prefix, ApiToken.created_at, ApiToken.last_used_at)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)
    ).mappings()]


def get_settings() -> dict[str, str]:
    """System settings with defaults filled in (cached 30 minutes, cleared on change)."""

    def build() -> dict[str, str]:
        stored = dict(db.session.execute(select(SystemSetting.key, SystemSetting.value)).all())
        # Only the unit's own settings: internal rows (the grades' as-of marker) stay internal.
        return {**SETTING_DEFAULTS, **{k: v for k, v in stored.items() if k in SETTING_DEFAULTS}}

    return SETTINGS.get((), build)
