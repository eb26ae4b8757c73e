"""The merit/demerit log. Staff record entries on a cadet's page; admins may delete one (a correction).

May import: blueprints.core, blueprints.pages, models, grading; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint, render_template, url_for
from flask.typing import ResponseReturnValue

from blueprints.core.auth import page_route
from blueprints.core.operations.merits import delete_merit
from blueprints.core.reads.cadets import filter_options
from blueprints.core.reads.merits import MERIT_SPEC, list_merits
from blueprints.pages.forms import actor, back
from blueprints.pages.tables import list_state, table_page
from models import ADMIN, STAFF

bp = Blueprint("merits", __name__, url_prefix="/merits")


@bp.route("/")
@page_route(*STAFF)
def index() -> ResponseReturnValue:
    state = list_state(MERIT_SPEC)
    table = table_page(state, list_merits(state, clamp_page=True))
    return render_template("merits/list.html", table=table, options=filter_options())


@bp.route("/<id:log_id>/delete", methods=["POST"])
@page_route(*ADMIN)
def delete(log_id: int) -> ResponseReturnValue:
    delete_merit(actor(), log_id)
    return back(url_for("merits.index"), "Entry deleted; the cadet's totals were recounted.")
