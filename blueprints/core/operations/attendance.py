"""Attendance: one record, a bulk call, or a whole sheet; attendance_present is then recounted."""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from typing import Any

from sqlalchemy import select, update

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_attendance
from blueprints.core.clock import unit_today
from blueprints.core.database import analyzed_after, insert_many
from blueprints.core.errors import AppError, NotFound, ValidationError
from blueprints.core.operations import apply_changes, conflict_insert, get_or_404, lock_grade_rows, unit_of_work
from blueprints.core.operations.notifications import notify_absent
from blueprints.core.validation import MAX_BULK, MAX_ID, Field, has_control_chars, parse_id, validate
from grading import is_held_sql, recompute_grades
from models import ATTENDANCE_STATUSES, AttendanceRecord, Cadet, TrainingDay, User, db, utcnow

RECORD_FIELDS = [
    Field("status", "choice", choices=ATTENDANCE_STATUSES, nullable=False),
    Field("remarks", max_len=500),
]
BULK_FIELDS = [
    Field("training_day_id", "int", required=True, min=1, max=MAX_ID),
    Field("status", "choice", required=True, choices=ATTENDANCE_STATUSES),
    Field("on_conflict", "choice", choices=("skip", "update")),
]


def _lock_day(session, day_id: int) -> None:
    """Check the day exists and keep it from being deleted until we commit (FOR KEY SHARE).

    Not FOR UPDATE: calls for one day need not queue behind each other. Every writer of a cadet's
    attendance holds that cadet's grades row (lock_grade_rows, taken first), so two calls touching
    the same cadets already run one after the other, and their created/updated counts are exact;
    calls for different cadets run side by side. Changing or deleting a day locks every grades row.
    """
    found = session.scalar(select(TrainingDay.id).where(TrainingDay.id == day_id)
                          .with_for_update(read=True, key_share=True))  # FOR KEY SHARE
    if found is None:
        raise NotFound("No training day with that id.", {"training_day_id": ["does not exist"]})


def mark_attendance(actor: User, day_id: int, statuses: Mapping[int, str], *, on_conflict: str = "update",
                    action: str = "bulk", keep_existing: frozenset[int] = frozenset(),
                    unknown_error: type[AppError] = ValidationError,
                    base_versions: Mapping[int, int] | None = None) -> dict[str, Any]:
    """Upsert one status per cadet for the day in constant statements; all or nothing.

    Returns {"created": n, "updated": n, "skipped": n}. Unknown cadet ids reject the whole call with
    unknown_error: a form error on the sheet page, 404 in the API (as for unknown ids in other bodies).
    `keep_existing`: cadets only recorded if they have no record yet (blanks filled by "mark the rest").
    `base_versions` (cadet id: the record version the caller saw, 0 for none): a cadet whose record has
    another version now, with another status than the one sent, is left as it is and listed under
    "conflicts"; "versions" then gives every sent cadet's record version after the write.
    """
    if not statuses:
        raise ValidationError("No cadets given.", {"cadet_ids": ["must not be empty"]})
    if len(statuses) > MAX_BULK:
        raise ValidationError(f"At most {MAX_BULK} cadets per call.", {"cadet_ids": [f"at most {MAX_BULK}"]})
    ids = sorted(statuses)
    with unit_of_work(clear_attendance, analyzed_after(len(ids), "attendance_records")) as session:
        # The first records of a future day make it count for every cadet, so that call rewrites
        # every grades row: it locks them all first, not after the day row (a call holding some
        # grades rows while it waits for the day row would deadlock with it).
        every_row = _held(session, day_id) is False
        lock_grade_rows(session, None if every_row else ids)
        _lock_day(session, day_id)
        known = set(session.scalars(select(Cadet.id).where(Cadet.id.in_(ids))))
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise unknown_error("Some cadets do not exist; nothing was recorded.",
                                {"cadet_ids": [f"unknown: {', '.join(map(str, unknown[:20]))}"]})
        found = session.execute(
            select(AttendanceRecord.cadet_id, AttendanceRecord.status, AttendanceRecord.version)
            .where(AttendanceRecord.training_day_id == day_id, AttendanceRecord.cadet_id.in_(ids))
        ).all()
        existing = {cadet_id: status for cadet_id, status, _ in found}
        conflicts = [] if base_versions is None else _conflicts(found, statuses, base_versions)
        if conflicts:
            statuses = {c: s for c, s in statuses.items() if c not in {row["cadet_id"] for row in conflicts}}
        newly_held = not _is_held(session, day_id)
        if newly_held and not every_row:  # its last record went since the check above: rare
            lock_grade_rows(session, None)  # out of order; a deadlock here is refused with 503, retryable
        counts = _upsert(session, day_id, statuses, existing, on_conflict, keep_existing)
        notify_absent(session, day_id, [c for c, s in statuses.items() if s == "absent" and (
            c not in existing or (on_conflict == "update" and existing[c] != s and c not in keep_existing))])
        recompute_grades(session, ids)
        if newly_held:  # the first records of a future day make it count for every cadet
            recompute_grades(session, None, recount=False)
        record_audit(session, actor.id, "attendance_records", "UPDATE" if existing else "CREATE", day_id,
                     {"action": action, "training_day_id": day_id, **counts, "statuses": _tally(statuses),
                      "cadet_ids": ids[:500], "on_conflict": on_conflict,
                      **({"conflicts": len(conflicts)} if base_versions is not None else {})})
        if base_versions is not None:
            counts = {**counts, "conflicts": conflicts, "versions": _versions(session, day_id, ids)}
    return counts


def _conflicts(found, statuses: Mapping[int, str], base_versions: Mapping[int, int]) -> list[dict[str, Any]]:
    """Sent marks whose record changed since the caller's copy (and now says something else)."""
    return [{"cadet_id": cadet_id, "status": statuses[cadet_id], "base_version": base_versions.get(cadet_id, 0),
             "server_status": status, "server_version": version}
            for cadet_id, status, version in found
            if version != base_versions.get(cadet_id, 0) and status != statuses[cadet_id]]


def _versions(session, day_id: int, ids: list[int]) -> dict[int, int]:
    return dict(session.execute(select(AttendanceRecord.cadet_id, AttendanceRecord.version).where(
        AttendanceRecord.training_day_id == day_id, AttendanceRecord.cadet_id.in_(ids))).all())


def _tally(statuses: Mapping[int, str]) -> dict[str, int]:
    """How many cadets got each status, for the audit log's one-line description."""
    return dict(sorted(Counter(statuses.values()).items()))


def _is_held(session, day_id: int) -> bool:
    return _held(session, day_id) is True


def _held(session, day_id: int) -> bool | None:
    """Does the day count towards grades yet? None when there is no such day."""
    found = session.scalar(select(is_held_sql(unit_today())).where(TrainingDay.id == day_id))
    return None if found is None else bool(found)


def _upsert(session, day_id: int, statuses: Mapping[int, str], existing: dict[int, str], on_conflict: str,
            keep_existing: frozenset[int] = frozenset()) -> dict:
    now = utcnow()
    new = [{"training_day_id": day_id, "cadet_id": c, "status": s, "created_at": now}
           for c, s in statuses.items() if c not in existing]
    changed = {c: s for c, s in statuses.items() if c in existing and existing[c] != s and c not in keep_existing}
    if new:
        insert = conflict_insert(AttendanceRecord)
        insert_many(session, insert.on_conflict_do_nothing(index_elements=["training_day_id", "cadet_id"]), new)
    updated = 0
    if on_conflict == "update" and changed:
        for status in set(changed.values()):
            ids = [c for c, s in changed.items() if s == status]
            session.execute(update(AttendanceRecord)
                            .where(AttendanceRecord.training_day_id == day_id, AttendanceRecord.cadet_id.in_(ids))
                            .values(status=status, version=AttendanceRecord.version + 1)
                            .execution_options(synchronize_session=False))
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
    if len(cadet_ids) > MAX_BULK:  # as sent, before duplicates collapse: the cap is on the request
        raise ValidationError(f"At most {MAX_BULK} cadets per call.", {"cadet_ids": [f"at most {MAX_BULK}"]})
    statuses = {cid: values["status"] for cid in cadet_ids}
    return mark_attendance(actor, values["training_day_id"], statuses,
                           on_conflict=values.get("on_conflict") or "skip", unknown_error=NotFound)


def save_sheet(actor: User, day_id: int, form: Mapping[str, str], *, fill_blanks: str | None = None) -> dict[str, int]:
    """The attendance sheet page: fields named status-<cadet_id>, saved in one transaction.

    With `fill_blanks` (a status), blank fields record that status only for cadets with no record yet:
    a mark saved earlier, even one saved by someone else after this sheet was drawn, is never overwritten.
    """
    statuses: dict[int, str] = {}
    blanks: set[int] = set()
    errors: dict[str, list[str]] = {}
    for name, value in form.items():
        if not name.startswith("status-"):
            continue
        cadet_id = parse_id(name.removeprefix("status-"))
        if cadet_id is None:
            errors[name[:50]] = ["is not a cadet on this sheet"]
        elif value == "":
            blanks.add(cadet_id)
        elif value not in ATTENDANCE_STATUSES:
            errors[name[:50]] = [f"must be one of: {', '.join(ATTENDANCE_STATUSES)}"]
        else:
            statuses[cadet_id] = value
    if errors:
        raise ValidationError("Some statuses are invalid; nothing was saved.", errors)
    if fill_blanks is None:
        return mark_attendance(actor, day_id, statuses, on_conflict="update", action="sheet")
    if fill_blanks not in ATTENDANCE_STATUSES:
        raise ValidationError("Unknown status to fill.",
                              {"mark_all": [f"must be one of: {', '.join(ATTENDANCE_STATUSES)}"]})
    statuses.update(dict.fromkeys(blanks, fill_blanks))
    return mark_attendance(actor, day_id, statuses, on_conflict="update", action="sheet_fill_blanks",
                           keep_existing=frozenset(blanks))


class OtherUser(AppError):
    status, code = 409, "OTHER_USER"
    message = "These marks were made by another user; they are kept until that user signs in."


def sync_sheet(actor: User, day_id: int, data: Any) -> dict[str, Any]:
    """One batch of marks an offline sheet queued: {"user_id", "marks": [{"cadet_id", "status",
    "base_version"}]}. Applied only for the user who made it; a mark whose record changed since the
    sheet's copy is not applied but returned under "conflicts", for that user to choose."""
    if not isinstance(data, Mapping) or not isinstance(data.get("marks"), list):
        raise ValidationError("Send {\"user_id\": ..., \"marks\": [...]}.", {"marks": ["must be a list"]})
    if data.get("user_id") != actor.id:
        raise OtherUser()
    marks, errors = data["marks"], {}
    if len(marks) > MAX_BULK:
        raise ValidationError(f"At most {MAX_BULK} marks per batch.", {"marks": [f"at most {MAX_BULK}"]})
    statuses: dict[int, str] = {}
    bases: dict[int, int] = {}
    for i, mark in enumerate(marks):
        if not isinstance(mark, Mapping) or not _whole(mark.get("cadet_id"), 1) or mark["cadet_id"] in statuses:
            errors[f"marks[{i}].cadet_id"] = ["must be a cadet id, once per batch"]
        elif mark.get("status") not in ATTENDANCE_STATUSES:
            errors[f"marks[{i}].status"] = [f"must be one of: {', '.join(ATTENDANCE_STATUSES)}"]
        elif not _whole(mark.get("base_version"), 0):
            errors[f"marks[{i}].base_version"] = ["must be a whole number (0: no record seen)"]
        else:
            statuses[mark["cadet_id"]], bases[mark["cadet_id"]] = mark["status"], mark["base_version"]
    if errors:
        raise ValidationError("Some marks are invalid; nothing was saved.", errors)
    return mark_attendance(actor, day_id, statuses, action="offline_sheet", base_versions=bases,
                           unknown_error=NotFound)


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_ID


def update_attendance(actor: User, record_id: int, data: Mapping[str, Any]) -> None:
    """Correct one record's status or remarks."""
    values = validate(data, RECORD_FIELDS, partial=True)
    record = get_or_404(AttendanceRecord, record_id, "attendance record")
    if not values:
        raise ValidationError("Nothing to change.", {"body": ["give status and/or remarks"]})
    with unit_of_work(clear_attendance) as session:
        lock_grade_rows(session, [record.cadet_id])
        # As committed by any writer we waited for: its training day may have been deleted meanwhile.
        record = get_or_404(AttendanceRecord, record_id, "attendance record", fresh=True)
        newly_absent = values.get("status") == "absent" and record.status != "absent"
        apply_changes(session, actor, "attendance_records", record, values)  # every field sent, even unchanged
        record.version += 1  # an offline sheet that saw the old version reports a conflict, not overwrites
        if newly_absent:
            notify_absent(session, record.training_day_id, [record.cadet_id])
        session.flush()
        recompute_grades(session, [record.cadet_id])


def mark_present_by_student_id(actor: User, day_id: int, student_id: str) -> dict[str, Any]:
    """Quick entry (typed or scanned id): mark one active cadet present unless already marked; says who."""
    student_id = (student_id or "").strip()
    cadet = _active_cadet_by_student_id(student_id)
    counts = mark_attendance(actor, day_id, {cadet.id: "present"}, on_conflict="skip", action="quick_entry")
    status = db.session.scalar(select(AttendanceRecord.status).where(
        AttendanceRecord.training_day_id == day_id, AttendanceRecord.cadet_id == cadet.id))
    name = f"{cadet.last_name}, {cadet.first_name}"
    created = bool(counts["created"])
    message = (f"{name} ({student_id}) marked present." if created
               else f"{name} ({student_id}) was already marked {status}; nothing changed.")
    return {"cadet_id": cadet.id, "student_id": student_id, "name": name, "status": status, "created": created,
            "message": message}


def _active_cadet_by_student_id(student_id: str) -> Cadet:
    def refuse(reason: str) -> ValidationError:
        return ValidationError(f"Student ID not marked: {reason}.", {"student_id": [reason]})

    if not student_id:
        raise refuse("type or scan a student ID")
    if len(student_id) > 50:
        raise refuse("at most 50 characters")
    if has_control_chars(student_id):
        raise refuse("letters, digits and dashes only")
    cadet = db.session.scalar(select(Cadet).where(Cadet.student_id == student_id))
    if cadet is None:
        raise refuse(f"no active cadet has student ID {student_id}")
    if cadet.is_archived:
        raise refuse(f"{cadet.last_name}, {cadet.first_name} is archived")
    return cadet
