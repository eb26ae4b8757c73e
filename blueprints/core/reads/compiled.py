"""List statements kept compiled per process, by list state, for PostgreSQL.

A cold list request spent about 2 ms of Python (10k cadets, 50 rows) building its select, deriving
SQLAlchemy's cache key from it, and going through the ORM's execute and result machinery; the
statement itself took about 1.2 ms on the same connection. A list whose statement is a function of
its list state alone keeps the SQL string and bound values that state compiles to, and runs them
as they are (psycopg prepares them after a few runs). SQLite, and anything compiled with expanding
parameters, takes the ordinary path: a difference there shows up as the same rows, only slower.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, TextClause

from blueprints.core.database import is_postgres
from models import db

MAX_ENTRIES = 512  # list states kept per process; the least recently used one goes first


@dataclass
class Compiled:
    query: Select | TextClause  # kept for the session's get_bind: a read replica is chosen by the statement
    sql: str
    params: dict[str, Any]
    keys: list[str] | None = None  # the result's column names, from its first run (the cursor's description
    # builds a Column object per column on every read of it: a tenth of a kept run's cost)


_entries: OrderedDict[Hashable, Compiled | None] = OrderedDict()  # None: compiles with expanding params
_lock = threading.Lock()


def run(key: Hashable | None, build: Callable[[], Select | TextClause],
        values: dict[str, Any] | None = None) -> tuple[list[str], list]:
    """The column names and rows of build()'s statement, compiled once per key (None: never kept).
    values: named bindparams' values for this run (the statement is built with placeholder values)."""
    if key is None or not is_postgres():
        return _run_select(build(), values)
    entry = _lookup(key)
    if entry is _MISSING:
        query = build()
        entry = _compile(query)
        _remember(key, entry)
        if entry is None:
            return _run_select(query, values)
    if entry is None:
        return _run_select(build(), values)
    return _run_kept(entry, entry.params if values is None else {**entry.params, **values})


def first_row(key: Hashable, build: Callable[[], Select | TextClause], values: dict[str, Any]) -> dict[str, Any] | None:
    """run()'s first row as a dict of its columns, or None: a lookup by key (who a token or a session is)."""
    keys, rows = run(key, build, values)
    return dict(zip(keys, rows[0], strict=True)) if rows else None


def run_kept(key: Hashable) -> tuple[list[str], list] | None:
    """run(key, ...) when the statement of `key` is already kept (and run once): its caller need not
    build anything; None when it is not (then build it and call run)."""
    if not is_postgres():
        return None
    entry = _lookup(key)
    if entry is _MISSING or entry is None or entry.keys is None:
        return None
    return _run_kept(entry, entry.params)


_MISSING = object()


def _lookup(key: Hashable) -> Compiled | None | object:
    with _lock:
        entry = _entries.get(key, _MISSING)
        if entry is not _MISSING:
            _entries.move_to_end(key)
    return entry


def _run_kept(entry: Compiled, params: dict[str, Any]) -> tuple[list[str], list]:
    """Run a kept statement on the driver's cursor: SQLAlchemy's execution would build its result
    metadata afresh for every run of a string statement (a third of this function's cost). The
    engine's cursor events still fire (the dashboard counts and times every statement), and an error
    goes through SQLAlchemy's own handling, as from its execute: the handle_error event (the dashboard
    counts a failed statement too), the SQLAlchemy exception raised, a lost connection invalidated."""
    conn = db.session.connection(bind_arguments={"clause": entry.query})  # the session's get_bind chooses
    with conn.connection.driver_connection.cursor() as cursor:
        conn.dispatch.before_cursor_execute(conn, cursor, entry.sql, params, None, False)
        try:
            cursor.execute(entry.sql, params)
        except BaseException as exc:
            conn._handle_dbapi_exception(exc, entry.sql, params, cursor, None)  # raises
        conn.dispatch.after_cursor_execute(conn, cursor, entry.sql, params, None, False)
        rows = cursor.fetchall()
        if entry.keys is None:
            entry.keys = [column.name for column in cursor.description]
    return entry.keys, rows


def _run_select(query: Select | TextClause, values: dict[str, Any] | None = None) -> tuple[list[str], list]:
    result = db.session.execute(query, values)
    return list(result.keys()), result.all()


def _compile(query: Select | TextClause) -> Compiled | None:
    """The SQL and the driver's parameters, as SQLAlchemy's execution would send them; None when the
    statement is rendered per execution (expanding IN lists, literal-execute binds)."""
    compiled = query.compile(dialect=db.engine.dialect)
    if compiled.literal_execute_params or compiled.post_compile_params or compiled.positional:
        return None
    processors = compiled._bind_processors  # what DefaultExecutionContext applies to each bound value
    escaped = compiled.escaped_bind_names or {}
    params = {escaped.get(name, name): processors[name](value) if name in processors else value
              for name, value in compiled.construct_params(escape_names=False).items()}
    return Compiled(query, compiled.string, params)


def _remember(key: Hashable, entry: Compiled | None) -> None:
    with _lock:
        _entries[key] = entry
        while len(_entries) > MAX_ENTRIES:
            _entries.popitem(last=False)


def forget() -> None:
    """Drop every kept statement (tests; a schema change in a long-lived process)."""
    with _lock:
        _entries.clear()
