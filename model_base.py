"""The base every table is built on: db (Flask-SQLAlchemy, with the session that may route a read to a
replica), the constraint naming convention, the UTC datetime column type, and the vocabulary the
columns take (roles, statuses, page sizes). models.py, accounts.py and bookkeeping.py build on it;
everything else names these through models (`from models import db, ROLES`).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime

from flask import current_app, has_app_context
from flask_sqlalchemy import SQLAlchemy
from flask_sqlalchemy.session import Session as FlaskSession
from sqlalchemy import DateTime, MetaData, TypeDecorator
from sqlalchemy.orm import DeclarativeBase

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
