"""Everything the performance page shows, read once per request into plain data."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app

from blueprints.core.clock import unit_zone
from blueprints.core.monitoring import dbinfo, report, svg
from blueprints.core.perf.sqlnorm import is_plain_select


def _label(epoch: int, step: int) -> str:
    moment = datetime.fromtimestamp(epoch, unit_zone())
    return moment.strftime("%H:%M") if step == 60 else moment.strftime("%d %b %H:00")


def charts(metrics: dict[str, Any]) -> dict[str, Any]:
    """Latency percentiles and throughput per bucket of the window, as inline SVG."""
    window = report.WINDOWS[metrics["window"]]
    series = metrics["series"]
    labels = [_label(point["at"], window.step) for point in series]
    unit = "per minute" if window.kind == "m" else "per hour"
    return {
        "latency": svg.line_chart(f"Latency over the {window.label.lower()} (p50, p95, p99)", labels,
                                  [(name, [p[name] for p in series]) for name in ("p50", "p95", "p99")]),
        "throughput": svg.bar_chart(f"Requests {unit} over the {window.label.lower()}", labels,
                                    [p["requests"] for p in series], [p["errors"] for p in series],
                                    unit="req/min" if window.kind == "m" else "req/h"),
        "unit": unit,
    }


def _mark_explainable(statements: list[dict], supported: bool) -> None:
    for statement in statements:
        statement["explainable"] = supported and is_plain_select(statement["sql"])


def dashboard_page(state: report.DashboardState) -> dict[str, Any]:
    """The performance page's data: status, table, charts, samples, and server panels."""
    status = report.store_status()
    metrics = report.endpoint_metrics(state)
    findings = report.slow_query_report(state.window)
    slowest = findings["slowest_requests"]
    postgres = dbinfo.is_postgres()
    for sample in slowest:
        _mark_explainable(sample["statements"], postgres)
    _mark_explainable(findings["slow_queries"] + findings["n_plus_one"], postgres)
    config = current_app.config
    return {
        "state": state, "windows": list(report.WINDOWS.values()), "sorts": report.SORTS,
        "status": status, "metrics": metrics, "charts": charts(metrics),
        "slowest": slowest, "findings": findings, "postgres": postgres,
        "pg_stat": dbinfo.pg_stat_statements(),
        "cache": dbinfo.cache_report(),
        "database": dbinfo.database_report(),
        "monitoring": bool(config.get("MUSTER_MONITORING")),
        "thresholds": findings["thresholds"],
    }
