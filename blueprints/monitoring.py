"""JSON and Prometheus endpoints for scripts and monitoring; all but /api/health need an admin token."""

from __future__ import annotations

from flask import Blueprint, Response, request

from blueprints.core.auth import api_route
from blueprints.core.extensions import csrf
from blueprints.core.perf.dbinfo import cache_report, database_report, health
from blueprints.core.perf.prometheus import CONTENT_TYPE, prometheus_text
from blueprints.core.perf.report import DashboardState, endpoint_metrics, slow_query_report
from blueprints.core.perf.reset import reset_statistics
from models import ADMIN

bp = Blueprint("monitoring", __name__)
# Callers send a Bearer token (or nothing, for health), never a session cookie: no form to forge.
csrf.exempt(bp)


@bp.get("/api/system/slow-queries")
@api_route(*ADMIN)
def slow_queries(actor):
    return {"data": slow_query_report(request.args.get("window", "1h"))}


@bp.post("/api/system/slow-queries/reset")
@api_route(*ADMIN)
def reset_slow_queries(actor):
    return {"data": {"reset": True, "store_cleared": reset_statistics(actor)}}


@bp.get("/api/cache/stats")
@api_route(*ADMIN)
def cache_stats(actor):
    return {"data": cache_report()}


@bp.get("/api/metrics/database")
@api_route(*ADMIN)
def database_metrics(actor):
    return {"data": database_report()}


@bp.get("/api/metrics")
@api_route(*ADMIN)
def metrics(actor):
    return {"data": endpoint_metrics(DashboardState.from_args(request.args))}


@bp.get("/api/health")
def health_check():
    return health()


@bp.get("/metrics")
@api_route(*ADMIN)
def prometheus(actor):
    return Response(prometheus_text(), content_type=CONTENT_TYPE)
