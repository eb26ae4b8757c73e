"""The selects each domain's reads start from, unexecuted: the read layer adds filters, order and
paging and runs them (reads/<domain>.py). Plain columns, never ORM entities: rows become plain data.

They lived at the end of models.py (house rule 5: models build unexecuted selects); they are the read
layer's starting points, so they sit beside their only callers, and models.py holds the schema alone.
"""

from __future__ import annotations

from sqlalchemy import Select, select

from models import AttendanceRecord, AuditLog, Cadet, ExcuseLetter, Grade, MeritDemeritLog, TrainingDay, User

CADET_LIST_COLUMNS = (
    Cadet.id,
    Cadet.student_id,
    Cadet.first_name,
    Cadet.last_name,
    Cadet.middle_name,
    Cadet.suffix,
    Cadet.company,
    Cadet.platoon,
    Cadet.course,
    Cadet.year_level,
    Cadet.status,
    Cadet.email,
    Cadet.contact_number,
    Cadet.is_archived,
    Cadet.created_at,
    Cadet.updated_at,
)

GRADE_COLUMNS = (
    Grade.attendance_present,
    Grade.merit_points,
    Grade.demerit_points,
    Grade.lifetime_merit_points,
    Grade.prelim_score,
    Grade.midterm_score,
    Grade.final_score,
    Grade.status.label("grade_status"),
    Grade.version,
    Grade.attendance_score,
    Grade.aptitude_score,
    Grade.subject_score,
    Grade.final_grade,
    Grade.transmuted_grade,
    Grade.remarks,
    Grade.updated_at.label("grade_updated_at"),
)


def select_cadets_with_grades() -> Select:
    """Cadet rows joined to their one grades row, as plain columns (one query, no N+1)."""
    return select(*CADET_LIST_COLUMNS, *GRADE_COLUMNS).join(Grade, Grade.cadet_id == Cadet.id)


def select_merit_logs() -> Select:
    return select(
        MeritDemeritLog.id,
        MeritDemeritLog.cadet_id,
        MeritDemeritLog.type,
        MeritDemeritLog.points,
        MeritDemeritLog.reason,
        MeritDemeritLog.issued_by_user_id,
        MeritDemeritLog.issued_by_name,
        MeritDemeritLog.date_recorded,
        Cadet.student_id,
        Cadet.first_name,
        Cadet.last_name,
    ).join(Cadet, Cadet.id == MeritDemeritLog.cadet_id)


def select_attendance() -> Select:
    record = AttendanceRecord
    return _with_day_and_cadet(record, record.id, record.training_day_id, record.cadet_id, record.status,
                               record.time_in, record.time_out, record.remarks, record.created_at)


def _with_day_and_cadet(table, *columns) -> Select:
    """A row of `table` (an attendance record, an excuse letter) with what it shows of its training day
    and cadet, joined by its training_day_id and cadet_id."""
    return select(*columns, TrainingDay.date.label("training_date"), TrainingDay.title.label("training_title"),
                  Cadet.student_id, Cadet.first_name, Cadet.last_name, Cadet.company, Cadet.platoon
                  ).join(TrainingDay, TrainingDay.id == table.training_day_id).join(Cadet, Cadet.id == table.cadet_id)


def select_audit_logs() -> Select:
    return select(
        AuditLog.id,
        AuditLog.table_name,
        AuditLog.operation,
        AuditLog.record_id,
        AuditLog.user_id,
        AuditLog.payload,
        AuditLog.created_at,
        User.username,
    ).outerjoin(User, User.id == AuditLog.user_id)


def select_excuse_letters() -> Select:
    letter = ExcuseLetter
    return _with_day_and_cadet(letter, letter.id, letter.cadet_id, letter.training_day_id, letter.reason,
                               letter.status, letter.file_name, letter.content_type, letter.file_size,
                               letter.created_at, letter.decided_by_name, letter.decided_at, letter.decision_note)
