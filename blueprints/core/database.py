"""Engine settings: a health-checked pool sized to the server's threads, and timeouts.

Two things save PostgreSQL round trips on every request without changing what a request sees:
- A pooled connection is checked on checkout by looking at its socket, not by sending a ping: a
  connection the server closed (restart, pg_terminate_backend, idle timeout) has its socket
  readable, and is replaced before use. SQLAlchemy's pool_pre_ping would cost a round trip each time.
- GET and HEAD requests read in autocommit (as Django does by default), so a read costs no BEGIN
  and no ROLLBACK. A write opens a real transaction whatever the method: unit_of_work() turns
  autocommit off before its first statement (use_transaction below).
"""

from __future__ import annotations

import os
import select
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from flask import Flask, g, has_request_context, request
from sqlalchemy import Insert, bindparam, cast, event, func, text
from sqlalchemy import select as select_
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.orm import Session

from models import db

_READ_ONLY_METHODS = ("GET", "HEAD")
AFTER_COMMIT = "muster_after_commit"  # session.info key: what runs once the open unit of work commits
ANALYZE_MIN_ROWS = 500  # a write of this many rows refreshes the planner's statistics of its tables


def engine_options(config: dict[str, Any], uri: str | None = None,
                   connect_timeout: int | None = None) -> dict[str, Any]:
    """SQLAlchemy engine options for the configured backend (or for another database, a replica)."""
    uri = uri or config["SQLALCHEMY_DATABASE_URI"]
    if uri.startswith("sqlite"):
        # One file, many threads: wait for the write lock rather than failing at once.
        return {"connect_args": {"check_same_thread": False, "timeout": 30}}
    options = f"-c statement_timeout={int(config['DB_STATEMENT_TIMEOUT_MS'])}"
    if config.get("DB_RANDOM_PAGE_COST") is not None:
        options += f" -c random_page_cost={float(config['DB_RANDOM_PAGE_COST'])}"
    return {
        "pool_size": config["DB_POOL_SIZE"],
        "max_overflow": config["DB_MAX_OVERFLOW"],
        "pool_timeout": config["DB_POOL_TIMEOUT"],
        "pool_recycle": config["DB_POOL_RECYCLE"],
        "connect_args": {
            "connect_timeout": connect_timeout or config["DB_CONNECT_TIMEOUT"],
            "options": options,
            "application_name": "muster",
            "prepare_threshold": config.get("DB_PREPARE_THRESHOLD", 5),
        },
    }


def _sqlite_pragmas(dbapi_connection, _record) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _check_out(dbapi_connection, _record, _proxy) -> None:
    """Refuse a connection the server has closed (the pool then opens a fresh one)."""
    if dbapi_connection.closed or dbapi_connection.broken:
        raise DisconnectionError("connection closed")
    fd = dbapi_connection.pgconn.socket
    if select.select([fd], [], [], 0)[0]:  # an idle connection has nothing to read unless it was closed
        raise DisconnectionError("server closed the connection")


def _session_began(_session, _transaction, connection) -> None:
    """The request session's reads in GET/HEAD run in autocommit. Only the session's own connection:
    code that opens a connection itself (EXPLAIN, ANALYZE) keeps the transaction it asks for."""
    if connection.dialect.name != "postgresql":
        return  # the listener is on the Session class, which every app's session shares
    if (has_request_context() and request.method in _READ_ONLY_METHODS) or g.get(_READ_ONLY_GET, False):
        driver = connection.connection.driver_connection
        if driver is not None and driver.info.transaction_status == 0:  # idle: nothing sent yet
            driver.autocommit = True


_READ_ONLY_GET = "_db_read_only_get"  # g flag: a GET served without a request context (the API's cold path)


def read_only_get() -> None:
    """This app context serves a GET outside a request context: its reads run in autocommit, as a GET's do."""
    setattr(g, _READ_ONLY_GET, True)


def _check_in(dbapi_connection, _record) -> None:
    if dbapi_connection is not None and not dbapi_connection.closed and dbapi_connection.autocommit:
        dbapi_connection.autocommit = False


def use_transaction(session: Session) -> None:
    """Make the session's connection transactional before a write or a server-side cursor. From
    here on the request reads on the primary, in this transaction (replicas.py routes by it)."""
    if not is_postgres():
        return
    pin_primary()
    driver = session.connection().connection.driver_connection
    if driver.autocommit:
        driver.autocommit = False


def pin_primary() -> None:
    """Every further statement of this request runs on the primary (with read replicas configured)."""
    if has_request_context():
        g._db_primary = True


@contextmanager
def on_primary() -> Iterator[None]:
    """Run the enclosed reads on the primary (with read replicas configured): the sign-in lookups,
    cache fills a replica is too far behind for."""
    if not has_request_context():
        yield
        return
    before = g.get("_db_primary", False)
    g._db_primary = True
    try:
        yield
    finally:
        g._db_primary = before


def analyze(*tables: str) -> None:
    """Refresh the planner's statistics of these tables after a bulk write (PostgreSQL).

    Autovacuum's analyze lags after a bulk load (and is off on some machines); until it runs,
    PostgreSQL plans lists for the old row counts (a sequential scan and hash join for page 1).
    """
    if not is_postgres():
        return
    known = {table.name for table in db.metadata.sorted_tables}
    with db.engine.connect() as conn:
        conn.connection.driver_connection.autocommit = True
        for table in tables:
            if table not in known:
                raise ValueError(f"unknown table {table!r}")
            conn.execute(text(f"ANALYZE {table}"))


def after_commit(action: Callable[[], None]) -> None:
    """Run this once the open unit of work has committed (not if it rolls back); now if none is open."""
    actions = db.session.info.get(AFTER_COMMIT)
    if actions is None:
        action()
    else:
        actions.append(action)


def analyzed_after(rows: int, *tables: str) -> Callable[[], None]:
    """For unit_of_work(...): analyze the tables after commit when `rows` is a bulk write."""
    return (lambda: after_commit(lambda: analyze(*tables))) if rows >= ANALYZE_MIN_ROWS else (lambda: None)


def insert_many(session: Session, stmt: Insert, rows: list[dict[str, Any]]) -> None:
    """Insert the rows (each with the same keys) in one statement on PostgreSQL: INSERT ... SELECT FROM
    unnest(one array per column), so a statement trigger runs once, not once per row.

    A plain executemany sends one INSERT per row under psycopg, and each runs the table's statement
    triggers (cadet_totals, grades' archived flag): 5,000 trigger runs for an import of 5,000. A
    multi-row VALUES has a parameter per cell, which psycopg parses slower than the rows insert;
    here there are as many parameters as columns. SQLite has no round trips to save: executemany.
    """
    if not rows:
        return
    if not is_postgres(session.get_bind()):
        session.execute(stmt, rows)
        return
    names = list(rows[0])
    columns = stmt.table.c
    arrays = [cast(bindparam(f"_{name}", [row[name] for row in rows]), ARRAY(columns[name].type)) for name in names]
    source = func.unnest(*arrays).table_valued(*names).render_derived()
    session.execute(stmt.from_select(names, select_(*source.c)))


def watch_engine(engine: Engine) -> None:
    """Refuse closed pooled connections on checkout; give autocommit back on checkin (PostgreSQL)."""
    event.listen(engine, "checkout", _check_out)
    event.listen(engine, "checkin", _check_in)


def init_app(app: Flask) -> None:
    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        os.makedirs(app.instance_path, exist_ok=True)
        app.config["SQLALCHEMY_DATABASE_URI"] = "sqlite:///" + os.path.join(app.instance_path, "muster.db")
    app.config["SQLALCHEMY_ENGINE_OPTIONS"] = engine_options(app.config)
    db.init_app(app)
    with app.app_context():
        if is_postgres():
            watch_engine(db.engine)
            if not event.contains(db.session, "after_begin", _session_began):
                event.listen(db.session, "after_begin", _session_began)
        else:
            event.listen(db.engine, "connect", _sqlite_pragmas)


def is_postgres(engine: Engine | None = None) -> bool:
    return (engine or db.engine).dialect.name == "postgresql"
