"""Read replicas: GET and HEAD requests read from a caught-up streaming replica, the primary does the rest.

Configured by DATABASE_REPLICA_URLS; without it nothing here runs and every statement goes to the
primary as before. model_base.RoutedSession asks `Replicas.route` which engine runs each statement:
- a plain SELECT in a GET/HEAD request runs on the replica chosen for that request (once per request);
- writes, SELECT ... FOR UPDATE, every read after the request began a write (database.use_transaction),
  the sign-in lookups and the cache fills a replica is too far behind for (`fill`) run on the primary.

Read-your-writes (GitLab's "sticking"): after each commit the primary's WAL position is stored in
Redis for the acting user for STICKY_SECONDS; that user's requests take a replica only once its
`pg_last_wal_replay_lsn()` has passed it, on every worker and host; else the primary serves.
Other users get a replica at most REPLICA_MAX_LAG_SECONDS behind. A background thread per process
checks every database once a REPLICA_CHECK_SECONDS with short connect and statement timeouts, so the
request path never waits on a sick replica; a replica that fails during a request is marked down and
the request runs again on the primary (errors.py): a replica fault is never a 5xx.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import psycopg
import redis
from flask import Flask, current_app, g, has_request_context, request, session
from sqlalchemy import Select, create_engine, text
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.exc import DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session

from blueprints.core.database import engine_options, on_primary, watch_engine
from blueprints.core.extensions import redis_handle
from models import READ_ROUTER, db

log = logging.getLogger(__name__)
T = TypeVar("T")

STICKY_SECONDS = 30  # GitLab's figure: far longer than any lag a usable replica may have
_STATE = "muster_replicas"  # app.extensions key: the Replicas of this app
_READ_METHODS = ("GET", "HEAD")
_UNDECIDED = object()
_HEALTH_STATEMENT_MS = 200


@dataclass
class Database:
    """One database as this process last saw it."""

    name: str
    role: str  # "primary" or "replica"
    url: str  # libpq form, for the health connection
    engine: Engine
    up: bool = False
    lsn: int = 0  # primary: its current WAL position; replica: replayed up to
    lag: float | None = None  # seconds of primary commits not yet replayed; None: unknown
    error: str = ""
    checked_at: float = 0.0
    health: psycopg.Connection | None = field(default=None, repr=False)

    def usable(self, max_lag: float) -> bool:
        return self.up and self.lag is not None and self.lag <= max_lag


class Replicas:
    def __init__(self, app: Flask) -> None:
        config = app.config
        self.app = app
        self.max_lag = float(config["REPLICA_MAX_LAG_SECONDS"])
        self.every = float(config["REPLICA_CHECK_SECONDS"])
        self.connect_timeout = int(config["REPLICA_CONNECT_TIMEOUT"])
        self.primary = Database("primary", "primary", _libpq(config["SQLALCHEMY_DATABASE_URI"]), db.engine, up=True)
        self.replicas = []
        for n, uri in enumerate(config["DATABASE_REPLICA_URLS"], start=1):
            engine = create_engine(uri, **engine_options(config, uri, self.connect_timeout))
            watch_engine(engine)
            self.replicas.append(Database(f"replica {n}", "replica", _libpq(uri), engine))
        self.reads: dict[str, int] = {}  # statements each database served in this process, not yet in Redis
        self.lock = threading.Lock()
        self.thread_pid: int | None = None

    @property
    def databases(self) -> list[Database]:
        return [self.primary, *self.replicas]

    # --- routing ---------------------------------------------------------------------------------

    def route(self, session_: Session, clause: Any) -> Engine | None:
        """The engine for this statement: a replica's, or None for the primary."""
        if not isinstance(clause, Select):
            return None
        if self.thread_pid != os.getpid():
            self.start()
        replica = None
        if (has_request_context() and request.method in _READ_METHODS and not g.get("_db_primary")
                and clause._for_update_arg is None):
            replica = self.for_request(session_)
        self._count(replica or self.primary)
        return replica.engine if replica else None

    def for_request(self, session_: Session) -> Database | None:
        chosen = g.get("_db_replica", _UNDECIDED)
        if chosen is _UNDECIDED:
            chosen = g._db_replica = self._choose(session_, _sticky_lsn())
        return chosen

    def _choose(self, session_: Session, need: int | None) -> Database | None:
        """A usable replica that has replayed `need` (the user's last commit), connected; else None."""
        usable = [r for r in self.replicas if r.usable(self.max_lag)]
        if not usable or need == -1:
            return None
        start = random.randrange(len(usable))
        for replica in usable[start:] + usable[:start]:
            try:
                if need and replica.lsn < need and self.refresh(session_, replica) < need:
                    continue
                session_.connection(bind_arguments={"bind": replica.engine})
            except DBAPIError as exc:
                self.down(replica, exc)
                continue
            return replica
        return None

    def refresh(self, session_: Session, replica: Database) -> int:
        """The replica's replay position, asked now on the request's own connection to it."""
        conn = session_.connection(bind_arguments={"bind": replica.engine})
        lsn = int(conn.execute(text("SELECT pg_last_wal_replay_lsn() - '0/0'")).scalar() or 0)
        replica.lsn = max(replica.lsn, lsn)
        return replica.lsn

    def down(self, replica: Database, exc: BaseException | str) -> None:
        replica.up, replica.error = False, _reason(exc)
        log.warning("replicas: %s is unusable until its next check: %s", replica.name, replica.error)

    def _count(self, database: Database) -> None:
        with self.lock:
            self.reads[database.name] = self.reads.get(database.name, 0) + 1

    # --- health ------------------------------------------------------------------------------------

    def start(self) -> None:
        """The health thread of this process (a forked worker starts its own)."""
        with self.lock:
            if self.thread_pid == os.getpid():
                return
            self.thread_pid = os.getpid()
            for database in self.databases:
                database.health = None  # a forked child must not share its parent's socket

        def run() -> None:
            while True:
                try:
                    with self.app.app_context():
                        self.check()
                except Exception as exc:  # never let bookkeeping kill the thread
                    log.warning("replicas: health check failed: %s", str(exc)[:200])
                time.sleep(self.every)

        threading.Thread(target=run, name="muster-replica-health", daemon=True).start()

    def check(self) -> None:
        """Ask every database where it is (the primary first), then add the read counts to Redis."""
        self._ask(self.primary, "SELECT false, pg_current_wal_lsn() - '0/0', 0::float")
        for replica in self.replicas:
            self._ask(replica, "SELECT pg_is_in_recovery(), pg_last_wal_replay_lsn() - '0/0', "
                               "EXTRACT(EPOCH FROM now() - pg_last_xact_replay_timestamp())::float")
        self._flush_reads()

    def _ask(self, database: Database, sql: str) -> None:
        try:
            if database.health is None or database.health.closed:
                database.health = psycopg.connect(
                    database.url, connect_timeout=self.connect_timeout, autocommit=True, prepare_threshold=None,
                    application_name="muster-health", options=f"-c statement_timeout={_HEALTH_STATEMENT_MS}")
            recovering, lsn, since_replay = database.health.execute(sql).fetchone()
        except psycopg.Error as exc:
            if database.health is not None:
                database.health.close()
            database.health = None
            database.up, database.lag, database.error = False, None, _reason(exc)
            return
        database.checked_at = time.time()
        if database.role == "primary":
            database.up, database.lsn, database.lag, database.error = True, int(lsn), 0.0, ""
            return
        if not recovering:
            database.up, database.lag, database.error = False, None, "not a standby (promoted?)"
            return
        database.lsn = int(lsn or 0)
        # Behind the primary's position of a moment ago: as old as the last commit it replayed.
        caught_up = database.lsn >= self.primary.lsn
        database.lag = 0.0 if caught_up else (max(since_replay, 0.0) if since_replay is not None else None)
        database.up, database.error = True, "" if database.lag is not None else "behind, replayed nothing yet"

    def _flush_reads(self) -> None:
        client = redis_handle.client()
        with self.lock:
            if client is None or not self.reads:
                return
            pending, self.reads = self.reads, {}
        try:
            pipe = client.pipeline(transaction=False)
            for name, n in pending.items():
                pipe.hincrby(_reads_key(), name, n)
            pipe.execute()
        except redis.RedisError:
            with self.lock:
                for name, n in pending.items():
                    self.reads[name] = self.reads.get(name, 0) + n


def _libpq(uri: str) -> str:
    return make_url(uri).set(drivername="postgresql").render_as_string(hide_password=False)


def _reason(exc: BaseException | str) -> str:
    text_ = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text_[0] if text_ else type(exc).__name__)[:200]


def _reads_key() -> str:
    return f"{current_app.config['CACHE_KEY_PREFIX']}:stats:reads"


def _sticky_key(identity: str) -> str:
    return f"{current_app.config['CACHE_KEY_PREFIX']}:sticky:{identity}"


def _lsn_key(domain: str) -> str:
    return f"{current_app.config['CACHE_KEY_PREFIX']}:gen-lsn:{domain}"


def init_app(app: Flask) -> None:
    """Route reads to DATABASE_REPLICA_URLS (PostgreSQL only); with none configured, nothing changes."""
    if not app.config.get("DATABASE_REPLICA_URLS"):
        return
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            raise RuntimeError("DATABASE_REPLICA_URLS needs a PostgreSQL DATABASE_URL")
        replicas = Replicas(app)
    app.extensions[_STATE] = replicas
    app.extensions[READ_ROUTER] = replicas.route


def configured() -> Replicas | None:
    return current_app.extensions.get(_STATE)


# --- who is asking, and what they last wrote ------------------------------------------------------------


def identity() -> str | None:
    """The user behind this request, known before any database read: the API token's user (set by
    auth.bearer_user) or the signed-in page user's id from the session cookie."""
    if not has_request_context():
        return None
    user = g.get("api_user")
    if user is not None:
        return str(user.id)
    user_id, _, _ = str(session.get("_user_id") or "").partition(":")
    if user_id:
        return user_id
    login_user = g.get("_login_user")
    return str(login_user.id) if getattr(login_user, "id", None) else None


def _sticky_lsn() -> int | None:
    """The WAL position this request's user last committed at (None: no recent write); -1 when Redis
    cannot say, which sends the request to the primary."""
    who, client = identity(), redis_handle.client()
    if who is None or client is None:
        return None
    try:
        raw = client.get(_sticky_key(who))
    except (redis.RedisError, OSError):
        return -1
    return int(raw) if raw else None


def commit_lsn() -> int | None:
    """The primary's WAL position just after a commit (None without replicas): a replica that has
    replayed it shows that commit."""
    if configured() is None:
        return None
    with db.engine.connect() as conn:
        conn.connection.driver_connection.autocommit = True
        return int(conn.execute(text("SELECT pg_current_wal_lsn() - '0/0'")).scalar())


def sticky_key() -> str | None:
    """The Redis key under which this request's user's last commit position is kept."""
    who = identity()
    return _sticky_key(who) if who is not None and configured() is not None else None


def lsn_keys(domains: Iterable[str]) -> list[str]:
    return [_lsn_key(d) for d in domains]


def fill(domains: Iterable[str], build: Callable[[], T]) -> T:
    """Build a cache entry for the current generation of these domains. From this request's replica
    only if it has replayed the commit of the latest clear of each (its position is stored beside the
    generation, outbox.py); else from the primary. An entry never holds data older than its generation."""
    replicas = configured()
    if replicas is None or not has_request_context() or request.method not in _READ_METHODS \
            or g.get("_db_primary"):
        return build()
    replica = replicas.for_request(db.session)
    if replica is None:
        return build()
    try:
        need = max(int(raw or 0) for raw in redis_handle.client().mget(lsn_keys(domains)))
        behind = need > replica.lsn and replicas.refresh(db.session, replica) < need
    except (redis.RedisError, OSError, AttributeError, SQLAlchemyError):
        behind = True  # cannot tell: the primary is always current
    if not behind:
        return build()
    with on_primary():
        return build()


def retry_on_primary() -> Any | None:
    """After a database error in a GET/HEAD request that read from a replica: mark that replica down
    and run the view again on the primary, once. None when this was not a replica's fault."""
    replicas, replica = configured(), g.get("_db_replica")
    if replicas is None or replica in (None, _UNDECIDED) or g.get("_db_retried"):
        return None
    replicas.down(replica, "failed during a request")
    g._db_retried, g._db_replica = True, None
    db.session.rollback()
    view = current_app.view_functions[request.url_rule.endpoint]
    with on_primary():
        try:
            return current_app.make_response(current_app.ensure_sync(view)(**(request.view_args or {})))
        except Exception as exc:  # an AppError from the view, or the primary failing too: the usual answer
            return current_app.handle_user_exception(exc)


# --- what the dashboard and /api/health show -----------------------------------------------------------


def status() -> list[dict[str, Any]]:
    """Each database: role, up, lag, replay position, pool, and the share of reads it served."""
    replicas = configured()
    if replicas is None:
        return []
    if replicas.thread_pid != os.getpid() or not any(r.checked_at for r in replicas.replicas):
        replicas.check()  # this process has not looked yet
    reads = _reads(replicas)
    total = sum(reads.values())
    return [{"name": d.name, "role": d.role, "up": d.up, "lag_s": None if d.lag is None else round(d.lag, 3),
             "usable": d.role == "primary" or d.usable(replicas.max_lag), "lsn": d.lsn, "error": d.error,
             "checked_s_ago": round(time.time() - d.checked_at, 1) if d.checked_at else None,
             "pool": _pool(d.engine), "reads": reads.get(d.name, 0),
             "read_share": round(reads.get(d.name, 0) / total, 4) if total else None}
            for d in replicas.databases]


def _reads(replicas: Replicas) -> dict[str, int]:
    with replicas.lock:
        counts = dict(replicas.reads)
    client = redis_handle.client()
    if client is not None:
        try:
            for name, n in client.hgetall(_reads_key()).items():
                counts[name.decode()] = counts.get(name.decode(), 0) + int(n)
        except (redis.RedisError, OSError):
            pass
    return counts


def reset_reads() -> None:
    replicas = configured()
    if replicas is None:
        return
    with replicas.lock:
        replicas.reads.clear()
    client = redis_handle.client()
    if client is not None:
        try:
            client.delete(_reads_key())
        except (redis.RedisError, OSError):
            pass


def _pool(engine: Engine) -> dict[str, int | None]:
    pool = engine.pool
    return {name: (getattr(pool, name)() if callable(getattr(pool, name, None)) else None)
            for name in ("size", "checkedout", "overflow")}
