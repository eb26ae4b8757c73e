"""QR self check-in: mark a cadet present (or late after the cut-off) with time-in, once per day;
rotate a day's code; set the late cut-off."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime, time
from typing import Any

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_attendance
from blueprints.core.clock import unit_zone
from blueprints.core.errors import ValidationError
from blueprints.core.operations import conflict_insert, get_or_404, lock_grade_rows, unit_of_work
from blueprints.core.reads.checkin import (
    cadet_to_check_in,
    existing_check_in,
    usable_day,
)
from blueprints.core.validation import Field, validate
from grading import recompute_grades
from models import CADET_ROLE, AttendanceRecord, TrainingDay, User, new_checkin_nonce, utcnow

_STUDENT_ID = Field("student_id", max_len=50)
CHECK_IN_FIELDS = [Field("token", required=True, max_len=200), _STUDENT_ID]  # as documented in the API schema
_CUTOFF = re.compile(r"([01]?\d|2[0-3]):([0-5]\d)")


def _status_at(day: TrainingDay, now: datetime) -> str:
    """Present, or late when the day has a cut-off and the scan comes after it."""
    # The cut-off was typed as the unit's wall-clock time, so the scan is compared in the unit's zone.
    late = day.checkin_cutoff is not None and now.astimezone(unit_zone()).time() > day.checkin_cutoff
    return "late" if late else "present"


def _insert_once(session, day_id: int, cadet_id: int, status: str, now: datetime) -> int | None:
    """Insert the record unless one exists (a concurrent scan's included); its id, or None."""
    stmt = (conflict_insert(AttendanceRecord)
            .values(training_day_id=day_id, cadet_id=cadet_id, status=status, time_in=now, created_at=now)
            .on_conflict_do_nothing(index_elements=["training_day_id", "cadet_id"])
            .returning(AttendanceRecord.id))
    return session.scalar(stmt)


def check_in(actor: User, data: Mapping[str, Any], *, day_id: int | None = None,
             now: datetime | None = None) -> dict[str, Any]:
    """Check a cadet in with a day's code: one attendance record with time-in, however often they scan.

    `data` is {token} for a cadet's own scan, {token, student_id} from staff (a kiosk). `day_id`
    pins the day of the page the code was opened on. Returns the record and whether it already existed.
    """
    values = validate(data, [_STUDENT_ID])  # the token is checked by usable_day, which says why it is refused
    now = now or utcnow()
    with unit_of_work() as session:
        day = usable_day(session, data.get("token"), day_id, now)
        cadet = cadet_to_check_in(session, actor, values.get("student_id"))
        lock_grade_rows(session, [cadet.id])
        status = _status_at(day, now)
        record_id = _insert_once(session, day.id, cadet.id, status, now)
        if record_id is not None:
            recompute_grades(session, [cadet.id])
            record_audit(session, actor.id, "attendance_records", "CREATE", record_id, {
                "action": "check_in", "via": "self" if actor.role == CADET_ROLE else "staff",
                "training_day_id": day.id, "cadet_id": cadet.id, "student_id": cadet.student_id,
                "cadet_name": f"{cadet.last_name}, {cadet.first_name}", "status": status, "time_in": now})
        record = existing_check_in(session, day.id, cadet.id)
        if record_id is not None:
            clear_attendance()  # only after a real write: a repeated scan changes nothing
    return {"training_day_id": day.id, "cadet_id": cadet.id, "student_id": cadet.student_id, **record,
            "already_checked_in": record_id is None}


def rotate_checkin_code(actor: User, day_id: int) -> None:
    """Give the day a new code; every code shown or printed before stops working."""
    # No cached read shows the nonce or the cut-off, so there is no cache to clear.
    with unit_of_work() as session:
        day = get_or_404(TrainingDay, day_id, "training day", for_update=True)
        day.checkin_nonce = new_checkin_nonce()
        record_audit(session, actor.id, "training_days", "UPDATE", day_id, {"action": "rotate_checkin_code"})


def parse_cutoff(value: Any) -> time | None:
    """"HH:MM" (24-hour) or empty for none; anything else is a ValidationError on the field."""
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    match = _CUTOFF.fullmatch(value.strip()) if isinstance(value, str) else None
    if match is None:
        raise ValidationError("The cut-off is not a time.", {"checkin_cutoff": ["must be a time like 07:30, or empty"]})
    return time(int(match[1]), int(match[2]))


def set_checkin_cutoff(actor: User, day_id: int, data: Mapping[str, Any]) -> None:
    """Set (or clear) the time after which scans count as late."""
    cutoff = parse_cutoff(data.get("checkin_cutoff"))
    with unit_of_work() as session:
        day = get_or_404(TrainingDay, day_id, "training day", for_update=True)
        before, day.checkin_cutoff = day.checkin_cutoff, cutoff
        record_audit(session, actor.id, "training_days", "UPDATE", day_id,
                     {"action": "set_checkin_cutoff", "before": before and before.isoformat("minutes"),
                      "after": cutoff and cutoff.isoformat("minutes")})
