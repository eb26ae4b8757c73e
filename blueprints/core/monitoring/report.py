"""Reads for the dashboard and the monitoring endpoints: figures per endpoint over a window,
series for the charts, slowest requests, slow statements and N+1 detections."""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

import redis
from flask import current_app
from werkzeug.datastructures import MultiDict

from blueprints.core.errors import BadRequest
from blueprints.core.perf.buffer import Buffer, clear_all, flush_all
from blueprints.core.perf.histogram import percentile
from blueprints.core.perf.recorder import store_prefix
from blueprints.core.perf.store import FIELDS, Row, add_rows, new_row

_N, _US, _Q, _DBUS, _E5, _E4, _CH, _CM, _SLOW = range(len(FIELDS))
_HIST = len(FIELDS)
_LIST_LIMIT = 20
_STORE_ERRORS = (redis.RedisError, OSError)


@dataclass(frozen=True)
class Window:
    key: str
    label: str
    count: int  # buckets
    kind: str  # "m" minute buckets, "h" hour buckets

    @property
    def step(self) -> int:
        return 60 if self.kind == "m" else 3600

    @property
    def seconds(self) -> int:
        return self.count * self.step

    def bucket_ids(self, now: float) -> list[int]:
        last = int(now) // self.step
        return list(range(last - self.count + 1, last + 1))


WINDOWS = {w.key: w for w in (Window("5m", "Last 5 minutes", 5, "m"), Window("1h", "Last hour", 60, "m"),
                              Window("1d", "Last day", 24, "h"))}
SORTS = {"endpoint": "Endpoint", "requests": "Requests", "error_rate": "Errors", "p50": "p50", "p95": "p95",
         "p99": "p99", "avg_queries": "Queries/req", "avg_db_ms": "DB ms/req"}

# The allowed values of every query parameter the monitoring endpoints take (documented as enums).
MONITORING_ARGS: dict[str, tuple[str, ...]] = {"window": tuple(WINDOWS), "sort": tuple(SORTS),
                                               "direction": ("asc", "desc")}


@dataclass(frozen=True)
class DashboardState:
    """The page's state from the query string; anything not allow-listed falls back to a default."""

    window: str = "1h"
    sort: str = "p95"
    desc: bool = True

    @classmethod
    def from_args(cls, args: MultiDict | dict, strict: bool = False) -> DashboardState:
        """strict (the API): a bad value or an unknown parameter is a 400 naming it; the page falls back."""
        if strict:
            check_args(args, MONITORING_ARGS)
        window = args.get("window", cls.window)
        sort = args.get("sort", cls.sort)
        direction = args.get("direction", "")
        desc = direction != "asc" if direction in ("asc", "desc") else sort != "endpoint"
        return cls(window if window in WINDOWS else cls.window, sort if sort in SORTS else cls.sort, desc)

    def args(self, **changes: Any) -> dict[str, str]:
        """Query parameters for this state with some changed (for links)."""
        state = replace(self, **changes)
        return {"direction": "desc" if state.desc else "asc", "sort": state.sort, "window": state.window}

    def sort_args(self, column: str) -> dict[str, str]:
        """Link for a column header: sort by it, or flip the direction when it is already the sort."""
        if column == self.sort:
            return self.args(desc=not self.desc)
        return self.args(sort=column, desc=column != "endpoint")


# --- store access ---------------------------------------------------------------------------------


def _buffer() -> Buffer | None:
    return current_app.extensions.get("muster_perf")


def store_status() -> dict[str, Any]:
    """Where statistics live and whether they can be read right now."""
    buffer = _buffer()
    if buffer is None:
        return {"kind": "off", "available": False,
                "message": "Monitoring is switched off (MUSTER_MONITORING=off); nothing is being recorded."}
    if buffer.store.kind == "memory":
        return {"kind": "memory", "available": True,
                "message": "Redis is not configured: figures are this process's only, and reset on restart."}
    if not buffer.store.ping():
        return {"kind": "redis", "available": False,
                "message": "The statistics store (Redis) is unavailable: requests are served normally, "
                           "but their figures are not being collected or shown until it is back."}
    return {"kind": "redis", "available": True,
            "message": "Figures are combined from every Muster process sharing this Redis."}


def _read(method: str, *args: Any, default: Any = None) -> Any:
    """Call a store read with this app's prefix; a store error reads as `default`."""
    buffer = _buffer()
    if buffer is None:
        return default
    try:
        flush_all()
        return getattr(buffer.store, method)(store_prefix(current_app.config), *args)
    except _STORE_ERRORS:
        return default


# --- per-endpoint table and series ------------------------------------------------------------


def _figures(row: Row) -> dict[str, Any]:
    n = row[_N]
    hist = row[_HIST:]

    def pct(p: float) -> float | None:
        value = percentile(hist, p)
        return None if value is None else round(value, 1)

    return {
        "requests": n, "errors": row[_E5], "client_errors": row[_E4], "slow": row[_SLOW],
        "error_rate": round(row[_E5] / n, 4) if n else 0.0,
        "p50": pct(50), "p95": pct(95), "p99": pct(99),
        "avg_ms": round(row[_US] / n / 1000, 2) if n else None,
        "avg_queries": round(row[_Q] / n, 2) if n else None,
        "avg_db_ms": round(row[_DBUS] / n / 1000, 2) if n else None,
        "cache_hits": row[_CH], "cache_misses": row[_CM],
    }


def _sorted(rows: list[dict], state: DashboardState) -> list[dict]:
    present = [r for r in rows if r[state.sort] is not None]
    missing = [r for r in rows if r[state.sort] is None]
    present.sort(key=lambda r: (r[state.sort], r["endpoint"]), reverse=state.desc)
    return present + missing


def endpoint_metrics(state: DashboardState, now: float | None = None) -> dict[str, Any]:
    """Per-endpoint figures over the state's window, sorted, with totals and a per-bucket series."""
    window = WINDOWS[state.window]
    ids = window.bucket_ids(now or time.time())
    buckets = _read("buckets", window.kind, ids, default={}) or {}
    per_endpoint: dict[str, Row] = {}
    total = new_row()
    series = []
    for bucket in ids:
        in_bucket = new_row()
        for endpoint, row in buckets.get(bucket, {}).items():
            add_rows(per_endpoint.setdefault(endpoint, new_row()), row)
            add_rows(in_bucket, row)
        add_rows(total, in_bucket)
        series.append({"at": bucket * window.step, **_figures(in_bucket)})
    rows = [{"endpoint": endpoint, **_figures(row)} for endpoint, row in per_endpoint.items()]
    return {"window": window.key, "window_label": window.label, "sort": state.sort,
            "direction": "desc" if state.desc else "asc", "endpoints": _sorted(rows, state),
            "totals": _figures(total), "series": series}


def endpoint_totals() -> dict[str, Row]:
    """Per-endpoint running totals since the last reset (raw rows: FIELDS, then histogram counts)."""
    return (_read("buckets", "t", [0], default={}) or {}).get(0, {})


# --- samples --------------------------------------------------------------------------------------


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def slowest_requests(window_key: str = "1h", now: float | None = None, limit: int = 10) -> list[dict]:
    """The slowest requests seen in the window, each with its costliest statements."""
    window = WINDOWS.get(window_key, WINDOWS["1h"])
    now = now or time.time()
    hours = list(range(int(now - window.seconds) // 3600, int(now) // 3600 + 1))
    samples = [s for s in _read("top", hours, default=[]) or [] if s["at"] >= now - window.seconds]
    samples.sort(key=lambda s: s["ms"], reverse=True)
    return [{**s, "when": _when(s["at"])} for s in samples[:limit]]


def _findings(kind: str) -> list[dict]:
    found = _read("findings", kind, default=[]) or []
    found.sort(key=lambda f: f["total_ms"], reverse=True)
    return [{**f, "when": _when(f["at"])} for f in found[:_LIST_LIMIT]]


def check_args(args: MultiDict | dict, allowed: dict[str, Any]) -> None:
    """Raise BadRequest naming every parameter that is unknown or not one of its allowed values."""
    bad: dict[str, list[str]] = {}
    for name in args:
        if name not in allowed:
            bad[name] = ["unknown parameter"]
        elif args.get(name) not in allowed[name]:
            bad[name] = [f"must be one of: {', '.join(allowed[name])}"]
    if bad:
        raise BadRequest(f"Bad query parameter: {', '.join(sorted(bad))}.", bad)


def slow_query_report(window_key: str = "1h") -> dict[str, Any]:
    """The window's slowest requests, and slow statements and N+1 detections since the last reset
    (kept up to a day), worst first."""
    config = current_app.config
    return {
        "window": window_key if window_key in WINDOWS else "1h",
        "slowest_requests": slowest_requests(window_key),
        "thresholds": {"slow_query_ms": config["SLOW_QUERY_MS"], "slow_request_ms": config["SLOW_REQUEST_MS"],
                       "n_plus_one": config["N_PLUS_ONE_THRESHOLD"]},
        "slow_queries": _findings("slowq"),
        "n_plus_one": _findings("n1"),
    }


def captured_statement(stmt_id: str) -> str | None:
    """A normalised statement the recorder captured (never text from the request), by its id."""
    for kind in ("slowq", "n1"):
        for found in _read("findings", kind, default=[]) or []:
            if found["id"] == stmt_id:
                return found["sql"]
    now = time.time()
    for sample in _read("top", list(range(int(now) // 3600 - 24, int(now) // 3600 + 1)), default=[]) or []:
        for statement in sample["statements"]:
            if statement["id"] == stmt_id:
                return statement["sql"]
    return None


def workers(threads: int) -> dict[str, Any]:
    """Busy worker threads: live for this process, and each process's last heartbeat (Redis)."""
    buffer = _buffer()
    now = time.time()
    beats = [{**w, "age_s": round(now - w["at"])} for w in _read("workers", default=[]) or []
             if now - w.get("at", 0) < 120]
    beats.sort(key=lambda w: w["id"])
    busy = buffer.busy if buffer is not None else None
    return {"threads": threads, "busy_here": busy, "processes": beats,
            "busy_everywhere": sum(w["busy"] for w in beats) if beats else busy,
            "threads_everywhere": sum(w["threads"] for w in beats) if beats else threads}


def reset_store() -> bool:
    """Delete every collected statistic under this app's prefix; False when the store is unreachable."""
    buffer = _buffer()
    if buffer is None:
        return True
    prefix = store_prefix(current_app.config)
    clear_all(prefix)
    try:
        buffer.store.reset(prefix)
    except _STORE_ERRORS:
        return False
    return True
