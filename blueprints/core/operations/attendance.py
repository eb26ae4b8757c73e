"""Attendance: one record, a bulk call, or a whole sheet; attendance_present is then recounted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_attendance
from blueprints.core.clock import unit_today
from blueprints.core.database import is_postgres
from blueprints.core.errors import NotFound, ValidationError
from blueprints.core.operations import unit_of_work
from blueprints.core.validation import MAX_ID, Field, validate
from grading import is_held_sql, recompute_grades
from models import ATTENDANCE_STATUSES, AttendanceRecord, Cadet, TrainingDay, User, db, utcnow

MAX_BULK = 5000
RECORD_FIELDS = [
    Field("status", "choice", choices=ATTENDANCE_STATUSES, nullable=False),
    Field("remarks", max_len=500),
]
BULK_FIELDS = [
    Field("training_day_id", "int", required=True, min=1, max=MAX_ID),
    Field("status", "choice", required=True, choices=ATTENDANCE_STATUSES),
    Field("on_conflict", "choice", choices=("skip", "update")),
]


def _insert():
    return (postgresql if is_postgres() else sqlite).insert(AttendanceRecord)


def _lock_day(session, day_id: int) -> None:
    """Serialise sheet submissions for one day so the created/updated counts are exact."""
    found = session.scalar(select(TrainingDay.id).where(TrainingDay.id == day_id).with_for_update())
    if found is None:
        raise NotFound("No training day with that id.", {"training_day_id": ["does not exist"]})


def mark_attendance(actor: User, day_id: int, statuses: Mapping[int, str], *, on_conflict: str = "update",
                    action: str = "bulk") -> dict[str, int]:
    """Upsert one status per cadet for the day in constant statements; all or nothing.

    Returns {"created": n, "updated": n, "skipped": n}. Unknown cadet ids reject the whole call.
    """
    if not statuses:
        raise ValidationError("No cadets given.", {"cadet_ids": ["must not be empty"]})
    if len(statuses) > MAX_BULK:
        raise ValidationError(f"At most {MAX_BULK} cadets per call.", {"cadet_ids": [f"at most {MAX_BULK}"]})
    ids = sorted(statuses)
    with unit_of_work(clear_attendance) as session:
        _lock_day(session, day_id)
        known = set(session.scalars(select(Cadet.id).where(Cadet.id.in_(ids))))
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ValidationError("Some cadets do not exist; nothing was recorded.",
                                  {"cadet_ids": [f"unknown: {', '.join(map(str, unknown[:20]))}"]})
        existing = dict(session.execute(
            select(AttendanceRecord.cadet_id, AttendanceRecord.status)
            .where(AttendanceRecord.training_day_id == day_id, AttendanceRecord.cadet_id.in_(ids))
        ).all())
        newly_held = not _is_held(session, day_id)
        counts = _upsert(session, day_id, statuses, existing, on_conflict)
        recompute_grades(session, ids)
        if newly_held:  # the first records of a future day make it count for every cadet
            recompute_grades(session, None, recount=False)
        record_audit(session, actor.id, "attendance_records", "UPDATE" if existing else "CREATE", day_id,
                     {"action": action, "training_day_id": day_id, **counts, "statuses": _tally(statuses),
                      "cadet_ids": ids[:500], "on_conflict": on_conflict})
    return counts


def _tally(statuses: Mapping[int, str]) -> dict[str, int]:
    """How many cadets got each status, for the audit log's one-line description."""
    return dict(sorted(Counter(statuses.values()).items()))


def _is_held(session, day_id: int) -> bool:
    return session.scalar(select(is_held_sql(unit_today())).where(TrainingDay.id == day_id)) in (True, 1)


def _upsert(session, day_id: int, statuses: Mapping[int, str], existing: dict[int, str], on_conflict: str) -> dict:
    now = utcnow()
    new = [{"training_day_id": day_id, "cadet_id": c, "status": s, "created_at": now}
           for c, s in statuses.items() if c not in existing]
    changed = {c: s for c, s in statuses.items() if c in existing and existing[c] != s}
    if new:
        session.execute(_insert().on_conflict_do_nothing(index_elements=["training_day_id", "cadet_id"]), new)
    updated = 0
    if on_conflict == "update" and changed:
        for status in set(changed.values()):
            ids = [c for c, s in changed.items() if s == status]
            session.execute(update(AttendanceRecord)
                            .where(AttendanceRecord.training_day_id == day_id, AttendanceRecord.cadet_id.in_(ids))
                            .values(status=status).execution_options(synchronize_session=False))
            updated += len(ids)
    return {"created": len(new), "updated": updated, "skipped": len(statuses) - len(new) - updated}


def bulk_attendance(actor: User, data: Mapping[str, Any]) -> dict[str, int]:
    """The API's bulk call: one status for many cadets."""
    values = validate(data, BULK_FIELDS)
    cadet_ids = data.get("cadet_ids")
    if (not isinstance(cadet_ids, list) or not cadet_ids
            or not all(isinstance(i, int) and not isinstance(i, bool) and 0 < i <= MAX_ID for i in cadet_ids)):
        raise ValidationError("cadet_ids must be a non-empty list of ids.",
                              {"cadet_ids": ["must be a non-empty list of positive whole numbers"]})
    statuses = {cid: values["status"] for cid in cadet_ids}
    return mark_attendance(actor, values["training_day_id"], statuses,
                           on_conflict=values.get("on_conflict") or "skip")


def save_sheet(actor: User, day_id: int, form: Mapping[str, str]) -> dict[str, int]:
    """The attendance sheet page: fields named status-<cadet_id>, saved in one transaction."""
    statuses: dict[int, str] = {}
    errors: dict[str, list[str]] = {}
    for name, value in form.items():
        if not name.startswith("status-") or value == "":
            continue
        raw_id = name.removeprefix("status-")
        if not raw_id.isdigit() or value not in ATTENDANCE_STATUSES:
            errors[name] = [f"must be one of: {', '.join(ATTENDANCE_STATUSES)}"]
            continue
        statuses[int(raw_id)] = value
    if errors:
        raise ValidationError("Some statuses are invalid; nothing was saved.", errors)
    return mark_attendance(actor, day_id, statuses, on_conflict="update", action="sheet")


def update_attendance(actor: User, record_id: int, data: Mapping[str, Any]) -> None:
    """Correct one record's status or remarks."""
    values = validate(data, RECORD_FIELDS, partial=True)
    record = db.session.get(AttendanceRecord, record_id)
    if record is None:
        raise NotFound("No attendance record with that id.")
    if not values:
        raise ValidationError("Nothing to change.", {"body": ["give status and/or remarks"]})
    with unit_of_work(clear_attendance) as session:
        before = {k: getattr(record, k) for k in values}
        for key, value in values.items():
            setattr(record, key, value)
        session.flush()
        recompute_grades(session, [record.cadet_id])
        record_audit(session, actor.id, "attendance_records", "UPDATE", record_id, {"before": before, "after": values})
