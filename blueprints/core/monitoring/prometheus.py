"""The same figures in Prometheus text format (version 0.0.4) for a scraper, as Prometheus expects
them: counters ending in _total that only grow (from the last statistics reset, combined across every
process sharing Redis), request latency as a histogram in seconds, and gauges for what is current.
Rates and percentiles are the scraper's job: rate(...[5m]), histogram_quantile(0.95, ...)."""

from __future__ import annotations

from collections.abc import Iterable

from blueprints.core.monitoring import dbinfo, report
from blueprints.core.perf.histogram import EDGES
from blueprints.core.perf.store import FIELDS, Row

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
Samples = Iterable[tuple[dict[str, str], float | None]]
_AT = {name: i for i, name in enumerate(FIELDS)}
_HIST = len(FIELDS)
# Upper bucket edges in seconds, as labels: 1 ms -> "0.001", 10 s -> "10".
_LE = [f"{edge / 1000:g}" for edge in EDGES] + ["+Inf"]

# (metric, store field, help) for the per-endpoint counters; durations are stored in microseconds.
_COUNTERS = (
    ("muster_http_requests_total", "n", "Requests answered"),
    ("muster_http_server_errors_total", "e5", "Requests answered with a 5xx status"),
    ("muster_http_client_errors_total", "e4", "Requests answered with a 4xx status"),
    ("muster_http_slow_requests_total", "slow", "Requests slower than SLOW_REQUEST_MS"),
    ("muster_http_db_queries_total", "q", "SQL statements run while answering requests"),
    ("muster_http_db_time_seconds_total", "dbus", "Time spent in the database while answering requests"),
)


def _seconds(microseconds: int) -> float:
    return round(microseconds / 1e6, 6)


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    rendered = ",".join(f'{k}="{_label(v)}"' for k, v in labels.items())
    return f"{name}{{{rendered}}} {value}" if rendered else f"{name} {value}"


def _metric(name: str, kind: str, help_text: str, samples: Samples) -> list[str]:
    lines = [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
    return lines + [_sample(name, labels, value) for labels, value in samples if value is not None]


def _latency_histogram(totals: dict[str, Row]) -> list[str]:
    """Cumulative buckets (le="..."), _sum and _count per endpoint, from the stored bucket counts."""
    name = "muster_http_request_duration_seconds"
    lines = [f"# HELP {name} Time to answer a request.", f"# TYPE {name} histogram"]
    for endpoint, row in sorted(totals.items()):
        seen = 0
        for le, count in zip(_LE, row[_HIST:], strict=True):
            seen += count
            lines.append(_sample(f"{name}_bucket", {"endpoint": endpoint, "le": le}, seen))
        lines.append(_sample(f"{name}_sum", {"endpoint": endpoint}, _seconds(row[_AT["us"]])))
        lines.append(_sample(f"{name}_count", {"endpoint": endpoint}, row[_AT["n"]]))
    return lines


def _request_metrics() -> list[str]:
    totals = report.endpoint_totals()
    lines: list[str] = []
    for name, field, help_text in _COUNTERS:
        convert = _seconds if field.endswith("us") else int
        lines += _metric(name, "counter", f"{help_text}, since the statistics were last reset.",
                         [({"endpoint": e}, convert(row[_AT[field]])) for e, row in sorted(totals.items())])
    return lines + _latency_histogram(totals)


def _cache_metrics() -> list[str]:
    domains = dbinfo.cache_report()["domains"]
    lines: list[str] = []
    for outcome in ("hits", "misses", "errors"):
        lines += _metric(f"muster_cache_{outcome}_total", "counter", f"Cache {outcome} by domain since reset.",
                         [({"domain": d["domain"]}, d[outcome]) for d in domains])
    return lines


def _saturation_metrics() -> list[str]:
    pool = dbinfo.pool_state()
    workers = report.workers(0)
    status = report.store_status()
    return [
        *_metric("muster_db_pool_size", "gauge", "Pool size of the scraped process.", [({}, pool["size"])]),
        *_metric("muster_db_pool_checked_out", "gauge", "Connections in use.", [({}, pool["checkedout"])]),
        *_metric("muster_db_pool_overflow", "gauge", "Overflow connections.", [({}, pool["overflow"])]),
        *_metric("muster_worker_threads_busy", "gauge", "Requests in flight per process.",
                 [({"process": w["id"]}, w["busy"]) for w in workers["processes"]]),
        *_metric("muster_stats_store_up", "gauge", "1 when the statistics store can be read.",
                 [({}, 1 if status["available"] else 0)]),
    ]


def prometheus_text() -> str:
    """Per-endpoint counters and latency histogram, cache counters, pool and worker saturation."""
    return "\n".join(_request_metrics() + _cache_metrics() + _saturation_metrics()) + "\n"
