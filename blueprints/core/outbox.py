"""Cache clears that cannot be lost: recorded in the write's own transaction, applied after its commit.

A cache clear called while a unit of work is open (operations/__init__.py) is not sent at once: its
domains are collected, written to the `cache_clears` outbox in the same transaction as the data, and
right after the commit applied in one Redis call, which also stores the commit's WAL position beside
each bumped generation and as the acting user's read-your-writes position (replicas.py), and notes the
outbox row as applied. Every process's cache maintenance applies each outbox row not noted as applied
(its writer died between commit and Redis, or Redis was away) and deletes the rows: within a second or
two of the commit, as PostgreSQL announces each row when it commits (outbox_watch.py), or by polling
every second where it cannot (SQLite, a listener not proven to hear). So a process killed at any
instant after its commit still has its clear applied by every process.

Without Redis the cache is this process's memory and dies with it: clears are applied after the
commit, with no outbox row.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import redis
from flask import current_app
from sqlalchemy import delete, insert, select, text
from sqlalchemy.orm import Session

from blueprints.core import cache, cache_maintenance, outbox_watch, replicas
from blueprints.core.database import AFTER_COMMIT
from blueprints.core.extensions import redis_handle
from models import CacheClear, db, utcnow

log = logging.getLogger(__name__)

_APPLIED_KEEP_SECONDS = 3600
_MAX_ROWS = 500
UNKNOWN_LSN = 2**62  # "somewhere past any replica": the user reads on the primary until the key expires

# KEYS: n generations, their n commit positions, the applied-rows set, [the user's position]
# ARGV: n, the commit's WAL position ('' unknown), the outbox row id ('' none), now, the user's key expiry
_APPLY = """
local n = tonumber(ARGV[1])
local lsn = tonumber(ARGV[2])
for i = 1, n do
  if lsn then
    local old = tonumber(redis.call('GET', KEYS[n + i]) or '0')
    if lsn > old then redis.call('SET', KEYS[n + i], ARGV[2]) end
  end
  redis.call('INCR', KEYS[i])
end
if ARGV[3] ~= '' then redis.call('ZADD', KEYS[2 * n + 1], ARGV[4], ARGV[3]) end
local user = KEYS[2 * n + 2]
if user and lsn then
  local old = tonumber(redis.call('GET', user) or '0')
  if lsn > old then redis.call('SET', user, ARGV[2], 'EX', ARGV[5]) else redis.call('EXPIRE', user, ARGV[5]) end
end
return 1
"""


@dataclass
class Pending:
    """What a transaction recorded, to apply once it has committed."""

    domains: set[str] = field(default_factory=set)
    row_id: int | None = None
    actions: list[Callable[[], None]] = field(default_factory=list)


def begin(session: Session) -> None:
    """Collect the cache clears (and after-commit actions) of the transaction this session opens."""
    session.info.setdefault(cache.DEFERRED_CLEARS, set())
    session.info.setdefault(AFTER_COMMIT, [])


def record(session: Session) -> Pending:
    """Before commit: write the collected clears to the outbox, in the transaction being committed."""
    pending = Pending(session.info.pop(cache.DEFERRED_CLEARS, set()), None, session.info.pop(AFTER_COMMIT, []))
    if pending.domains and redis_handle.client() is not None:
        pending.row_id = session.execute(insert(CacheClear).values(
            namespace=_prefix(), domains=",".join(sorted(pending.domains)), created_at=utcnow(),
        ).returning(CacheClear.id)).scalar_one()
    return pending


def discard(session: Session) -> None:
    """The transaction rolled back: nothing it collected happened."""
    session.info.pop(cache.DEFERRED_CLEARS, None)
    session.info.pop(AFTER_COMMIT, None)


def apply(pending: Pending) -> None:
    """After commit: bump the generations, store the commit's position for replicas, note the row as
    applied (one Redis call); then the after-commit actions. A failure leaves the row to the pollers."""
    client = cache.generation_client()
    if client is None:
        if pending.domains:
            cache.clear(*pending.domains)
    else:
        user = replicas.sticky_key()
        if pending.domains or user is not None:
            _apply_in_redis(client, pending, user)
    for action in pending.actions:
        action()


def _apply_in_redis(client: redis.Redis, pending: Pending, user: str | None) -> None:
    try:
        lsn = replicas.commit_lsn()
    except Exception:  # the primary went away just after our commit: the pollers stamp the clear
        log.warning("outbox: could not read the commit position; the clear is left to the pollers")
        if user is not None:
            _stick(client, user, UNKNOWN_LSN)
        cache.defer_to_pollers(pending.domains)
        return
    try:
        _run(client, pending.domains, lsn, pending.row_id, user)
    except (redis.RedisError, OSError):
        log.warning("outbox: could not apply the clear of %s, Redis unreachable; the pollers will",
                    sorted(pending.domains))
        cache.defer_to_pollers(pending.domains)


def _run(client: redis.Redis, domains: Iterable[str], lsn: int | None, row_id: int | None, user: str | None) -> None:
    domains = sorted(domains)
    keys = [cache.gen_key(d) for d in domains] + replicas.lsn_keys(domains) + [_applied_key()]
    if user is not None:
        keys.append(user)
    client.eval(_APPLY, len(keys), *keys, len(domains), "" if lsn is None else lsn,
                "" if row_id is None else row_id, int(time.time()), replicas.STICKY_SECONDS)


def _stick(client: redis.Redis, user: str, lsn: int) -> None:
    try:
        client.set(user, lsn, ex=replicas.STICKY_SECONDS)
    except (redis.RedisError, OSError):
        pass  # replicas.py sends a user whose position Redis cannot give to the primary anyway


def apply_recorded() -> int:
    """Apply every outbox row of this namespace not noted as applied, then delete the rows; returns
    how many were applied here. Run by each process's cache maintenance when apply_pending() says."""
    client = cache.generation_client()
    if client is None:
        return 0
    table = CacheClear.__table__
    with db.engine.begin() as conn:
        rows = conn.execute(select(table.c.id, table.c.domains).where(table.c.namespace == _prefix())
                            .order_by(table.c.id).limit(_MAX_ROWS).with_for_update(skip_locked=True)).all()
        if not rows:
            return 0
        ids = [row.id for row in rows]
        missed = [row for row, score in zip(rows, client.zmscore(_applied_key(), ids), strict=True) if score is None]
        if missed:
            # Stamped with the position now: past every missed row's commit, since this reads them.
            lsn = (int(conn.execute(text("SELECT pg_current_wal_lsn() - '0/0'")).scalar())
                   if replicas.configured() is not None else None)
            _run(client, {d for row in missed for d in row.domains.split(",") if d in cache.DOMAINS}, lsn, None, None)
        conn.execute(delete(table).where(table.c.id.in_(ids)))
    client.zrem(_applied_key(), *ids)
    client.zremrangebyscore(_applied_key(), 0, time.time() - _APPLIED_KEEP_SECONDS)
    return len(missed)


def apply_pending() -> None:
    """Each second: poll the outbox if a clear may be pending (outbox_watch.py), else do nothing."""
    client = cache.generation_client()
    if client is None:
        return  # no Redis: no outbox rows are written
    watch = outbox_watch.watch_for(current_app._get_current_object())
    if watch is None:
        apply_recorded()
    elif watch.should_poll(_prefix(), lambda ids: None not in client.zmscore(_applied_key(), ids)):
        apply_recorded()
        watch.polled()


def _prefix() -> str:
    return current_app.config["CACHE_KEY_PREFIX"]


def _applied_key() -> str:
    return f"{_prefix()}:clears:applied"


cache_maintenance.every_second(apply_pending)
