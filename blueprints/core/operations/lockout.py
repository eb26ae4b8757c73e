"""Failed sign-ins, counted atomically in the database so that concurrent attempts each count.

An attempt is counted *before* its password is checked, in one UPDATE that also refuses a locked
name: the 6th attempt since the first failure in the window is refused without a password check,
however many requests race. The 5th attempt, if wrong, locks the name. A right password clears
the count. Names that match no account are counted the same way in `signin_failures`, so a 429
says nothing about which names exist.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import ColumnElement, Table, case, delete, or_, update

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_users
from blueprints.core.operations import conflict_insert, unit_of_work
from models import SignInFailure, User

MAX_FAILURES = 5
FAILURE_WINDOW = timedelta(minutes=15)
LOCKOUT = timedelta(minutes=30)
PRUNE_EVERY = timedelta(minutes=1)
_users: Table = User.__table__
_names: Table = SignInFailure.__table__
_last_prune: datetime | None = None


def _unlocked(table: Table, now: datetime) -> ColumnElement[bool]:
    return or_(table.c.locked_until.is_(None), table.c.locked_until <= now)


def _counted(table: Table, now: datetime) -> dict[str, ColumnElement]:
    """SET values that count one more attempt, starting a new window when the last one is over."""
    stale = or_(table.c.first_failed_at.is_(None), table.c.first_failed_at <= now - FAILURE_WINDOW)
    return {"failed_logins": case((stale, 1), else_=table.c.failed_logins + 1),
            "first_failed_at": case((stale, now), else_=table.c.first_failed_at)}


def count_user_attempt(user_id: int, now: datetime) -> int | None:
    """Count an attempt on a user; its number in the window, or None while the user is locked."""
    with unit_of_work() as session:  # committed at once: racing requests must see the count
        return session.execute(
            update(_users).where(_users.c.id == user_id, _unlocked(_users, now))
            .values(**_counted(_users, now)).returning(_users.c.failed_logins)
        ).scalar()


def count_name_attempt(name_key: str, now: datetime) -> int | None:
    """Count an attempt on a name that matches no account; as count_user_attempt."""
    statement = conflict_insert(_names).values(name_key=name_key, failed_logins=1, first_failed_at=now)
    statement = statement.on_conflict_do_update(index_elements=[_names.c.name_key], set_=_counted(_names, now),
                                                where=_unlocked(_names, now))
    with unit_of_work() as session:
        return session.execute(statement.returning(_names.c.failed_logins)).scalar()


def lock_user(user_id: int, now: datetime) -> None:
    """Lock a user after the last allowed failure; audited, and the users list shows it."""
    with unit_of_work(clear_users) as session:
        session.execute(update(_users).where(_users.c.id == user_id).values(locked_until=now + LOCKOUT))
        record_audit(session, None, "users", "UPDATE", user_id, {"action": "lockout"})


def lock_name(name_key: str, now: datetime) -> None:
    """Lock a name that matches no account, exactly as lock_user does (the name itself is not audited)."""
    with unit_of_work() as session:
        row_id = session.execute(update(_names).where(_names.c.name_key == name_key)
                                 .values(locked_until=now + LOCKOUT).returning(_names.c.id)).scalar()
        record_audit(session, None, "signin_failures", "UPDATE", row_id, {"action": "lockout"})


def clear_user_failures(user_id: int, now: datetime) -> bool:
    """Forget a user's failures after a right password; False if the user was locked meanwhile."""
    with unit_of_work() as session:
        result = session.execute(update(_users).where(_users.c.id == user_id, _unlocked(_users, now))
                                 .values(failed_logins=0, first_failed_at=None))
        return result.rowcount == 1


def prune_signin_failures(now: datetime) -> int:
    """Delete the counts of unknown names whose window and lockout are over; how many went."""
    global _last_prune
    _last_prune = now
    expired = _names.c.first_failed_at <= now - FAILURE_WINDOW
    with unit_of_work() as session:
        return session.execute(delete(_names).where(expired, _unlocked(_names, now))).rowcount


def prune_now_and_then(now: datetime) -> None:
    """Prune at most every PRUNE_EVERY per process, after any failed sign-in (same cost for every name)."""
    if _last_prune is None or now - _last_prune >= PRUNE_EVERY:
        prune_signin_failures(now)
