"""QR self check-in: staff show (and rotate) a day's code; a signed-in cadet scans it and checks in.

May import: blueprints.core, blueprints.pages, models, grading; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue

from blueprints.core.auth import page_route
from blueprints.core.clock import unit_time
from blueprints.core.errors import ValidationError
from blueprints.core.operations.checkin import check_in, rotate_checkin_code, set_checkin_cutoff
from blueprints.core.reads.checkin import CheckInRefused, check_in_page, get_checkin_code
from blueprints.core.reads.training import get_training_day
from blueprints.pages.forms import actor, back, form_data, form_page
from models import CADET, STAFF, utcnow

bp = Blueprint("checkin", __name__)


@bp.route("/check-in/<id:day_id>")
@page_route(*CADET)
def scan(day_id: int) -> ResponseReturnValue:
    try:
        page = check_in_page(actor(), request.args.get("t"), day_id, utcnow())
    except CheckInRefused as exc:
        return _refused(exc)
    return render_template("checkin/scan.html", **page)


@bp.route("/check-in/<id:day_id>", methods=["POST"])
@page_route(*CADET)
def confirm(day_id: int) -> ResponseReturnValue:
    token = request.form.get("t", "")
    try:
        done = check_in(actor(), {"token": token}, day_id=day_id)
    except CheckInRefused as exc:
        return _refused(exc)
    when = unit_time(done["time_in"], "%H:%M")
    message = (f"You were already checked in ({done['status']}, {when})." if done["already_checked_in"]
               else f"Checked in: {done['status']} at {when}.")
    return back(url_for("checkin.scan", day_id=day_id, t=token), message)


def _refused(exc: CheckInRefused) -> ResponseReturnValue:
    return render_template("checkin/refused.html", message=exc.message), exc.status


@bp.route("/training-days/<id:day_id>/qr")
@page_route(*STAFF)
def qr(day_id: int) -> ResponseReturnValue:
    return _qr_page(day_id)


@bp.route("/training-days/<id:day_id>/qr/rotate", methods=["POST"])
@page_route(*STAFF)
def rotate(day_id: int) -> ResponseReturnValue:
    rotate_checkin_code(actor(), day_id)
    return back(url_for("checkin.qr", day_id=day_id), "New code made; earlier codes no longer work.")


@bp.route("/training-days/<id:day_id>/qr/cutoff", methods=["POST"])
@page_route(*STAFF)
def cutoff(day_id: int) -> ResponseReturnValue:
    try:
        set_checkin_cutoff(actor(), day_id, form_data("checkin_cutoff"))
    except ValidationError as exc:
        return _qr_page(day_id, exc)
    return back(url_for("checkin.qr", day_id=day_id), "Late cut-off saved.")


def _qr_page(day_id: int, error: ValidationError | None = None) -> ResponseReturnValue:
    return form_page("training/qr.html", error, day=get_training_day(day_id), code=get_checkin_code(day_id))
