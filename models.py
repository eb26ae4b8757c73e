"""The schema: the unit's records (cadets, grades, merits, training days, attendance, excuse letters,
the audit log), the base every table is built on, and the vocabulary their columns take.

Two rooms hold the rest, each imported at the end of this module and named through it
(`from models import User`): accounts.py (users, tokens, notifications) and bookkeeping.py (settings,
the cache-clear outbox, maintained totals, idempotency keys). The triggers that keep derived rows
exact are in triggers.py; the selects the read layer starts from in blueprints/core/reads/selects.py.

Grade components are maintained columns recomputed in SQL (see grading.py), so
lists can sort and filter by final grade with an index instead of computing it per row.
"""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, time

from flask import current_app, has_app_context
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import (
    DDL,
    JSON,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    Time,
    TypeDecorator,
    UniqueConstraint,
    event,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

import triggers

ADMIN_ROLE, STAFF_ROLE, CADET_ROLE = "admin", "training_staff", "cadet"
ROLES = (ADMIN_ROLE, STAFF_ROLE, CADET_ROLE)
# Who may use a route (page_route, api_route), see a navigation link or is named in the API description.
ADMIN = (ADMIN_ROLE,)
STAFF = (ADMIN_ROLE, STAFF_ROLE)
CADET = (CADET_ROLE,)
ANYONE = ROLES
CADET_STATUSES = ("Ongoing", "Completed", "Incomplete", "Failed", "Drop")
GRADE_STATUSES = ("active", "INC", "DO", "T")
MERIT_TYPES = ("merit", "demerit")
ATTENDANCE_STATUSES = ("present", "absent", "late", "excused")
AUDIT_OPERATIONS = ("CREATE", "UPDATE", "DELETE")
PAGE_SIZES = (10, 25, 50, 100)  # a table page offers these; the largest is also the API's largest limit
DEFAULT_PAGE_SIZE = 50
REMARKS = ("Passed", "Failed", "Incomplete", "Dropped", "Deferred")
EXCUSE_STATUSES = ("pending", "approved", "rejected")
OUTBOX_STATUSES = ("pending", "sent", "failed")

# Stable constraint names so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator):
    """Timezone-aware UTC datetimes on every backend (SQLite stores them naive)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value.astimezone(UTC) if value is not None else None

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            value = value.replace(tzinfo=UTC)
        return value


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_checkin_nonce() -> str:
    return secrets.token_urlsafe(12)


def _in(column: str, values: tuple[str | int, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


# The lowercased text cadet search matches words against; the same expression as its index.
CADET_SEARCH_SQL = ("lower(last_name || ' ' || first_name || ' ' || coalesce(middle_name, '') || ' ' "
                    "|| coalesce(suffix, '') || ' ' || student_id)")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


READ_ROUTER = "muster_read_router"  # app.extensions key: blueprints/core/replicas.py, with replicas configured


class RoutedSession(FlaskSession):
    """db.session: a statement may run on a read replica when the app has a read router, which then
    answers with the replica's engine (None: the primary). Flushes and explicit connections (no
    statement) always go to the primary."""

    def get_bind(self, mapper=None, clause=None, bind=None, **kwargs):
        if bind is None and clause is not None and has_app_context():
            router = current_app.extensions.get(READ_ROUTER)
            engine = router(self, clause) if router is not None else None
            if engine is not None:
                return engine
        return super().get_bind(mapper=mapper, clause=clause, bind=bind, **kwargs)


db = SQLAlchemy(model_class=Base, session_options={"class_": RoutedSession})


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
event.listen(Base.metadata, "before_create", DDL("CREATE EXTENSION IF NOT EXISTS pg_trgm").execute_if(
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


# The rest of the schema, in rooms of its own, each built on this module's base; named here too, so that
# `from models import X` names every table. Nothing else imports those modules (tests/test_import_rules.py).
from accounts import ApiToken, EmailOutbox, Notification, SignInFailure, User, UserSettings  # noqa: E402, F401
from bookkeeping import (  # noqa: E402, F401
    SEMESTERS,
    SETTING_DEFAULTS,
    CacheClear,
    CadetTotal,
    CadetTotalDelta,
    IdempotencyKey,
    SystemSetting,
)

# Database triggers keep derived rows and columns exact in every writer's transaction (triggers.py).
triggers.attach(cadet_totals=CadetTotal.__table__, grades=Grade.__table__, cache_clears=CacheClear.__table__)
