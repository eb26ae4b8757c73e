"""The schema: the unit's records (cadets, grades, merits, training days, attendance, excuse letters,
the audit log), and the one module every table and column vocabulary is imported from.

The rest of the schema is in rooms of its own, all named through this module (`from models import
User, db`): model_base.py (db, the column types and vocabulary), accounts.py (users, tokens,
notifications) and bookkeeping.py (settings, the cache-clear outbox, maintained totals, idempotency
keys). The triggers that keep derived rows exact are in triggers.py; the selects the read layer
starts from in blueprints/core/reads/selects.py.

Grade components are maintained columns recomputed in SQL (see grading.py), so
lists can sort and filter by final grade with an index instead of computing it per row.
"""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    Time,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

import triggers
from accounts import ApiToken, EmailOutbox, Notification, SignInFailure, User, UserSettings  # noqa: F401
from bookkeeping import (  # noqa: F401
    SEMESTERS,
    SETTING_DEFAULTS,
    CacheClear,
    CadetTotal,
    CadetTotalDelta,
    IdempotencyKey,
    SystemSetting,
)
from model_base import (  # noqa: F401 (named through models: `from models import db, ROLES`)
    ADMIN,
    ADMIN_ROLE,
    ANYONE,
    ATTENDANCE_STATUSES,
    AUDIT_OPERATIONS,
    CADET,
    CADET_ROLE,
    CADET_STATUSES,
    DEFAULT_PAGE_SIZE,
    EXCUSE_STATUSES,
    GRADE_STATUSES,
    MERIT_TYPES,
    OUTBOX_STATUSES,
    PAGE_SIZES,
    READ_ROUTER,
    REMARKS,
    ROLES,
    STAFF,
    STAFF_ROLE,
    UTCDateTime,
    _in,
    db,
    new_checkin_nonce,
    utcnow,
)

# The lowercased text cadet search matches words against; the same expression as its index.
CADET_SEARCH_SQL = ("lower(last_name || ' ' || first_name || ' ' || coalesce(middle_name, '') || ' ' "
                    "|| coalesce(suffix, '') || ' ' || student_id)")


def include_in_autogenerate(obj, name, type_, reflected, compare_to) -> bool:
    """Alembic's include_object: skip the indexes whose definition only a migration states."""
    return not (type_ == "index" and name in UNCOMPARED_INDEXES)


class Cadet(db.Model):
    __tablename__ = "cadets"
    __table_args__ = (
        CheckConstraint(_in("status", CADET_STATUSES), name="status"),
        Index("ix_cadets_company_platoon", "company", "platoon", "id"),
        # is_archived rides along so the default list's deep pages are an index-only scan (PostgreSQL).
        Index("ix_cadets_name", "last_name", "first_name", "id", postgresql_include=["is_archived"]),
        Index("ix_cadets_is_archived", "is_archived"),
        # One index per allowed list sort, the primary key as tie-breaker, so deep pages walk an
        # index instead of sorting the table (student_id is unique: its own index already serves).
        Index("ix_cadets_platoon", "platoon", "id"),
        Index("ix_cadets_course", "course", "id"),
        Index("ix_cadets_year_level", "year_level", "id"),
        Index("ix_cadets_status", "status", "id"),
        Index("ix_cadets_created_at", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    student_id: Mapped[str] = mapped_column(String(50), unique=True)
    first_name: Mapped[str] = mapped_column(String(100))
    last_name: Mapped[str] = mapped_column(String(100))
    middle_name: Mapped[str | None] = mapped_column(String(100))
    suffix: Mapped[str | None] = mapped_column(String(20))
    company: Mapped[str | None] = mapped_column(String(50))
    platoon: Mapped[str | None] = mapped_column(String(50))
    course: Mapped[str | None] = mapped_column(String(100))
    year_level: Mapped[int | None] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(20), default="Ongoing")
    email: Mapped[str | None] = mapped_column(String(254))
    contact_number: Mapped[str | None] = mapped_column(String(30))
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    grade: Mapped[Grade] = relationship(back_populates="cadet", uselist=False)


# The lists' archived filter, as SQLAlchemy renders `is_archived.is_(...)` on each database: a
# partial index serves a query only when its predicate is implied by the query's WHERE.
ACTIVE_WHERE = {"postgresql_where": "is_archived IS false", "sqlite_where": "is_archived IS 0"}
ARCHIVED_WHERE = {"postgresql_where": "is_archived IS true", "sqlite_where": "is_archived IS 1"}


def _archived_pair(name: str, *columns: str) -> tuple[Index, Index]:
    """One index per archived state: together no bigger than one full index, and each list (active or
    archived) walks only its own rows, in order, without reading the table."""
    return (Index(f"{name}_active", *columns, **{k: text(v) for k, v in ACTIVE_WHERE.items()}),
            Index(f"{name}_archived", *columns, **{k: text(v) for k, v in ARCHIVED_WHERE.items()}))


class Grade(db.Model):
    """One row per cadet, created with it. Inputs are recounted, components recomputed in SQL."""

    __tablename__ = "grades"
    __table_args__ = (
        CheckConstraint(_in("status", GRADE_STATUSES), name="status"),
        CheckConstraint("prelim_score IS NULL OR prelim_score BETWEEN 0 AND 100", name="prelim"),
        CheckConstraint("midterm_score IS NULL OR midterm_score BETWEEN 0 AND 100", name="midterm"),
        CheckConstraint("final_score IS NULL OR final_score BETWEEN 0 AND 100", name="final"),
        CheckConstraint("merit_points >= 0 AND demerit_points >= 0", name="points"),
        # cadet_id equals the cadets' id the lists break ties on. The component columns (attendance,
        # aptitude, subject scores, points) get no index: adding a training day rewrites every grades
        # row, and each extra index doubled that cost; those sorts are rare and run as a top-N sort.
        *_archived_pair("ix_grades_final_grade", "final_grade", "cadet_id"),
        *_archived_pair("ix_grades_transmuted_grade", "transmuted_grade", "cadet_id"),
        *_archived_pair("ix_grades_remarks", "remarks", "cadet_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cadet_id: Mapped[int] = mapped_column(ForeignKey("cadets.id", ondelete="CASCADE"), unique=True)
    attendance_present: Mapped[int] = mapped_column(Integer, default=0)
    merit_points: Mapped[int] = mapped_column(Integer, default=0)
    demerit_points: Mapped[int] = mapped_column(Integer, default=0)
    lifetime_merit_points: Mapped[int] = mapped_column(Integer, default=0)
    prelim_score: Mapped[float | None] = mapped_column(Float)
    midterm_score: Mapped[float | None] = mapped_column(Float)
    final_score: Mapped[float | None] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(10), default="active")
    version: Mapped[int] = mapped_column(Integer, default=1)
    # Maintained by grading.recompute_grades(); never written from input.
    attendance_score: Mapped[float] = mapped_column(Float, default=0.0)
    aptitude_score: Mapped[float] = mapped_column(Float, default=30.0)
    subject_score: Mapped[float] = mapped_column(Float, default=0.0)
    final_grade: Mapped[float] = mapped_column(Float, default=30.0)
    transmuted_grade: Mapped[float | None] = mapped_column(Float, default=5.0)
    remarks: Mapped[str] = mapped_column(String(12), default="Failed")
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
    # A copy of cadets.is_archived, kept equal by triggers (triggers.GRADES_ARCHIVED_PG), so the archived
    # filter and a grade sort meet in one partial index: a numbered page of grades is an index-only
    # scan of grades, with no join to cadets and no sort.
    is_archived: Mapped[bool] = mapped_column(Boolean, default=False, server_default="0")

    cadet: Mapped[Cadet] = relationship(back_populates="grade")


class MeritDemeritLog(db.Model):
    __tablename__ = "merit_demerit_logs"
    __table_args__ = (
        CheckConstraint(_in("type", MERIT_TYPES), name="type"),
        CheckConstraint("points > 0", name="points"),
        Index("ix_merit_demerit_logs_cadet_date", "cadet_id", "date_recorded"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cadet_id: Mapped[int] = mapped_column(ForeignKey("cadets.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(10))
    points: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(500))
    issued_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    issued_by_name: Mapped[str] = mapped_column(String(80))
    date_recorded: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TrainingDay(db.Model):
    __tablename__ = "training_days"
    __table_args__ = (Index("ix_training_days_date", "date", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    date: Mapped[date] = mapped_column(Date)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str | None] = mapped_column(Text)
    location: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # QR self check-in: the nonce is signed into the day's code; rotating it voids every printed code.
    checkin_nonce: Mapped[str] = mapped_column(String(32), default=new_checkin_nonce)
    # Scans after this time (UTC, on the day's date) count as late; None: every scan is present.
    checkin_cutoff: Mapped[time | None] = mapped_column(Time)


class AttendanceRecord(db.Model):
    __tablename__ = "attendance_records"
    __table_args__ = (
        CheckConstraint(_in("status", ATTENDANCE_STATUSES), name="status"),
        UniqueConstraint("training_day_id", "cadet_id", name="uq_attendance_day_cadet"),
        Index("ix_attendance_records_day_status", "training_day_id", "status"),
        Index("ix_attendance_records_cadet", "cadet_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    training_day_id: Mapped[int] = mapped_column(ForeignKey("training_days.id", ondelete="CASCADE"))
    cadet_id: Mapped[int] = mapped_column(ForeignKey("cadets.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(10))
    time_in: Mapped[datetime | None] = mapped_column(UTCDateTime)
    time_out: Mapped[datetime | None] = mapped_column(UTCDateTime)
    remarks: Mapped[str | None] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    # Bumped by every change: an offline sheet sends the version it saw, so a mark changed since is a conflict.
    version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")


class AuditLog(db.Model):
    __tablename__ = "audit_logs"
    __table_args__ = (
        CheckConstraint(_in("operation", AUDIT_OPERATIONS), name="operation"),
        Index("ix_audit_logs_table_operation", "table_name", "operation"),
        Index("ix_audit_logs_created_at", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    table_name: Mapped[str] = mapped_column(String(50))
    operation: Mapped[str] = mapped_column(String(10))
    record_id: Mapped[int | None] = mapped_column(Integer)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"), index=True)
    payload: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


# Search: every word must occur in CADET_SEARCH_SQL (reads/cadets.py, cadet_search). A pg_trgm GIN
# index on that expression lets PostgreSQL answer `LIKE '%word%'` without reading every row; SQLite
# scans. Migration 0007 creates it; these events do the same for create_all (the tests).
event.listen(db.metadata, "before_create", DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(
    dialect="postgresql"))
event.listen(Cadet.__table__, "after_create", DDL(
    f"CREATE INDEX IF NOT EXISTS ix_cadets_search_trgm ON cadets USING gin ({CADET_SEARCH_SQL} gin_trgm_ops)"
).execute_if(dialect="postgresql"))
# Indexes only DDL describes, so Alembic's compare must not propose dropping them.
UNCOMPARED_INDEXES = frozenset({"ix_cadets_search_trgm"})


class ExcuseLetter(db.Model):
    """A cadet's excuse for one training day, with a photo or scan of the signed letter (ExcuseFile).

    Approving it makes that day's attendance record "excused" in the same transaction."""

    __tablename__ = "excuse_letters"
    __table_args__ = (
        CheckConstraint(_in("status", EXCUSE_STATUSES), name="status"),
        # The review queue: pending first, then by day; the id breaks ties.
        Index("ix_excuse_letters_queue", "status", "training_day_id", "id"),
        Index("ix_excuse_letters_cadet_day", "cadet_id", "training_day_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    cadet_id: Mapped[int] = mapped_column(ForeignKey("cadets.id", ondelete="CASCADE"))
    training_day_id: Mapped[int] = mapped_column(ForeignKey("training_days.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(1000))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    file_name: Mapped[str] = mapped_column(String(120))
    content_type: Mapped[str] = mapped_column(String(50))
    file_size: Mapped[int] = mapped_column(Integer)
    submitted_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    decided_by_user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    decided_by_name: Mapped[str | None] = mapped_column(String(80))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decision_note: Mapped[str | None] = mapped_column(String(500))


class ExcuseFile(db.Model):
    """The letter's bytes as uploaded and, for photos, a smaller JPEG to view: in the database, so
    every host serves them; kept apart from excuse_letters so lists never read the blobs."""

    __tablename__ = "excuse_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    letter_id: Mapped[int] = mapped_column(ForeignKey("excuse_letters.id", ondelete="CASCADE"), unique=True)
    content: Mapped[bytes] = mapped_column(LargeBinary)
    view_content: Mapped[bytes | None] = mapped_column(LargeBinary)


# cadet_totals follows cadets (its triggers read and write both tables): create it after them.
CadetTotal.__table__.add_is_dependent_on(Cadet.__table__)
CadetTotal.__table__.add_is_dependent_on(CadetTotalDelta.__table__)

# Database triggers keep derived rows and columns exact in every writer's transaction (triggers.py).
triggers.attach(cadet_totals=CadetTotal.__table__, grades=Grade.__table__, cache_clears=CacheClear.__table__)
