"""The same figures in Prometheus text format (version 0.0.4) for a scraper."""

from __future__ import annotations

from collections.abc import Iterable

from blueprints.core.perf import dbinfo, report

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _metric(name: str, kind: str, help_text: str, samples: Iterable[tuple[dict[str, str], float | None]]) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    for labels, value in samples:
        if value is None:
            continue
        rendered = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
        lines.append(f"{name}{{{rendered}}} {value}" if rendered else f"{name} {value}")
    return lines


def prometheus_text() -> str:
    """Per-endpoint figures over the last 5 minutes, cache counters, pool and worker saturation."""
    metrics = report.endpoint_metrics(report.DashboardState(window="5m", sort="endpoint", desc=False))
    rows = metrics["endpoints"]
    cache = dbinfo.cache_report()
    pool = dbinfo.pool_state()
    workers = report.workers(0)
    status = report.store_status()
    lines: list[str] = []
    lines += _metric("muster_http_requests_5m", "gauge", "Requests in the last 5 minutes.",
                     [({"endpoint": r["endpoint"]}, r["requests"]) for r in rows])
    lines += _metric("muster_http_server_errors_5m", "gauge", "5xx responses in the last 5 minutes.",
                     [({"endpoint": r["endpoint"]}, r["errors"]) for r in rows])
    lines += _metric("muster_http_latency_ms", "gauge", "Estimated latency percentile over the last 5 minutes.",
                     [({"endpoint": r["endpoint"], "quantile": q}, r[key]) for r in rows
                      for q, key in (("0.5", "p50"), ("0.95", "p95"), ("0.99", "p99"))])
    lines += _metric("muster_http_queries_per_request_5m", "gauge", "Average SQL statements per request.",
                     [({"endpoint": r["endpoint"]}, r["avg_queries"]) for r in rows])
    lines += _metric("muster_http_db_ms_per_request_5m", "gauge", "Average database time per request (ms).",
                     [({"endpoint": r["endpoint"]}, r["avg_db_ms"]) for r in rows])
    for outcome, key in (("hits", "hits"), ("misses", "misses"), ("errors", "errors")):
        lines += _metric(f"muster_cache_{outcome}_total", "counter", f"Cache {outcome} by domain since reset.",
                         [({"domain": d["domain"]}, d[key]) for d in cache["domains"]])
    lines += _metric("muster_db_pool_size", "gauge", "Pool size of the scraped process.", [({}, pool["size"])])
    lines += _metric("muster_db_pool_checked_out", "gauge", "Connections in use.", [({}, pool["checkedout"])])
    lines += _metric("muster_db_pool_overflow", "gauge", "Overflow connections.", [({}, pool["overflow"])])
    lines += _metric("muster_worker_threads_busy", "gauge", "Requests in flight per process.",
                     [({"process": w["id"]}, w["busy"]) for w in workers["processes"]])
    lines += _metric("muster_stats_store_up", "gauge", "1 when the statistics store can be read.",
                     [({}, 1 if status["available"] else 0)])
    return "\n".join(lines) + "\n"
