"""The admin's performance figures: the dashboard page, which answers "is Muster fast right now, and
if not, why?", and the same figures as Prometheus text at /metrics for a scraper (admin token).

/metrics is not under /api (Prometheus' conventional path), so it lives here with the page it
mirrors; as before, its errors are pages, not JSON. The JSON figures are in blueprints/api/system.py.

May import: blueprints.core (auth, monitoring), models; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from blueprints.core.auth import api_route, page_route
from blueprints.core.monitoring.dbinfo import explain_statement
from blueprints.core.monitoring.page import dashboard_page
from blueprints.core.monitoring.prometheus import CONTENT_TYPE, prometheus_text
from blueprints.core.monitoring.report import DashboardState
from blueprints.core.operations.statistics import reset_statistics
from blueprints.pages.forms import actor
from models import ADMIN

# No url_prefix: /metrics sits outside /admin/performance.
bp = Blueprint("dashboard", __name__)


@bp.get("/admin/performance")
@page_route(*ADMIN)
def index() -> ResponseReturnValue:
    page = dashboard_page(DashboardState.from_args(request.args))
    return render_template("dashboard/index.html", page=page)


@bp.get("/admin/performance/explain/<stmt_id>")
@page_route(*ADMIN)
def explain(stmt_id: str) -> ResponseReturnValue:
    return render_template("dashboard/explain.html", plan=explain_statement(stmt_id))


@bp.post("/admin/performance/reset")
@page_route(*ADMIN)
def reset() -> ResponseReturnValue:
    if reset_statistics(actor()):
        flash("Performance statistics and cache counters were reset.", "success")
    else:
        flash("The statistics store (Redis) is unreachable: the reset was audited but nothing was cleared there.",
              "error")
    return redirect(url_for("dashboard.index"))


@bp.get("/metrics")
@api_route(*ADMIN)  # a Bearer token, as a scraper sends, not a session
def prometheus(actor):
    return Response(prometheus_text(), content_type=CONTENT_TYPE)
