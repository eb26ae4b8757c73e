"""Monitoring for scripts: health (public), request and database metrics, cache statistics and slow
queries (admin token). The figures are those of the performance dashboard (core/monitoring/)."""

from __future__ import annotations

from flask import request

from blueprints.api import bp
from blueprints.core.auth import api_route
from blueprints.core.monitoring.dbinfo import cache_report, database_report, health
from blueprints.core.monitoring.report import WINDOWS, DashboardState, check_args, endpoint_metrics, slow_query_report
from blueprints.core.operations.statistics import reset_statistics
from models import ADMIN


@bp.get("/system/slow-queries")
@api_route(*ADMIN)
def slow_queries(actor):
    check_args(request.args, {"window": WINDOWS})  # any other parameter is unknown: a 400
    return {"data": slow_query_report(request.args.get("window", "1h"))}


@bp.post("/system/slow-queries/reset")
@api_route(*ADMIN)
def reset_slow_queries(actor):
    return {"data": {"reset": True, "store_cleared": reset_statistics(actor)}}


@bp.get("/cache/stats")
@api_route(*ADMIN)
def cache_stats(actor):
    check_args(request.args, {})
    return {"data": cache_report()}


@bp.get("/metrics/database")
@api_route(*ADMIN)
def database_metrics(actor):
    check_args(request.args, {})
    return {"data": database_report()}


@bp.get("/metrics")
@api_route(*ADMIN)
def metrics(actor):
    return {"data": endpoint_metrics(DashboardState.from_args(request.args, strict=True))}


@bp.get("/health")
def health_check():
    return health()
