"""User accounts as the admin pages and the API read them (writes: operations/users.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import or_, select

from blueprints.core.cache import Read
from blueprints.core.errors import NotFound
from blueprints.core.liststate import Filter, ListSpec, ListState
from blueprints.core.reads import fetch_page
from models import ROLES, User, db

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


def list_users(state: ListState, *, clamp_page: bool = False) -> dict[str, Any]:
    return USERS_LIST.get((state.cache_args(), clamp_page),
                          lambda: fetch_page(select(*USER_COLUMNS), state, clamp_page=clamp_page))


def get_user(user_id: int) -> dict[str, Any]:
    row = db.session.execute(select(*USER_COLUMNS).where(User.id == user_id)).mappings().first()
    if row is None:
        raise NotFound("No user with that id.")
    return dict(row)
