"""The email outbox's bookkeeping: claim due rows with a lease, then mark each sent or due again later.

Claiming is one short transaction: `FOR UPDATE SKIP LOCKED` (PostgreSQL) keeps two senders from
taking the same row at the same moment, and the lease it writes keeps every other sender off the
row while this one talks to SMTP, outside any transaction. A sender that dies mid-send leaves a
lease that simply runs out, and the row is retried. Marking is guarded by the lease, so a sender
whose lease ran out (and was re-claimed) cannot overwrite the newer claim's result.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update

from blueprints.core.database import is_postgres
from blueprints.core.operations import unit_of_work
from models import EmailOutbox, Notification, utcnow

LEASE = timedelta(seconds=120)
MAX_ATTEMPTS = 8
FIRST_RETRY = timedelta(seconds=30)
LONGEST_RETRY = timedelta(hours=2)


@dataclass(frozen=True)
class Claimed:
    id: int
    to_address: str
    message: str
    link: str | None
    attempts: int
    lease_until: datetime


def claim_due(limit: int = 20, now: datetime | None = None) -> list[Claimed]:
    """Take up to `limit` due emails for this sender, each leased until now + LEASE."""
    now = now or utcnow()
    lease = now + LEASE
    with unit_of_work() as session:
        due = (select(EmailOutbox.id).where(
            EmailOutbox.status == "pending", EmailOutbox.next_attempt_at <= now,
            or_(EmailOutbox.lease_until.is_(None), EmailOutbox.lease_until < now))
            .order_by(EmailOutbox.next_attempt_at, EmailOutbox.id).limit(limit))
        if is_postgres(session.get_bind()):
            due = due.with_for_update(skip_locked=True)
        ids = list(session.scalars(due))
        if not ids:
            return []
        session.execute(update(EmailOutbox).where(EmailOutbox.id.in_(ids))
                        .values(lease_until=lease, attempts=EmailOutbox.attempts + 1)
                        .execution_options(synchronize_session=False))
        rows = session.execute(
            select(EmailOutbox.id, EmailOutbox.to_address, Notification.message, Notification.link,
                   EmailOutbox.attempts)
            .join(Notification, Notification.id == EmailOutbox.notification_id)
            .where(EmailOutbox.id.in_(ids)).order_by(EmailOutbox.id)).all()
    return [Claimed(r.id, r.to_address, r.message, r.link, r.attempts, lease) for r in rows]


def mark_sent(claimed: Claimed) -> bool:
    """The SMTP server accepted it. False if our lease had run out and another sender holds the row."""
    return _finish(claimed, status="sent", sent_at=utcnow(), last_error=None)


def mark_failed(claimed: Claimed, error: str, now: datetime | None = None) -> bool:
    """Sending failed: due again after a doubling delay, or given up after MAX_ATTEMPTS."""
    now = now or utcnow()
    if claimed.attempts >= MAX_ATTEMPTS:
        return _finish(claimed, status="failed", last_error=error[:300])
    return _finish(claimed, next_attempt_at=now + retry_delay(claimed.attempts), last_error=error[:300])


def retry_delay(attempts: int) -> timedelta:
    """30 s after the first failure, doubling each time, at most two hours."""
    return min(FIRST_RETRY * 2 ** max(attempts - 1, 0), LONGEST_RETRY)


def _finish(claimed: Claimed, **values) -> bool:
    with unit_of_work() as session:
        done = session.execute(
            update(EmailOutbox).where(EmailOutbox.id == claimed.id, EmailOutbox.lease_until == claimed.lease_until)
            .values(lease_until=None, **values).execution_options(synchronize_session=False))
    return done.rowcount == 1
