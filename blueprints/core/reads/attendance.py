"""Attendance records: the list, one record, and a day's attendance sheet (writes: operations/attendance.py)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from blueprints.core.cache import Read
from blueprints.core.errors import NotFound
from blueprints.core.liststate import Filter, ListSpec, ListState
from blueprints.core.reads import fetch_page
from blueprints.core.reads.cadets import cadet_search
from blueprints.core.reads.selects import select_attendance
from models import ATTENDANCE_STATUSES, AttendanceRecord, Cadet, TrainingDay, db

ATTENDANCE_SPEC = ListSpec(
    "attendance",
    {"name": (Cadet.last_name, Cadet.first_name), "status": (AttendanceRecord.status,),
     "date": (TrainingDay.date,), "student_id": (Cadet.student_id,), "id": (AttendanceRecord.id,)},
    "name", AttendanceRecord.id,
    filters={
        "training_day_id": Filter("int", lambda v: AttendanceRecord.training_day_id == v, label="Training day"),
        "cadet_id": Filter("int", lambda v: AttendanceRecord.cadet_id == v, label="Cadet"),
        "status": Filter("choice", lambda v: AttendanceRecord.status == v, ATTENDANCE_STATUSES, label="Status"),
        "company": Filter("text", lambda v: Cadet.company == v, label="Company"),
        "platoon": Filter("text", lambda v: Cadet.platoon == v, label="Platoon"),
    },
    search=cadet_search,  # the cadets table's rule: every word in the name or student id
)


ATTENDANCE_LIST = Read("attendance:list", ("attendance", "cadets"))


def list_attendance(state: ListState, *, clamp_page: bool = False) -> dict[str, Any]:
    return ATTENDANCE_LIST.get((state.cache_args(), clamp_page),
                               lambda: fetch_page(select_attendance(), state, clamp_page=clamp_page))


def attendance_sheet(day_id: int, company: str | None = None, platoon: str | None = None,
                     search: str | None = None) -> list[dict[str, Any]]:
    """Every active cadet (optionally of one company/platoon, matching a search) with their status for the day."""
    stmt = (
        select(Cadet.id, Cadet.student_id, Cadet.last_name, Cadet.first_name, Cadet.company, Cadet.platoon,
               AttendanceRecord.status, AttendanceRecord.time_in, AttendanceRecord.id.label("record_id"),
               AttendanceRecord.version.label("record_version"))
        .outerjoin(AttendanceRecord, (AttendanceRecord.cadet_id == Cadet.id)
                   & (AttendanceRecord.training_day_id == day_id))
        .where(Cadet.is_archived.is_(False))
        .order_by(Cadet.company, Cadet.platoon, Cadet.last_name, Cadet.first_name, Cadet.id)
    )
    if company:
        stmt = stmt.where(Cadet.company == company)
    if platoon:
        stmt = stmt.where(Cadet.platoon == platoon)
    if search and search.strip():  # the cadets table's rule and index: "Castro, Liza", "liza castro", an id
        stmt = stmt.where(cadet_search(search))
    return [dict(r) for r in db.session.execute(stmt).mappings()]


def get_attendance(record_id: int) -> dict[str, Any]:
    """One attendance record, with its day and cadet."""
    row = db.session.execute(select_attendance().where(AttendanceRecord.id == record_id)).mappings().first()
    if row is None:
        raise NotFound("No attendance record with that id.")
    return dict(row)
