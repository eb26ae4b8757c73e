"""The side-car: request hooks and SQLAlchemy engine events that time every request and statement.

Per request it keeps counters and a small dict of statements keyed by (SQL, call site); at the end
it normalises the distinct statements (cached), finds N+1 patterns and slow statements, and hands
one record to this process's Buffer. Parameter values are never read.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from contextvars import ContextVar
from typing import Any

from flask import Flask, Response, current_app, g, request
from sqlalchemy import event
from sqlalchemy.engine import Engine

from blueprints.core.perf.buffer import Buffer
from blueprints.core.perf.detect import find_n_plus_one
from blueprints.core.perf.sqlnorm import normalise_sql, statement_id
from models import db

log = logging.getLogger(__name__)

_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
_SAMPLE_STATEMENTS = 30
_current: ContextVar[_Request | None] = ContextVar("muster_perf_request", default=None)


class _Request:
    __slots__ = ("t0", "wall", "queries", "db", "stmts", "slow", "status", "app_ms", "cache_start",
                 "t_stmt", "slow_s")

    def __init__(self, slow_ms: float, cache_start: int) -> None:
        self.t0 = time.perf_counter()
        self.wall = time.time()
        self.queries = 0
        self.db = 0.0
        self.stmts: dict[tuple[str, str], list[float]] = {}  # (raw SQL, site) -> [count, total s, max s]
        self.slow: list[tuple[str, float, str]] = []  # (raw SQL, seconds, site)
        self.status = 500
        self.app_ms = 0.0
        self.cache_start = cache_start
        self.t_stmt = 0.0
        self.slow_s = slow_ms / 1000


# --- call sites -------------------------------------------------------------------------------

_root = ""
_own_dir = os.path.dirname(os.path.abspath(__file__)) + os.sep
_is_ours: dict[str, str | None] = {}  # filename -> path relative to the project root, or None


def _classify(filename: str) -> str | None:
    path = os.path.abspath(filename)
    if not _root or not path.startswith(_root) or path.startswith(_own_dir):
        return None
    if "site-packages" in path or os.sep + ".venv" + os.sep in path:
        return None
    return os.path.relpath(path, _root)


def call_site(depth: int = 2) -> str:
    """file:line of the innermost frame in our code (not perf, not a library); '?' if none."""
    frame = sys._getframe(depth)
    while frame is not None:
        filename = frame.f_code.co_filename
        try:
            rel = _is_ours[filename]
        except KeyError:
            rel = _is_ours[filename] = _classify(filename)
        if rel is not None:
            return f"{rel}:{frame.f_lineno}"
        frame = frame.f_back
    return "?"


# --- engine events --------------------------------------------------------------------------


def _before_execute(conn, cursor, statement, parameters, context, executemany) -> None:
    req = _current.get()
    if req is not None:
        req.t_stmt = time.perf_counter()


def _count(req: _Request, statement: str, seconds: float) -> None:
    req.queries += 1
    req.db += seconds
    site = call_site(1)
    entry = req.stmts.get((statement, site))
    if entry is None:
        req.stmts[(statement, site)] = [1, seconds, seconds]
    else:
        entry[0] += 1
        entry[1] += seconds
        if seconds > entry[2]:
            entry[2] = seconds
    if seconds >= req.slow_s:
        req.slow.append((statement, seconds, site))


def _after_execute(conn, cursor, statement, parameters, context, executemany) -> None:
    req = _current.get()
    if req is not None and req.t_stmt:
        _count(req, statement, time.perf_counter() - req.t_stmt)
        req.t_stmt = 0.0


def _failed_execute(context) -> None:
    """A statement that raised (a statement timeout is the slowest query of all): count it too."""
    req = _current.get()
    if req is not None and req.t_stmt and context.statement:
        _count(req, context.statement, time.perf_counter() - req.t_stmt)
        req.t_stmt = 0.0


def attach_engine(engine: Engine) -> None:
    if not event.contains(engine, "before_cursor_execute", _before_execute):
        event.listen(engine, "before_cursor_execute", _before_execute)
        event.listen(engine, "after_cursor_execute", _after_execute)
        event.listen(engine, "handle_error", _failed_execute)


# --- request hooks --------------------------------------------------------------------------


def store_prefix(config: Any) -> str:
    """Every statistics key starts with this: the app's cache prefix, then ':perf:'."""
    return config["CACHE_KEY_PREFIX"] + ":perf:"


def _buffer() -> Buffer:
    return current_app.extensions["muster_perf"]


def _start_request() -> None:
    start_timing(current_app.config, _buffer(), len(g.get("cache_events", ())))


def server_timing(req: _Request, cache_events: list[str]) -> str:
    """Server-Timing: database time and statements, cache outcome, whole app time so far."""
    if "error" in cache_events:
        cache = "error"
    elif "miss" in cache_events:
        cache = "miss"
    else:
        cache = "hit" if cache_events else "none"
    return (f'db;dur={req.db * 1000:.1f};desc="{req.queries} queries", cache;desc={cache}, '
            f"app;dur={req.app_ms:.1f}")


def _end_response(response: Response) -> Response:
    req = _current.get()
    if req is not None:
        req.status = response.status_code
        req.app_ms = (time.perf_counter() - req.t0) * 1000
        value = server_timing(req, g.get("cache_events", [])[req.cache_start:])
        existing = response.headers.get("Server-Timing")
        response.headers["Server-Timing"] = f"{existing}, {value}" if existing else value
    return response


def _teardown(exc: BaseException | None) -> None:
    if _current.get() is None:
        return
    buffer = _buffer()
    req = stop_timing(buffer)
    rule = request.url_rule.rule if request.url_rule is not None else ""
    _record(current_app.config, req, buffer, exc, _endpoint(), rule, g.get("cache_events", [])[req.cache_start:])


def _endpoint() -> str:
    method = request.method if request.method in _METHODS else "OTHER"
    return f"{method} {request.endpoint or '(no route)'}"


def served_without_flask(config: Any, buffer: Buffer, t0: float, wall: float, endpoint: str, rule: str,
                         cache_hits: int, status: int = 200) -> str:
    """Record a 200 (or 304) answered from the cache before Flask (the API's fast path: no SQL); returns
    its Server-Timing. A slow one (over SLOW_REQUEST_MS) is recorded in full, with its sample."""
    ms = (time.perf_counter() - t0) * 1000
    events = ["hit"] * cache_hits
    req = _Request(config["SLOW_QUERY_MS"], 0)
    req.t0, req.wall, req.status, req.app_ms = t0, wall, status, ms
    if ms < config["SLOW_REQUEST_MS"]:
        buffer.add_cache_hit(store_prefix(config), endpoint, wall, ms, cache_hits)
    else:
        _record(config, req, buffer, None, endpoint, rule, events)
    return server_timing(req, events)


def start_timing(config: Any, buffer: Buffer, cache_start: int = 0) -> _Request:
    """Start timing a request and its statements: Flask's before_request hook, and a request answered
    before Flask that runs SQL (the API's cold path)."""
    req = _Request(config["SLOW_QUERY_MS"], cache_start)
    _current.set(req)
    buffer.enter()
    return req


def stop_timing(buffer: Buffer) -> _Request | None:
    """Stop timing it (recorded next, or handed on to Flask, which then times it afresh)."""
    req = _current.get()
    _current.set(None)
    buffer.leave()
    return req


def finish_outside_flask(config: Any, buffer: Buffer, req: _Request, endpoint: str, rule: str,
                         events: list[str], status: int = 200) -> str:
    """Record a request answered before Flask with its statements, as _teardown does; returns its
    Server-Timing, as _end_response does."""
    stop_timing(buffer)
    req.status = status
    req.app_ms = (time.perf_counter() - req.t0) * 1000
    timing = server_timing(req, events)
    _record(config, req, buffer, None, endpoint, rule, events)
    return timing


def _record(config: Any, req: _Request, buffer: Buffer, exc: BaseException | None, endpoint: str, rule: str,
            events: list[str]) -> None:
    try:
        finish_request(config, req, buffer, exc, endpoint, rule, events)
    except Exception:  # recording must never fail a request
        log.exception("perf: could not record a request")


def finish_request(config: Any, req: _Request, buffer: Buffer, exc: BaseException | None, endpoint: str,
                   rule: str, events: list[str]) -> None:
    """Summarise the request and add it to the buffer."""
    ms = (time.perf_counter() - req.t0) * 1000
    status = 500 if exc is not None else req.status
    record = {"endpoint": endpoint, "at": req.wall, "ms": ms, "status": status, "queries": req.queries,
              "db_ms": req.db * 1000, "cache_hits": events.count("hit"), "cache_misses": events.count("miss"),
              "slow": ms >= config["SLOW_REQUEST_MS"]}
    groups: dict[str, list] = {}
    for (raw, site), (count, total, _max) in req.stmts.items():
        group = groups.setdefault(normalise_sql(raw), [0, 0.0, {}])
        group[0] += count
        group[1] += total * 1000
        group[2][site] = group[2].get(site, 0) + count
    findings = _findings(req, groups, endpoint, config["N_PLUS_ONE_THRESHOLD"])
    prefix = store_prefix(config)
    sample = _sample(req, record, status, rule) if buffer.wants_sample(prefix, int(req.wall) // 3600, ms) else None
    buffer.add(prefix, record, sample, findings)


def _findings(req: _Request, groups: dict[str, list], endpoint: str, threshold: int) -> list[tuple]:
    out: list[tuple[str, str, int, dict[str, Any]]] = []
    for found in find_n_plus_one(groups, threshold, endpoint):
        found["at"] = req.wall
        out.append(("n1", f"{endpoint}|{found['id']}|{found['site']}", int(found["total_ms"] * 1000), found))
    for raw, seconds, site in req.slow:
        sql = normalise_sql(raw)
        found = {"sql": sql, "id": statement_id(sql), "site": site, "endpoint": endpoint,
                 "ms": round(seconds * 1000, 3), "at": req.wall}
        out.append(("slowq", f"{found['id']}|{site}", int(seconds * 1_000_000), found))
    return out


def _sample(req: _Request, record: dict, status: int, rule: str) -> dict[str, Any]:
    """A slow-request sample: the request's figures and its costliest statements (normalised)."""
    statements = sorted(req.stmts.items(), key=lambda item: item[1][1], reverse=True)[:_SAMPLE_STATEMENTS]
    return {
        "id": os.urandom(6).hex(), "endpoint": record["endpoint"], "rule": rule, "status": status,
        "ms": round(record["ms"], 3), "queries": req.queries, "db_ms": round(req.db * 1000, 3), "at": req.wall,
        "statements": [
            {"sql": (sql := normalise_sql(raw)), "id": statement_id(sql), "site": site, "count": int(count),
             "total_ms": round(total * 1000, 3), "max_ms": round(peak * 1000, 3)}
            for (raw, site), (count, total, peak) in statements
        ],
    }


def attach(app: Flask, buffer: Buffer) -> None:
    """Register the hooks (ours run first, so the timing covers the other hooks) and engine events."""
    global _root
    _root = _root or os.path.abspath(app.root_path) + os.sep
    app.extensions["muster_perf"] = buffer
    app.before_request_funcs.setdefault(None, []).insert(0, _start_request)
    app.after_request(_end_response)
    app.teardown_request(_teardown)
    with app.app_context():
        for engine in db.engines.values():
            attach_engine(engine)
