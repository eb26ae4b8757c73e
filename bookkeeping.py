"""The tables of the app's own bookkeeping: system settings, the cache-clear outbox, the maintained
cadet totals (kept by triggers.py) and the idempotency keys of replayable requests.

Part of the schema; built on model_base.py and named through models (`from models import CacheClear`).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from model_base import UTCDateTime, db, utcnow


class IdempotencyKey(db.Model):
    """The first answer to an API POST sent with an Idempotency-Key, saved in that write's transaction.

    A retry with the same key (per user) gets this answer back and writes nothing; kept 24 hours.
    """

    __tablename__ = "idempotency_keys"
    __table_args__ = (
        UniqueConstraint("user_id", "key", name="uq_idempotency_keys_user_key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(255))
    request: Mapped[str] = mapped_column(String(300))  # "POST /api/merit-demerits"
    body_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    response_headers: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SystemSetting(db.Model):
    __tablename__ = "system_settings"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(50), unique=True)
    value: Mapped[str] = mapped_column(String(200))


class CacheClear(db.Model):
    """A cache clear recorded in its write's transaction (blueprints/core/outbox.py). Any process applies
    one its writer did not (died after commit, Redis away), so no process serves the stale value for
    long, even if the writer has exited."""

    __tablename__ = "cache_clears"

    id: Mapped[int] = mapped_column(primary_key=True)
    namespace: Mapped[str] = mapped_column(String(100))  # the cache key prefix it applies to
    domains: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class CadetTotal(db.Model):
    """How many cadets share one (archived, company, platoon, status): the lists' common totals, kept
    exact by database triggers on cadets in the same transaction as every write (triggers.CADET_TOTALS_PG).

    A list filtered by any of these four (or none) sums a few rows of cadet_totals and
    cadet_total_deltas instead of counting cadets. An empty or NULL company/platoon is stored as '':
    no list filters on either, so the unfiltered sums still count those cadets, and the key stays a
    primary key (NULLs are distinct).
    """

    __tablename__ = "cadet_totals"

    is_archived: Mapped[bool] = mapped_column(Boolean, primary_key=True)
    company: Mapped[str] = mapped_column(String(50), primary_key=True)
    platoon: Mapped[str] = mapped_column(String(50), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), primary_key=True)
    n: Mapped[int] = mapped_column(Integer, default=0)


class CadetTotalDelta(db.Model):
    """Changes to CadetTotal not yet folded into it (PostgreSQL): each cadet-writing statement's
    trigger appends its net change per key here, and fold_cadet_totals() moves them over after commit.

    Appending never waits on another writer: a trigger that updated the shared totals rows in place
    made concurrent writers queue on them, and deadlock when one transaction's statements (an
    import's executemany) touched keys in a different order than another's. The sum of both tables
    is exact in every snapshot; the fold only changes how it is split.
    """

    __tablename__ = "cadet_total_deltas"

    id: Mapped[int] = mapped_column(primary_key=True)
    is_archived: Mapped[bool] = mapped_column(Boolean)
    company: Mapped[str] = mapped_column(String(50))
    platoon: Mapped[str] = mapped_column(String(50))
    status: Mapped[str] = mapped_column(String(20))
    n: Mapped[int] = mapped_column(Integer)


SETTING_DEFAULTS = {"school_year": "2026-2027", "semester": "1st", "unit_name": "ROTC Unit"}
SEMESTERS = ("1st", "2nd", "Summer")
