"""A user's notifications: the list and the unread count shown in the navigation."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from blueprints.core.liststate import Filter, ListSpec, ListState
from blueprints.core.reads import fetch_page
from models import Notification, db

NOTIFICATION_SPEC = ListSpec(
    "notifications",
    {"created_at": (Notification.created_at,), "id": (Notification.id,)},
    "id", Notification.id, default_desc=True,
    filters={"unread": Filter("bool", lambda v: Notification.read_at.is_(None) if v
                              else Notification.read_at.is_not(None), label="Unread")},
)


def _select_notifications(user_id: int):
    return select(Notification.id, Notification.kind, Notification.message, Notification.link,
                  Notification.created_at, Notification.read_at).where(Notification.user_id == user_id)


def list_notifications(user_id: int, state: ListState, *, clamp_page: bool = False) -> dict[str, Any]:
    """The user's own notifications, newest first; never cached (one user's data, read on every visit)."""
    return fetch_page(_select_notifications(user_id), state, clamp_page=clamp_page)


def unread_count(user_id: int) -> int:
    """How many of the user's notifications are unread (an index-only count)."""
    return db.session.scalar(select(func.count()).select_from(Notification)
                             .where(Notification.user_id == user_id, Notification.read_at.is_(None))) or 0
