"""Writes. Each operation validates, writes, audits, commits once, then clears its caches."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from blueprints.core.database import use_transaction
from blueprints.core.errors import Conflict
from models import db


@contextmanager
def unit_of_work(*clearers: Callable[[], None], conflict: Conflict | None = None) -> Iterator[Session]:
    """One transaction: commit on success, roll back whole on any error, clear caches after commit.

    `conflict` is raised in place of an IntegrityError (a unique key taken by a concurrent write).
    """
    session = db.session
    try:
        use_transaction(session)
        yield session
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        if conflict is not None:
            raise conflict from exc
        raise
    except BaseException:
        session.rollback()
        raise
    for clear in clearers:
        clear()
