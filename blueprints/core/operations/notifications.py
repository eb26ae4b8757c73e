"""Notifications to cadets, written inside the operation that caused them, and marking them read.

notify_cadets() costs the same two statements for one cadet or 5,000: an INSERT ... SELECT of the
notifications from the cadets' accounts, and (with SMTP_URL set) an INSERT ... SELECT of their
emails into the outbox, for accounts that have not turned email off. Both commit with the write
they report, so a rolled-back write notifies no one and a committed one is never left unsent.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Mapping
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import func, insert, literal, select, true, update
from sqlalchemy.orm import Session

from blueprints.core.errors import ValidationError
from blueprints.core.operations import unit_of_work
from blueprints.core.validation import MAX_BULK, MAX_ID
from models import EmailOutbox, Notification, TrainingDay, User, UserSettings, utcnow

NOTIFICATION_KINDS = ("grades", "merit", "attendance", "excuse")


def notify_cadets(session: Session, cadet_ids: Iterable[int], kind: str, message: str,
                  link: str | None = None) -> None:
    """Notify the active accounts of these cadets (one notification each), in the caller's transaction."""
    ids = sorted(set(cadet_ids))
    if not ids:
        return
    batch, now = secrets.token_hex(16), utcnow()
    accounts = select(User.id, literal(kind), literal(message[:300]), literal(link), literal(batch), literal(now)) \
        .where(User.cadet_id.in_(ids), User.is_active.is_(true()))
    session.execute(insert(Notification).from_select(
        ["user_id", "kind", "message", "link", "batch", "created_at"], accounts))
    if _email_enabled():
        _queue_emails(session, batch, now)


def notify_absent(session: Session, day_id: int, cadet_ids: list[int]) -> None:
    """'You were marked absent' for these cadets, naming the day (one more statement: the day's date)."""
    if not cadet_ids:
        return
    day = session.execute(select(TrainingDay.date, TrainingDay.title).where(TrainingDay.id == day_id)).first()
    notify_cadets(session, cadet_ids, "attendance",
                  f"You were marked absent on {day.date:%Y-%m-%d} ({day.title}). You may send an excuse letter.",
                  "/me")


def _email_enabled() -> bool:
    return has_app_context() and bool(current_app.config.get("SMTP_URL"))


def _queue_emails(session: Session, batch: str, now) -> None:
    """One outbox row per notification of the batch whose user wants email and has an address."""
    rows = (select(Notification.id, User.email, literal("pending"), literal(0), literal(now), literal(now))
            .join(User, User.id == Notification.user_id)
            .outerjoin(UserSettings, UserSettings.user_id == User.id)
            .where(Notification.batch == batch, func.coalesce(UserSettings.email_notifications, true()).is_(true()),
                   User.email != ""))
    session.execute(insert(EmailOutbox).from_select(
        ["notification_id", "to_address", "status", "attempts", "next_attempt_at", "created_at"], rows))


def read_request(actor: User, data: Mapping[str, Any]) -> int:
    """{"ids": [...]} or {"all": true}, as the API and the pages send it; returns how many were marked."""
    ids, every = data.get("ids"), data.get("all")
    if every is True and ids is None:
        return mark_read(actor, None)
    if every not in (None, False) or not isinstance(ids, list) or not 1 <= len(ids) <= MAX_BULK:
        raise ValidationError("Send {\"ids\": [...]} or {\"all\": true}.",
                              {"ids": [f"must be a list of 1 to {MAX_BULK} notification ids, or send all: true"]})
    return mark_read(actor, ids)


def mark_read(actor: User, ids: list[int] | None) -> int:
    """Mark the actor's notifications read: these ids, or every unread one (None). Returns how many.

    The actor's own reading state, like a token's last use: no audit row and no cache to clear."""
    if ids is not None and not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID for i in ids):
        raise ValidationError("ids must be a list of notification ids.", {"ids": ["must be positive whole numbers"]})
    with unit_of_work() as session:
        stmt = update(Notification).where(Notification.user_id == actor.id, Notification.read_at.is_(None))
        if ids is not None:
            stmt = stmt.where(Notification.id.in_(ids))
        count = session.execute(stmt.values(read_at=utcnow()).execution_options(synchronize_session=False)).rowcount
    return count
