"""Writes. Each operation validates, writes, audits, commits once, then clears its caches.

One module per domain, named as its reads in reads/ are. held_days has no read of its own: it
recounts which training days count towards grades, and the grades reads show the result. This
package holds the unit of work every operation runs in and the grade-row lock order.

May import: models, grading, reads/ (to validate against or to return what was written), and
core's shared modules (cache, audit, errors, database, validation, clock, checkin_codes), and the
monitoring store (the statistics reset).
Never a blueprint view module.

Nothing outside this package sends an INSERT, UPDATE or DELETE, bookkeeping aside (the cache's
outbox of missed clears, Idempotency-Key replay records): tests/test_write_boundary.py checks it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any, TypeVar

from flask import g, has_app_context
from sqlalchemy import Table, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.dialects.postgresql import Insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from blueprints.core import outbox
from blueprints.core.audit import record_audit
from blueprints.core.database import is_postgres, use_transaction
from blueprints.core.errors import Conflict, NotFound
from models import Grade, User, db

Row = TypeVar("Row")


@contextmanager
def unit_of_work(*clearers: Callable[[], None], conflict: Conflict | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back whole on any error, clear caches durably.

    The clearers run at the end of the block: their clears are recorded in the transaction (the
    cache_clears outbox, outbox.py) and applied right after the commit; so is any cache clear the
    block itself calls. `conflict` is raised in place of an IntegrityError (a unique key taken by a
    concurrent write). Inside request_transaction() it only flushes: that one commits.
    """
    session = db.session
    outer = in_request_transaction()
    outbox.begin(session)
    try:
        use_transaction(session)
        yield session
        for clear in clearers:
            clear()
        if outer:
            session.flush()  # IntegrityErrors surface here, inside the operation
        else:
            pending = outbox.record(session)
            session.commit()
    except IntegrityError as exc:
        _roll_back(session)
        if conflict is not None:
            raise conflict from exc
        raise
    except BaseException:
        _roll_back(session)
        raise
    if not outer:
        outbox.apply(pending)


def _roll_back(session: Session) -> None:
    session.rollback()
    outbox.discard(session)


def in_request_transaction() -> bool:
    """True while request_transaction() is open: operations' writes are flushed, not yet committed."""
    return has_app_context() and g.get("_request_transaction", False)


@contextmanager
def request_transaction() -> Iterator[Session]:
    """One transaction around a whole API call: the operation, reading its result back, and what
    the caller adds (an idempotency record) commit together, once; then the caches are cleared."""
    g._request_transaction = True
    session = db.session
    outbox.begin(session)
    try:
        yield session
        pending = outbox.record(session)
        session.commit()
    except BaseException:
        _roll_back(session)
        raise
    finally:
        g.pop("_request_transaction", None)
    outbox.apply(pending)


def lock_grade_rows(session: Session, cadet_ids: Iterable[int] | None) -> None:
    """Lock these cadets' grades rows (None: every cadet's) until the transaction ends.

    Call it FIRST in every operation that changes what a grade is counted or computed from (merit
    logs, attendance records, training days, the grades row itself), before touching those rows.
    A second writer of the same cadet then waits here until the first commits, and its recount, a
    later statement with a fresh READ COMMITTED snapshot, sees every row the first committed.

    Lock order, the same everywhere so that writers never deadlock: grades rows in ascending
    cadet_id (one statement), and only then a training day row. No-op on SQLite, which runs one
    writer at a time.
    """
    if not is_postgres(session.get_bind()):
        return
    rows = select(Grade.id).order_by(Grade.cadet_id).with_for_update()
    if cadet_ids is not None:
        ids = sorted(set(cadet_ids))
        if not ids:
            return
        rows = rows.where(Grade.cadet_id.in_(ids))
    # Counted in the database: locking every cadet's row need not ship every id to Python.
    session.execute(select(func.count()).select_from(rows.subquery()))


def conflict_insert(table: Table | type) -> Insert:
    """An INSERT that takes ON CONFLICT DO NOTHING / DO UPDATE, in the dialect of the database in use
    (PostgreSQL's and SQLite's insert() both have it; the core one does not)."""
    return (postgresql if is_postgres() else sqlite).insert(table)


# --- editing one row: find it, see what differs, change it with an audit row of before and after ------------


def get_or_404(model: type[Row], row_id: int, what: str, *, fresh: bool = False, for_update: bool = False) -> Row:
    """The row with this primary key, or NotFound("No <what> with that id.").

    fresh: read it again as committed now, not from the session (after waiting on a lock, a concurrent
    delete may have won); for_update: lock it (SELECT ... FOR UPDATE), which reads it fresh too."""
    row = db.session.get(model, row_id, populate_existing=fresh or for_update, with_for_update=for_update or None)
    if row is None:
        raise NotFound(f"No {what} with that id.")
    return row


def changed_fields(row: object, values: Mapping[str, Any]) -> dict[str, Any]:
    """Those of the values that differ from the row's."""
    return {key: value for key, value in values.items() if getattr(row, key) != value}


def apply_changes(session: Session, actor: User, table: str, row: Any, changes: Mapping[str, Any],
                  **extra: Any) -> None:
    """Set the fields on the row and add its UPDATE audit row: {"before", "after", **extra}."""
    before = {key: getattr(row, key) for key in changes}
    for key, value in changes.items():
        setattr(row, key, value)
    record_audit(session, actor.id, table, "UPDATE", row.id, {"before": before, "after": dict(changes), **extra})
