"""Training days. Adding or removing one changes every cadet's attendance score."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_training_days
from blueprints.core.operations import apply_changes, changed_fields, get_or_404, lock_grade_rows, unit_of_work
from blueprints.core.validation import Field, validate
from grading import recompute_grades
from models import TrainingDay, User

TRAINING_DAY_FIELDS = [
    Field("date", "date", required=True),
    Field("title", required=True, max_len=200),
    Field("description", max_len=5000),
    Field("location", max_len=200),
]


def create_training_day(actor: User, data: Mapping[str, Any]) -> int:
    """Add a training day; every cadet's attendance score is recomputed in the same transaction."""
    values = validate(data, TRAINING_DAY_FIELDS)
    with unit_of_work(clear_training_days) as session:
        lock_grade_rows(session, None)  # every score depends on the number of days
        day = TrainingDay(**values)
        session.add(day)
        session.flush()
        day_id = day.id  # read before commit: after it the instance is expired and would re-query
        recompute_grades(session, None, recount=False)
        record_audit(session, actor.id, "training_days", "CREATE", day_id, values)
    return day_id


def update_training_day(actor: User, day_id: int, data: Mapping[str, Any]) -> None:
    values = validate(data, TRAINING_DAY_FIELDS, partial=True)
    day = get_or_404(TrainingDay, day_id, "training day")
    changed = changed_fields(day, values)
    if not changed:
        return
    with unit_of_work(clear_training_days) as session:
        if "date" in changed:  # every grades row is rewritten below: lock them first, in order
            lock_grade_rows(session, None)
        apply_changes(session, actor, "training_days", day, changed)
        if "date" in changed:  # a day moved into or out of the future changes every denominator
            session.flush()
            recompute_grades(session, None, recount=False)


def delete_training_day(actor: User, day_id: int) -> None:
    """Delete a day with its attendance records; every cadet is recounted."""
    day = get_or_404(TrainingDay, day_id, "training day")
    with unit_of_work(clear_training_days) as session:
        lock_grade_rows(session, None)
        payload = {"date": day.date, "title": day.title}
        session.delete(day)
        session.flush()
        recompute_grades(session, None, recount=True)
        record_audit(session, actor.id, "training_days", "DELETE", day_id, payload)
