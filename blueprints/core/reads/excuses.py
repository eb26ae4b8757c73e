"""Excuse letters: the review queue, one letter, and its file (only for its cadet and staff)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, select

from blueprints.core.errors import NotFound
from blueprints.core.liststate import Filter, ListSpec, ListState
from blueprints.core.reads import fetch_page
from blueprints.core.reads.cadets import cadet_search
from blueprints.core.reads.selects import select_excuse_letters
from models import EXCUSE_STATUSES, AttendanceRecord, Cadet, ExcuseFile, ExcuseLetter, TrainingDay, User, db

_PENDING_FIRST = case((ExcuseLetter.status == "pending", 0), else_=1)

EXCUSE_SPEC = ListSpec(
    "excuses",
    {"queue": (_PENDING_FIRST, TrainingDay.date), "date": (TrainingDay.date,),
     "submitted": (ExcuseLetter.created_at,), "name": (Cadet.last_name, Cadet.first_name),
     "status": (ExcuseLetter.status,), "id": (ExcuseLetter.id,)},
    "queue", ExcuseLetter.id,
    filters={
        "status": Filter("choice", lambda v: ExcuseLetter.status == v, EXCUSE_STATUSES, label="Status"),
        "company": Filter("text", lambda v: Cadet.company == v, label="Company"),
        "platoon": Filter("text", lambda v: Cadet.platoon == v, label="Platoon"),
        "date": Filter("date", lambda v: TrainingDay.date == v, label="Day"),
        "training_day_id": Filter("int", lambda v: ExcuseLetter.training_day_id == v, label="Training day"),
        "cadet_id": Filter("int", lambda v: ExcuseLetter.cadet_id == v, label="Cadet"),
    },
    search=cadet_search,  # the cadets table's rule: every word in the name or student id
)


def list_excuses(state: ListState, *, clamp_page: bool = False) -> dict[str, Any]:
    """The review queue (staff see every letter; pass a cadet_id filter for one cadet's own)."""
    return fetch_page(select_excuse_letters(), state, clamp_page=clamp_page)


def get_excuse(letter_id: int) -> dict[str, Any]:
    """One letter with its cadet and day, and the cadet's current record for that day."""
    stmt = select_excuse_letters().add_columns(
        AttendanceRecord.status.label("attendance_status"), AttendanceRecord.remarks.label("attendance_remarks"),
    ).outerjoin(AttendanceRecord, (AttendanceRecord.training_day_id == ExcuseLetter.training_day_id)
                & (AttendanceRecord.cadet_id == ExcuseLetter.cadet_id)).where(ExcuseLetter.id == letter_id)
    row = db.session.execute(stmt).mappings().first()
    if row is None:
        raise NotFound("No excuse letter with that id.")
    return dict(row)


def check_can_see(user: User, letter: dict[str, Any]) -> None:
    """Staff see every letter; a cadet only their own (anyone else: 404, so ids reveal nothing)."""
    if not user.is_staff and (user.cadet_id is None or user.cadet_id != letter["cadet_id"]):
        raise NotFound("No excuse letter with that id.")


def get_excuse_file(user: User, letter_id: int, *, original: bool) -> tuple[bytes, str, str]:
    """(bytes, content type, download name) of a letter the user may see: the view JPEG of a photo,
    or the file as uploaded (always, for a PDF, which has no view copy)."""
    blob = ExcuseFile.content if original else ExcuseFile.view_content
    row = db.session.execute(
        select(ExcuseLetter.cadet_id, ExcuseLetter.content_type, ExcuseLetter.file_name, blob)
        .join(ExcuseFile, ExcuseFile.letter_id == ExcuseLetter.id).where(ExcuseLetter.id == letter_id)
    ).first()
    if row is None:
        raise NotFound("No excuse letter with that id.")
    check_can_see(user, {"cadet_id": row.cadet_id})
    content = row[3]
    if original:
        return content, row.content_type, row.file_name
    if content is None:
        return get_excuse_file(user, letter_id, original=True)
    return content, "image/jpeg", row.file_name.rsplit(".", 1)[0] + "-view.jpg"


def excusable_days(cadet_id: int, today) -> list[dict[str, Any]]:
    """The cadet's days a letter may be sent for: marked absent or late, or past with no record;
    days with a pending or approved letter left out."""
    record = AttendanceRecord
    taken = select(ExcuseLetter.training_day_id).where(ExcuseLetter.cadet_id == cadet_id,
                                                       ExcuseLetter.status.in_(("pending", "approved")))
    rows = db.session.execute(
        select(TrainingDay.id, TrainingDay.date, TrainingDay.title, record.status)
        .outerjoin(record, (record.training_day_id == TrainingDay.id) & (record.cadet_id == cadet_id))
        .where(TrainingDay.date <= today, TrainingDay.id.not_in(taken),
               (record.status.is_(None)) | record.status.in_(("absent", "late")))
        .order_by(TrainingDay.date.desc(), TrainingDay.id.desc()).limit(100)
    ).mappings().all()
    return [dict(r) for r in rows]
