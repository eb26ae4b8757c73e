"""Keep grades current as training days come: a day dated tomorrow counts once tomorrow comes.

Grades are maintained columns, so they move when a date passes even though nobody writes anything.
Two ways keep them current, both through `refresh_held_days`:
- `flask --app app refresh-grades`, run daily just after midnight (unit time) by cron or a timer;
- a check before each request: the first request of a new day in each process compares today with
  the marker stored in system_settings (shared by every process) and recomputes if a day became
  held. After that the process remembers the date and the check costs nothing until tomorrow.
"""

from __future__ import annotations

import logging
import threading
from datetime import date

from flask import Flask, current_app, request
from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_training_days
from blueprints.core.clock import unit_today, unit_today_for
from blueprints.core.operations import conflict_insert, lock_grade_rows, unit_of_work
from grading import is_held_sql, recompute_grades
from models import SystemSetting, TrainingDay, db

log = logging.getLogger(__name__)
MARKER_KEY = "grades_as_of"  # the unit date every grade was last brought up to date for
_checked: dict[str, date] = {}  # database URL -> the date this process last confirmed
_checked_lock = threading.Lock()
_DATABASE_KEY = "muster_held_days_database"  # app.extensions: this app's key into _checked


def _lock_marker(session) -> SystemSetting:
    """The marker row, created if missing and locked, so concurrent refreshes run one at a time."""
    marker = conflict_insert(SystemSetting).values(key=MARKER_KEY, value="")
    session.execute(marker.on_conflict_do_nothing(index_elements=["key"]))
    return session.scalar(select(SystemSetting).where(SystemSetting.key == MARKER_KEY).with_for_update())


def _days_crossed(session, since: date, today: date) -> int:
    """Days whose held state changed only because the date moved from `since` to `today`.

    Every write that changes which days are held (a new, moved or deleted day; the first
    attendance of a future day) recomputes grades itself; the calendar is the only silent change.
    """
    low, high = min(since, today), max(since, today)
    return session.scalar(select(func.count(TrainingDay.id)).where(
        TrainingDay.date > low, TrainingDay.date <= high, ~is_held_sql(low))) or 0


def refresh_held_days(today: date | None = None) -> bool:
    """Recompute every grade if a training day became held (or, with the clock set back, unheld)
    since the last refresh. Returns True when it recomputed (the grade caches are then cleared).
    Safe to run any number of times: a second run on the same day reads one row and stops.
    """
    today = today or unit_today()
    with unit_of_work() as session:
        marker = _lock_marker(session)
        since = date.fromisoformat(marker.value) if marker.value else None
        if since == today:
            return False
        crossed = None if since is None else _days_crossed(session, since, today)
        recomputed = crossed != 0
        if recomputed:
            lock_grade_rows(session, None)  # in the one order every writer takes them
            recompute_grades(session, None, recount=False, today=today)
            record_audit(session, None, "grades", "UPDATE", None,
                         {"action": "held-days", "as_of": today, "since": since, "days_crossed": crossed})
        marker.value = today.isoformat()
        if recomputed:
            clear_training_days()  # recorded with this transaction, applied after its commit
    return recomputed


def confirmed_today(app: Flask) -> bool:
    """Has this process already confirmed today's marker (so the check before a request is a no-op)?"""
    return _checked.get(app.extensions[_DATABASE_KEY]) == unit_today_for(app.config)


def ensure_grades_current() -> None:
    """Before each request: at most one marker check per process per day; fails open."""
    if request.endpoint == "static" or confirmed_today(current_app):
        return
    today = unit_today()
    key = current_app.extensions[_DATABASE_KEY]
    with _checked_lock:
        if _checked.get(key) == today:
            return
        try:
            refresh_held_days(today)
        except SQLAlchemyError:
            log.exception("Could not bring grades up to date for %s; will retry on the next request", today)
            return
        _checked[key] = today


def init_app(app: Flask) -> None:
    with app.app_context():
        app.extensions[_DATABASE_KEY] = str(db.engine.url)  # rendered once, not on every request
    app.before_request(ensure_grades_current)
