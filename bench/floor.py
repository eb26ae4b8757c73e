"""The floor: the app's own SQL for a request, replayed on one prepared psycopg 3 connection.

The statements are captured from the app itself (one cold request through the test client, cache
off), so the floor runs exactly what the app runs, with the same parameters and plans. The loop
does only the irreducible work: execute them on a connection that prepared them already, in
autocommit (no BEGIN/ROLLBACK), turn the rows into JSON with orjson and gzip it. No framework, no
pool, no cache, no row shaping: a true lower bound of a cold request's cost in one thread.
"""

from __future__ import annotations

import gzip
import os
import statistics
import time
from typing import Any

import orjson
import psycopg
from psycopg.rows import dict_row


def capture(path: str, token: str, env: dict[str, str]) -> list[tuple[str, Any]]:
    """The SQL statements (psycopg form) and parameters that one cold GET of `path` runs in the app."""
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)
    try:
        from sqlalchemy import event

        from app import create_app
        from models import db

        app = create_app({"MUSTER_CACHE": False, "MUSTER_MONITORING": False})
        statements: list[tuple[str, Any]] = []
        with app.app_context():
            def record(conn, cursor, statement, parameters, context, executemany):
                statements.append((statement, parameters))

            client = app.test_client()
            headers = {"Authorization": f"Bearer {token}"}
            client.get(path, headers=headers)  # the token's last-used bookkeeping happens once
            event.listen(db.engine, "before_cursor_execute", record)
            response = client.get(path, headers=headers)
            event.remove(db.engine, "before_cursor_execute", record)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: HTTP {response.status_code}")
            db.session.remove()
            db.engine.dispose()
        return statements
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def measure(dsn: str, statements: list[tuple[str, Any]], seconds: float = 2.0, min_runs: int = 20) -> dict[str, float]:
    """Replay the statements in a loop on one connection: mean, p50 and p99 milliseconds per request."""
    times: list[float] = []
    size = 0
    with psycopg.connect(dsn, row_factory=dict_row, autocommit=True, prepare_threshold=0) as conn:
        for _ in range(3):  # prepare every statement before timing
            for sql, params in statements:
                conn.execute(sql, params).fetchall()
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline or len(times) < min_runs:
            start = time.perf_counter()
            rows: list[dict] = []
            for sql, params in statements:
                rows = conn.execute(sql, params).fetchall()
            body = gzip.compress(orjson.dumps({"data": rows}, option=orjson.OPT_NAIVE_UTC,
                                              default=_default), 6)
            times.append((time.perf_counter() - start) * 1000)
            size = len(body)
    times.sort()
    return {"mean": statistics.fmean(times), "p50": times[len(times) // 2],
            "p99": times[min(len(times) - 1, int(len(times) * 0.99))], "runs": len(times), "bytes": size}


def _default(value: Any) -> Any:
    return float(value)  # Decimal sums
