"""When the cache-clear outbox needs a poll: only while a clear is pending somewhere, as PostgreSQL tells.

Each insert into cache_clears sends NOTIFY muster_cache_clears '<namespace>:<id>' from a trigger
(triggers.py). PostgreSQL delivers it when the write commits, whatever becomes of the writer after, so a
writer killed right after its commit has still told every listening process. Each process listens on a
connection of its own and, on each tick of the cache maintenance, reads what arrived without waiting.
The writer notes its row as applied in Redis within milliseconds of its commit; a row heard of and still
not noted a moment later (GRACE_SECONDS) means its writer died or missed Redis, and only then does the
process poll (outbox.apply_recorded): within a second of the commit, as when every tick polled. A sweep
once a minute, if any row was heard of since the last, deletes the applied rows (garbage, no
staleness) and applies any a poll skipped (SKIP LOCKED) whose locker then failed.

The listener is trusted only once it has heard its own probe: a NOTIFY sent through the app's pool (the
path writes take) at start and every minute. Until then, and while it is not connected, the process
polls every second as before, so no stale window depends on the listener working. LISTEN through
PgBouncer's transaction pooling hears nothing: the probe finds that out (logged once), and
DATABASE_LISTEN_URL can name PostgreSQL itself. SQLite has no notifications: it polls every second.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from collections.abc import Callable

import psycopg
import redis
from flask import Flask
from sqlalchemy import func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from models import db

log = logging.getLogger(__name__)

CHANNEL = "muster_cache_clears"  # triggers.CACHE_CLEARS_NOTIFY_PG sends on it
GRACE_SECONDS = 0.1  # a live writer notes its row in Redis within milliseconds of its commit
SWEEP_SECONDS = 60.0  # applied rows are only garbage: deleting them can wait
PROBE_SECONDS = 60.0  # how often the listener proves it still hears (a half-open TCP connection hears nothing)
PROBE_WAIT_SECONDS = 3.0  # a probe not heard by then: the listener is deaf, poll every second
RETRY_SECONDS = 5.0  # between connection attempts while PostgreSQL is away
# After a probe went unheard, listen again only this much later: polling keeps clears on time meanwhile,
# and each LISTEN through PgBouncer leaves a server connection that forwards notifications to other clients.
DEAF_RETRY_SECONDS = 600.0
_CONNECT_TIMEOUT = 3  # seconds: the attempt runs on the maintenance thread, which also flushes stats
_WATCH = "muster_outbox_watch"  # app.extensions key
_inherited: list[Watch] = []  # a forked child's copies of its parent's watches: never closed (the parent's socket)


class Watch:
    """One process's listener for one app, and when it last polled."""

    def __init__(self, app: Flask) -> None:
        self.pid = os.getpid()
        self._app = app
        self._conn: psycopg.Connection | None = None
        self.hearing = False  # our last probe came back: notifications reach us
        self._probe: str | None = None  # the payload of the probe in flight
        self._probe_sent = self._next_probe = self._retry_at = 0.0
        self._warned = False
        self._poll_owed = True  # before trusting what we hear, a poll for what committed before we listened
        self._next_sweep = time.monotonic() + SWEEP_SECONDS
        self._heard_since_sweep = False  # no row heard of since the last sweep: it would find none

    def should_poll(self, namespace: str, applied: Callable[[list[int]], bool]) -> bool:
        """Whether this tick must poll the outbox; `applied(ids)` says whether Redis notes them all as
        applied. Call polled() once the poll has succeeded (until then every tick polls)."""
        now = time.monotonic()
        heard = self._listen(now, namespace)
        self._heard_since_sweep = self._heard_since_sweep or bool(heard)
        if now >= self._next_sweep:
            self._next_sweep = now + SWEEP_SECONDS
            if self._heard_since_sweep:  # if this poll fails, the owed poll retries
                self._poll_owed, self._heard_since_sweep = True, False
        if heard is None:
            self._poll_owed = True
        if self._poll_owed or not heard:  # a poll sees every row committed before this tick's read
            return self._poll_owed
        try:
            if applied(heard):
                return False
            time.sleep(GRACE_SECONDS)  # heard just now, perhaps: its writer may be milliseconds from noting it
            self._poll_owed = not applied(heard)
        except (redis.RedisError, OSError):
            self._poll_owed = True  # cannot tell: poll, as before (it retries until Redis answers)
        return self._poll_owed

    def polled(self) -> None:
        """The poll succeeded: every row committed before it is applied."""
        self._poll_owed = False

    def backend_pid(self) -> int | None:
        """The PostgreSQL backend that listens for this process (pg_stat_activity's pid), if connected."""
        conn = self._conn
        return None if conn is None else conn.info.backend_pid

    def close(self) -> None:
        if self._conn is not None and self.pid == os.getpid():
            self._conn.close()
        self._conn, self.hearing, self._probe = None, False, None

    def _listen(self, now: float, namespace: str) -> list[int] | None:
        """The ids of our namespace heard since the last tick; None while the listener is not trusted."""
        if self._conn is None and (now < self._retry_at or not self._connect(now)):
            return None
        try:
            heard = self._drain(namespace)
        except psycopg.Error as exc:  # the server closed it (restart, failover, idle kill): reconnect
            log.warning("outbox: lost the LISTEN connection (%s); polling every second until it is back",
                        str(exc)[:200])
            self.close()
            self._retry_at = now
            return None
        self._run_probe(now)
        return heard if self.hearing else None

    def _connect(self, now: float) -> bool:
        url = self._app.config.get("DATABASE_LISTEN_URL") or self._app.config["SQLALCHEMY_DATABASE_URI"]
        try:
            # keepalives: a peer that vanished without closing is noticed (the probe notices it too).
            conn = psycopg.connect(make_url(url).set(drivername="postgresql").render_as_string(hide_password=False),
                                   autocommit=True, connect_timeout=_CONNECT_TIMEOUT, application_name="muster-listen",
                                   keepalives=1, keepalives_idle=30, keepalives_interval=10, keepalives_count=3)
            conn.execute(f"LISTEN {CHANNEL}")
        except psycopg.Error as exc:
            log.warning("outbox: cannot LISTEN (%s); polling every second", str(exc)[:200])
            self._retry_at = now + RETRY_SECONDS
            return False
        self._conn, self.hearing, self._probe, self._next_probe = conn, False, None, now
        return True

    def _drain(self, namespace: str) -> list[int]:
        heard = []
        for note in self._conn.notifies(timeout=0):
            if note.payload == self._probe:
                self.hearing, self._probe = True, None
                continue
            space, _, row_id = note.payload.rpartition(":")
            if space == namespace and row_id.isdigit():
                heard.append(int(row_id))
        return heard

    def _run_probe(self, now: float) -> None:
        if self._probe is not None and now - self._probe_sent > PROBE_WAIT_SECONDS:
            if not self._warned:
                log.warning("outbox: LISTEN hears nothing (behind PgBouncer's transaction pooling? set "
                            "DATABASE_LISTEN_URL to PostgreSQL itself); polling the outbox every second")
                self._warned = True
            self.close()  # a half-open connection hears nothing either: a fresh one, later
            self._retry_at = now + DEAF_RETRY_SECONDS
            return
        if self._probe is None and now >= self._next_probe:
            probe = f"probe:{uuid.uuid4().hex}"
            try:  # through the pool, as the writes' commits: proves they reach this listener
                with db.engine.begin() as conn:
                    conn.execute(select(func.pg_notify(CHANNEL, probe)))
            except SQLAlchemyError as exc:
                log.warning("outbox: could not send the LISTEN probe (%s)", str(exc)[:200])
                self._next_probe = now + RETRY_SECONDS
                return
            self._probe, self._probe_sent, self._next_probe = probe, now, now + PROBE_SECONDS


def watch_for(app: Flask) -> Watch | None:
    """This process's watch of the app's outbox; None on SQLite (no notifications) or with OUTBOX_LISTEN
    off: then the outbox is polled every second."""
    watch = app.extensions.get(_WATCH)
    if watch is not None and watch.pid == os.getpid():
        return watch
    if watch is not None:
        _inherited.append(watch)  # closing it here would end the parent's connection too
    if db.engine.dialect.name != "postgresql" or not app.config.get("OUTBOX_LISTEN", True):
        return None
    app.extensions[_WATCH] = watch = Watch(app)
    return watch
