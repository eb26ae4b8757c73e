"""Server-side figures for the dashboard: connection pool, largest tables, pg_stat_statements,
EXPLAIN of a captured SELECT, Redis INFO, and the health check.

Each PostgreSQL catalogue read runs on its own pooled connection, so a failure (an extension that
is not loaded, a statement that cannot be planned) never poisons the request's session.
"""

from __future__ import annotations

import re
from typing import Any

import redis
from flask import current_app
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from blueprints.core import cache_stats, replicas
from blueprints.core.database import is_postgres
from blueprints.core.errors import NotFound, ValidationError
from blueprints.core.extensions import redis_handle
from blueprints.core.monitoring.report import captured_statement, workers
from blueprints.core.perf.sqlnorm import is_plain_select, normalise_sql
from models import db

PG_STAT_HOWTO = ("pg_stat_statements is not enabled. To enable it: add shared_preload_libraries = "
                 "'pg_stat_statements' to postgresql.conf, restart PostgreSQL, then run "
                 "CREATE EXTENSION pg_stat_statements; in this database as a superuser.")
_EXPLAIN_TIMEOUT_MS = 2000


# --- database panel -----------------------------------------------------------------------------


def pool_state() -> dict[str, Any]:
    """The SQLAlchemy pool of this process: size, checked out, overflow, and whether it is full."""
    pool = db.engine.pool
    config = current_app.config
    state: dict[str, Any] = {"class": type(pool).__name__}
    for name in ("size", "checkedout", "checkedin", "overflow"):
        method = getattr(pool, name, None)
        state[name] = method() if callable(method) else None
    if state["overflow"] is not None:
        state["overflow"] = max(state["overflow"], 0)  # QueuePool counts from -size while filling up
    capacity = (state["size"] or 0) + config["DB_MAX_OVERFLOW"]
    state.update(max_overflow=config["DB_MAX_OVERFLOW"], timeout_s=config["DB_POOL_TIMEOUT"], capacity=capacity,
                 saturated=bool(state["checkedout"] is not None and state["size"] and state["checkedout"] >= capacity))
    return state


def largest_tables(limit: int = 10) -> dict[str, Any]:
    """Tables by total size with the planner's row estimate (PostgreSQL only)."""
    if not is_postgres():
        return {"available": False, "note": "Row estimates and sizes are shown on PostgreSQL only.", "tables": []}
    sql = text(
        # reltuples is -1 until the first ANALYZE; the statistics collector's live-row count fills in.
        "SELECT c.relname AS name, COALESCE(NULLIF(c.reltuples, -1), s.n_live_tup)::bigint AS estimate, "
        "pg_total_relation_size(c.oid) AS bytes "
        "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
        "LEFT JOIN pg_stat_user_tables s ON s.relid = c.oid "
        "WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
        "AND n.nspname NOT LIKE 'pg_toast%' ORDER BY bytes DESC, name LIMIT :limit"
    )
    with db.engine.connect() as conn:
        rows = [dict(r) for r in conn.execute(sql, {"limit": limit}).mappings()]
    for row in rows:
        row["estimate"] = None if row["estimate"] is None or row["estimate"] < 0 else int(row["estimate"])
        row["size"] = _human_bytes(row["bytes"])
    return {"available": True, "note": "", "tables": rows}


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024:
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{size:.1f} TB"


def database_report() -> dict[str, Any]:
    """Pool, worker saturation and largest tables."""
    threads = current_app.config["WAITRESS_THREADS"]
    return {"backend": db.engine.dialect.name, "pool": pool_state(), "workers": workers(threads),
            "tables": largest_tables(), "databases": replicas.status()}


# --- statements -------------------------------------------------------------------------------------


def pg_stat_statements(limit: int = 10) -> dict[str, Any]:
    """Top statements by total time from pg_stat_statements, or how to enable it."""
    if not is_postgres():
        return {"available": False, "note": "pg_stat_statements is a PostgreSQL extension.", "statements": []}
    sql = text(
        "SELECT query, calls, total_exec_time AS total_ms, mean_exec_time AS mean_ms, rows "
        "FROM pg_stat_statements WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database()) "
        "ORDER BY total_exec_time DESC LIMIT :limit"
    )
    with db.engine.connect() as conn:
        installed = conn.execute(text("SELECT 1 FROM pg_extension WHERE extname = 'pg_stat_statements'")).first()
        if installed is None:
            return {"available": False, "note": PG_STAT_HOWTO, "statements": []}
        try:
            rows = [dict(r) for r in conn.execute(sql, {"limit": limit}).mappings()]
        except DBAPIError:
            conn.rollback()
            return {"available": False, "note": PG_STAT_HOWTO, "statements": []}
    for row in rows:
        # Utility statements keep their literals in pg_stat_statements; mask them like ours.
        row.update(query=normalise_sql(row["query"]), total_ms=round(row["total_ms"], 1),
                   mean_ms=round(row["mean_ms"], 2))
    return {"available": True, "note": "", "statements": rows}


def _generic_parameters(sql: str) -> tuple[str, int]:
    """`?` -> $1, $2, ...; a collapsed IN list becomes one parameter."""
    count = 0

    def number(_match: re.Match) -> str:
        nonlocal count
        count += 1
        return f"${count}"

    return re.sub(r"\?", number, sql.replace("(...)", "(?)")), count


def explain_statement(stmt_id: str) -> dict[str, Any]:
    """The generic EXPLAIN plan (never ANALYZE) of a captured SELECT.

    PostgreSQL 15 has no EXPLAIN (GENERIC_PLAN), and putting NULL in place of the masked values
    would let the planner fold `col = NULL` to false and show an empty plan. So the statement is
    PREPAREd with $n parameters and EXPLAIN EXECUTE'd under plan_cache_mode = force_generic_plan:
    the plan for any values, built without executing anything, in a read-only transaction.
    """
    if not re.fullmatch(r"[0-9a-f]{16}", stmt_id):
        raise NotFound("No captured statement with that id.")
    sql = captured_statement(stmt_id)
    if sql is None:
        raise NotFound("No captured statement with that id (it may have expired or been reset).")
    result: dict[str, Any] = {"id": stmt_id, "sql": sql, "plan": [], "error": ""}
    if not is_plain_select(sql) or sql.endswith("/* truncated */"):
        raise ValidationError("Only a complete, single SELECT statement can be explained.",
                              {"statement": ["must be a SELECT"]})
    if not is_postgres():
        return {**result, "error": "EXPLAIN plans are shown on PostgreSQL only."}
    body, count = _generic_parameters(sql)
    nulls = ", ".join(["NULL"] * count)
    with db.engine.connect() as conn:
        raw = conn.execution_options(no_parameters=True)
        try:
            raw.exec_driver_sql("SET TRANSACTION READ ONLY")
            raw.exec_driver_sql(f"SET LOCAL statement_timeout = {_EXPLAIN_TIMEOUT_MS}")
            raw.exec_driver_sql("SET LOCAL plan_cache_mode = force_generic_plan")
            raw.exec_driver_sql(f"PREPARE muster_explain AS {body}")
            execute = f"EXPLAIN EXECUTE muster_explain({nulls})" if count else "EXPLAIN EXECUTE muster_explain"
            result["plan"] = [row[0] for row in raw.exec_driver_sql(execute)]
        except DBAPIError as exc:
            diag = getattr(exc.orig, "diag", None)
            result["error"] = (diag.message_primary if diag is not None else None) or str(exc.orig)
        finally:
            conn.rollback()
            _deallocate(conn)
    return result


def _deallocate(conn) -> None:
    """PREPARE outlives the transaction: drop it, or discard the connection if that fails."""
    try:
        conn.execution_options(no_parameters=True).exec_driver_sql("DEALLOCATE muster_explain")
        conn.commit()
    except DBAPIError:
        conn.rollback()
        conn.invalidate()


# --- cache and health -------------------------------------------------------------------------------


def redis_info() -> dict[str, Any]:
    """Redis's own figures (memory, keys, evictions), or why there are none."""
    client = redis_handle.client()
    if client is None:
        return {"configured": False, "reachable": False, "message": "Redis not configured (in-process cache)."}
    try:
        memory, stats = client.info("memory"), client.info("stats")
        keys = client.dbsize()
    except (redis.RedisError, OSError):
        return {"configured": True, "reachable": False, "message": "Redis unreachable."}
    hits, misses = stats.get("keyspace_hits", 0), stats.get("keyspace_misses", 0)
    return {
        "configured": True, "reachable": True, "message": "",
        "used_memory": memory.get("used_memory_human"), "peak_memory": memory.get("used_memory_peak_human"),
        "max_memory": memory.get("maxmemory_human"), "policy": memory.get("maxmemory_policy"),
        "key_count": keys, "evicted_keys": stats.get("evicted_keys", 0), "expired_keys": stats.get("expired_keys", 0),
        "hit_ratio": round(hits / (hits + misses), 4) if hits + misses else None,
    }


def cache_report() -> dict[str, Any]:
    """Our hit/miss counters per cache domain, and Redis INFO."""
    domains = []
    for domain, counts in sorted(cache_stats.stats().items()):
        lookups = counts["hit"] + counts["miss"]
        domains.append({"domain": domain, "hits": counts["hit"], "misses": counts["miss"], "errors": counts["error"],
                        "hit_ratio": round(counts["hit"] / lookups, 4) if lookups else None})
    return {"enabled": bool(current_app.config.get("MUSTER_CACHE", True)), "domains": domains,
            "redis": redis_info()}


def health() -> tuple[dict[str, str], int]:
    """Database (SELECT 1) and Redis (PING): 200 healthy/degraded, 503 when the database is down."""
    try:
        db.session.execute(text("SELECT 1"))
        database = "ok"
    except SQLAlchemyError:
        db.session.rollback()
        database = "unreachable"
    client = redis_handle.client()
    if client is None:
        redis_state = "not configured"
    else:
        try:
            redis_state = "ok" if client.ping() else "unreachable"
        except (redis.RedisError, OSError):
            redis_state = "unreachable"
    if database != "ok":
        return {"status": "unhealthy", "database": database, "redis": redis_state}, 503
    body = {"database": database, "redis": redis_state}
    databases = replicas.status()
    if databases:  # a replica down or behind degrades, never fails: the primary answers for it
        body["databases"] = {d["name"]: {"role": d["role"], "status": _replica_state(d), "lag_s": d["lag_s"],
                                         "error": d["error"] or None, "read_share": d["read_share"]}
                             for d in databases}
    degraded = redis_state == "unreachable" or any(d["status"] != "ok" for d in body.get("databases", {}).values())
    return {"status": "degraded" if degraded else "healthy", **body}, 200


def _replica_state(database: dict[str, Any]) -> str:
    if not database["up"]:
        return "down"
    return "ok" if database["usable"] else "lagging"
