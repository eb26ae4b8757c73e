"""The tables of the people who use Muster: users, their settings, API tokens, failed sign-ins for
unknown names, and what reaches them (notifications and the email outbox).

Part of the schema; built on model_base.py and named through models (`from models import User`).
"""

from __future__ import annotations

from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import (
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from model_base import (
    ADMIN_ROLE,
    DEFAULT_PAGE_SIZE,
    OUTBOX_STATUSES,
    PAGE_SIZES,
    ROLES,
    STAFF,
    STAFF_ROLE,
    UTCDateTime,
    _in,
    db,
    utcnow,
)


class User(UserMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (CheckConstraint(_in("role", ROLES), name="role"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(80), unique=True)
    email: Mapped[str] = mapped_column(String(254), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(20), default=STAFF_ROLE)
    is_active: Mapped[bool] = mapped_column(Boolean, default=True)
    cadet_id: Mapped[int | None] = mapped_column(ForeignKey("cadets.id"), unique=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # Part of every session cookie; bumped to end all of the user's sessions (logout, password, role...).
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    settings: Mapped[UserSettings] = relationship(
        back_populates="user", uselist=False, lazy="joined", cascade="all, delete-orphan"
    )

    def get_id(self) -> str:
        """What Flask-Login keeps in the session: the id and the session version it was issued for."""
        return f"{self.id}:{self.session_version}"

    @property
    def is_admin(self) -> bool:
        return self.role == ADMIN_ROLE

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF


class UserSettings(db.Model):
    __tablename__ = "user_settings"
    __table_args__ = (CheckConstraint(_in("page_size", PAGE_SIZES), name="page_size"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), unique=True)
    page_size: Mapped[int] = mapped_column(Integer, default=DEFAULT_PAGE_SIZE)
    dark_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    compact_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    # Notifications are also emailed (when SMTP_URL is set) unless the user turned this off.
    email_notifications: Mapped[bool] = mapped_column(Boolean, default=True, server_default="1")

    user: Mapped[User] = relationship(back_populates="settings")


class SignInFailure(db.Model):
    """Failed sign-ins for a name that matches no account, counted like a user's (see core/operations/lockout.py).

    Keyed by the normalized name; a row is pruned once its window and lockout are over, so the table
    holds at most the names tried in the last window plus lockout.
    """

    __tablename__ = "signin_failures"

    id: Mapped[int] = mapped_column(primary_key=True)
    name_key: Mapped[str] = mapped_column(String(80), unique=True)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    first_failed_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime)


class ApiToken(db.Model):
    """A personal API token; only its SHA-256 is stored, the token itself is shown once."""

    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100), default="")
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class Notification(db.Model):
    """Something that happened to a cadet's record, shown to their account until read."""

    __tablename__ = "notifications"
    __table_args__ = (Index("ix_notifications_user", "user_id", "read_at", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(30))
    message: Mapped[str] = mapped_column(String(300))
    link: Mapped[str | None] = mapped_column(String(200))
    # The write that made it (one per operation): lets one INSERT ... SELECT queue its emails.
    batch: Mapped[str] = mapped_column(String(32), index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class EmailOutbox(db.Model):
    """An email to send for a notification, written in the notification's transaction; a background
    sender claims due rows (FOR UPDATE SKIP LOCKED, with a lease) and retries with backoff."""

    __tablename__ = "email_outbox"
    __table_args__ = (
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
        Index("ix_email_outbox_due", "status", "next_attempt_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(ForeignKey("notifications.id", ondelete="CASCADE"), unique=True)
    to_address: Mapped[str] = mapped_column(String(254))
    status: Mapped[str] = mapped_column(String(10), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    lease_until: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
