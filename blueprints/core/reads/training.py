"""Training days with their attendance counts (writes: operations/training.py; the records: attendance.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, or_, select

from blueprints.core.cache import Read
from blueprints.core.errors import NotFound
from blueprints.core.liststate import Filter, ListSpec, ListState
from blueprints.core.reads import fetch_page
from models import ATTENDANCE_STATUSES, AttendanceRecord, TrainingDay, db


def _counts():
    """Per-day attendance counts as a grouped subquery (one query for the whole page)."""
    return (
        select(
            AttendanceRecord.training_day_id,
            *(func.sum(case((AttendanceRecord.status == s, 1), else_=0)).label(s) for s in ATTENDANCE_STATUSES),
        )
        .group_by(AttendanceRecord.training_day_id)
        .subquery()
    )


def _day_select():
    counts = _counts()
    return select(
        TrainingDay.id, TrainingDay.date, TrainingDay.title, TrainingDay.description, TrainingDay.location,
        TrainingDay.created_at,
        *(func.coalesce(getattr(counts.c, s), 0).label(f"{s}_count") for s in ATTENDANCE_STATUSES),
    ).outerjoin(counts, counts.c.training_day_id == TrainingDay.id)


TRAINING_DAY_SPEC = ListSpec(
    "training_days",
    {"date": (TrainingDay.date,), "title": (TrainingDay.title,), "id": (TrainingDay.id,)},
    "date", TrainingDay.id, default_desc=True,
    filters={
        "date_from": Filter("date", lambda v: TrainingDay.date >= v, label="From"),
        "date_to": Filter("date", lambda v: TrainingDay.date <= v, label="To"),
    },
    search=lambda t: or_(TrainingDay.title.icontains(t, autoescape=True),
                         TrainingDay.location.icontains(t, autoescape=True)),
)

TRAINING_DAYS_LIST = Read("training_days:list", ("training_days", "attendance"))


def list_training_days(state: ListState, *, clamp_page: bool = False) -> dict[str, Any]:
    return TRAINING_DAYS_LIST.get((state.cache_args(), clamp_page),
                                  lambda: fetch_page(_day_select(), state, clamp_page=clamp_page))


def get_training_day(day_id: int) -> dict[str, Any]:
    row = db.session.execute(_day_select().where(TrainingDay.id == day_id)).mappings().first()
    if row is None:
        raise NotFound("No training day with that id.")
    return dict(row)
