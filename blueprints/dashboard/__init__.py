"""The admin performance dashboard: one page that answers "is Muster fast right now, and if not, why?"."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from blueprints.core.auth import page_route
from blueprints.core.perf.dbinfo import explain_statement
from blueprints.core.perf.page import dashboard_page
from blueprints.core.perf.report import DashboardState
from blueprints.core.perf.reset import reset_statistics
from blueprints.pages_common import actor
from models import ADMIN

bp = Blueprint("dashboard", __name__, url_prefix="/admin/performance")


@bp.get("")
@page_route(*ADMIN)
def index() -> ResponseReturnValue:
    page = dashboard_page(DashboardState.from_args(request.args))
    return render_template("dashboard/index.html", page=page)


@bp.get("/explain/<stmt_id>")
@page_route(*ADMIN)
def explain(stmt_id: str) -> ResponseReturnValue:
    return render_template("dashboard/explain.html", plan=explain_statement(stmt_id))


@bp.post("/reset")
@page_route(*ADMIN)
def reset() -> ResponseReturnValue:
    if reset_statistics(actor()):
        flash("Performance statistics and cache counters were reset.", "success")
    else:
        flash("The statistics store (Redis) is unreachable: the reset was audited but nothing was cleared there.",
              "error")
    return redirect(url_for("dashboard.index"))
