"""Excuse letters: a cadet submits one for an absence; staff approve (the day becomes excused and the
grade is recomputed, in the decision's transaction) or reject it, once."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_attendance
from blueprints.core.clock import unit_today
from blueprints.core.errors import AppError, Conflict, Forbidden, NotFound, ValidationError
from blueprints.core.letter_files import check_letter_file
from blueprints.core.operations import get_or_404, lock_grade_rows, unit_of_work
from blueprints.core.operations.notifications import notify_cadets
from blueprints.core.validation import MAX_ID, Field, validate
from grading import recompute_grades
from models import AttendanceRecord, ExcuseFile, ExcuseLetter, TrainingDay, User, utcnow

EXCUSE_FIELDS = [
    Field("training_day_id", "int", required=True, min=1, max=MAX_ID),
    Field("reason", required=True, max_len=1000),
    Field("cadet_id", "int", min=1, max=MAX_ID),
]
DECISION_FIELDS = [Field("note", max_len=500)]
EXCUSABLE = ("absent", "late")


def submit_excuse(actor: User, data: Mapping[str, Any], file_name: str | None, content: bytes | None) -> int:
    """A letter for one of the cadet's absences, with its checked file; returns its id.

    A cadet sends their own (cadet_id, if given, must be theirs); staff name the cadet."""
    values = validate(data, EXCUSE_FIELDS)
    cadet_id = _whose(actor, values.get("cadet_id"))
    letter_file = check_letter_file(file_name, content)
    day_id = values["training_day_id"]
    with unit_of_work(clear_attendance) as session:
        lock_grade_rows(session, [cadet_id])  # one letter at a time per cadet: the duplicate check holds
        _check_excusable(session, cadet_id, day_id)
        letter = ExcuseLetter(cadet_id=cadet_id, training_day_id=day_id, reason=values["reason"],
                              file_name=letter_file.file_name, content_type=letter_file.content_type,
                              file_size=len(letter_file.content), submitted_by_user_id=actor.id)
        session.add(letter)
        session.flush()
        letter_id = letter.id
        session.add(ExcuseFile(letter_id=letter_id, content=letter_file.content,
                               view_content=letter_file.view_content))
        record_audit(session, actor.id, "excuse_letters", "CREATE", letter_id,
                     {"cadet_id": cadet_id, "training_day_id": day_id, "reason": values["reason"],
                      "content_type": letter_file.content_type, "file_size": len(letter_file.content)})
    return letter_id


def _whose(actor: User, cadet_id: int | None) -> int:
    if actor.is_staff:
        if cadet_id is None:
            raise ValidationError("Name the cadet the letter is for.", {"cadet_id": ["is required for staff"]})
        return cadet_id
    if actor.cadet_id is None:
        raise Forbidden("Your account is not linked to a cadet record; ask an admin.")
    if cadet_id is not None and cadet_id != actor.cadet_id:
        raise Forbidden("You may send excuse letters only for your own absences.")
    return actor.cadet_id


def _check_excusable(session, cadet_id: int, day_id: int) -> None:
    """The day exists, has come, and the cadet was marked absent or late (or has no record yet),
    with no pending or approved letter for it already."""
    day = session.scalar(select(TrainingDay.date).where(TrainingDay.id == day_id))
    if day is None:
        raise NotFound("No training day with that id.", {"training_day_id": ["does not exist"]})
    if day > unit_today():
        raise ValidationError("That training day has not happened yet.",
                              {"training_day_id": ["is a future day; send a letter after it"]})
    status = session.scalar(select(AttendanceRecord.status).where(
        AttendanceRecord.training_day_id == day_id, AttendanceRecord.cadet_id == cadet_id))
    if status is not None and status not in EXCUSABLE:
        raise ValidationError(f"You were marked {status} that day; there is no absence to excuse.",
                              {"training_day_id": [f"marked {status}, not absent or late"]})
    taken = session.scalar(select(ExcuseLetter.status).where(
        ExcuseLetter.cadet_id == cadet_id, ExcuseLetter.training_day_id == day_id,
        ExcuseLetter.status.in_(("pending", "approved"))).limit(1))
    if taken is not None:
        raise Conflict(f"A letter for that day is already {taken}.", {"training_day_id": [f"already {taken}"]})


def decide_excuse(actor: User, letter_id: int, approve: bool, data: Mapping[str, Any]) -> dict[str, Any]:
    """Approve or reject a pending letter, once; approving makes the day's record excused (created if
    missing) and recomputes the grade, all with the decision, its audit row and the cadet's notification.

    Two deciders at once: both lock the cadet's grades row first, so they run one after the other,
    and the second finds the letter decided (409). The status-guarded UPDATE holds on SQLite too."""
    if not actor.is_staff:
        raise Forbidden()
    note = validate(data, DECISION_FIELDS).get("note")
    if not approve and not note:
        raise ValidationError("Say why the letter is rejected.", {"note": ["is required to reject"]})
    letter = get_or_404(ExcuseLetter, letter_id, "excuse letter")
    cadet_id, day_id = letter.cadet_id, letter.training_day_id
    status = "approved" if approve else "rejected"
    with unit_of_work(clear_attendance) as session:
        lock_grade_rows(session, [cadet_id])
        decided = session.execute(
            update(ExcuseLetter).where(ExcuseLetter.id == letter_id, ExcuseLetter.status == "pending")
            .values(status=status, decided_by_user_id=actor.id, decided_by_name=actor.username,
                    decided_at=utcnow(), decision_note=note).execution_options(synchronize_session=False))
        if decided.rowcount != 1:
            raise _already_decided(session, letter_id)
        # FOR KEY SHARE: the day cannot be deleted under us (lock order: grades rows, then the day).
        day = session.scalar(select(TrainingDay.date).where(TrainingDay.id == day_id)
                             .with_for_update(read=True, key_share=True))
        before = _excuse_day(session, cadet_id, day_id) if approve else None
        record_audit(session, actor.id, "excuse_letters", "UPDATE", letter_id,
                     {"before": {"status": "pending"}, "after": {"status": status, "decision_note": note},
                      "cadet_id": cadet_id, "training_day_id": day_id, "attendance_before": before})
        notify_cadets(session, [cadet_id], "excuse",
                      f"Your excuse letter for {day:%Y-%m-%d} was {status}" + (f": {note}" if note else "."),
                      f"/excuse-letters/{letter_id}")
    return {"id": letter_id, "status": status}


def _excuse_day(session, cadet_id: int, day_id: int) -> str | None:
    """Set the cadet's record for the day to excused (created if missing); returns the status before."""
    record = session.scalar(select(AttendanceRecord).where(
        AttendanceRecord.training_day_id == day_id, AttendanceRecord.cadet_id == cadet_id))
    before = record.status if record is not None else None
    if record is None:
        session.add(AttendanceRecord(training_day_id=day_id, cadet_id=cadet_id, status="excused",
                                     remarks="Excuse letter approved"))
    else:
        record.status = "excused"
    session.flush()
    recompute_grades(session, [cadet_id])
    return before


def _already_decided(session, letter_id: int) -> AppError:
    row = session.execute(select(ExcuseLetter.status, ExcuseLetter.decided_by_name)
                          .where(ExcuseLetter.id == letter_id)).first()
    if row is None:
        return NotFound("No excuse letter with that id.")
    return Conflict(f"This letter was already {row.status} by {row.decided_by_name}.",
                    {"status": [f"already {row.status}"]})
