"""Excuse letters (a cadet sends one from My record, in the account area): staff review the queue,
open a letter beside the cadet's attendance for that day, and approve or reject it; the file is
shown only to its cadet and to staff.

May import: blueprints.core, blueprints.pages, models, grading; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue

from blueprints.core.auth import page_route
from blueprints.core.errors import ValidationError
from blueprints.core.operations.excuses import decide_excuse
from blueprints.core.reads.cadets import filter_options
from blueprints.core.reads.excuses import EXCUSE_SPEC, check_can_see, get_excuse, get_excuse_file, list_excuses
from blueprints.core.security import file_response
from blueprints.pages.forms import actor, back, form_data
from blueprints.pages.tables import list_state, table_page
from models import ANYONE, EXCUSE_STATUSES, STAFF

bp = Blueprint("excuses", __name__, url_prefix="/excuse-letters")


@bp.route("/")
@page_route(*STAFF)
def index() -> ResponseReturnValue:
    state = list_state(EXCUSE_SPEC)
    table = table_page(state, list_excuses(state, clamp_page=True))
    return render_template("excuses/list.html", table=table, options=filter_options(), statuses=EXCUSE_STATUSES)


@bp.route("/<id:letter_id>")
@page_route(*ANYONE)
def show(letter_id: int) -> ResponseReturnValue:
    return _letter_page(letter_id)


def _letter_page(letter_id: int, error: ValidationError | None = None) -> ResponseReturnValue:
    letter = get_excuse(letter_id)
    check_can_see(actor(), letter)
    return render_template("excuses/show.html", letter=letter, error=error,
                           values=request.form if error else {}), (error.status if error else 200)


@bp.route("/<id:letter_id>/<any(approve, reject):decision>", methods=["POST"])
@page_route(*STAFF)
def decide(letter_id: int, decision: str) -> ResponseReturnValue:
    try:
        decide_excuse(actor(), letter_id, decision == "approve", form_data("note"))
    except ValidationError as exc:
        return _letter_page(letter_id, exc)
    message = ("Approved: the day is now excused and the grade recomputed." if decision == "approve"
               else "Rejected; the cadet was told why.")
    return back(url_for("excuses.index"), message)


@bp.route("/<id:letter_id>/file")
@page_route(*ANYONE)
def file(letter_id: int) -> ResponseReturnValue:
    """The file as uploaded (a download); ?view=1: a photo's shrunk copy, shown inline."""
    return file_response(*get_excuse_file(actor(), letter_id, original=request.args.get("view") != "1"))
