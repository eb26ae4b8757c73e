"""Training days and the attendance sheet. Staff schedule days and take attendance; admins delete days."""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for

from blueprints.core.auth import ADMIN, STAFF, page_route
from blueprints.core.errors import ValidationError
from blueprints.core.operations.attendance import save_sheet
from blueprints.core.operations.training import create_training_day, delete_training_day, update_training_day
from blueprints.core.reads.cadets import filter_options
from blueprints.core.reads.checkin import get_checkin_code
from blueprints.core.reads.training import (
    ATTENDANCE_SPEC,
    TRAINING_DAY_SPEC,
    attendance_sheet,
    get_training_day,
    list_attendance,
    list_training_days,
)
from blueprints.pages_common import (
    actor,
    back,
    form_data,
    form_page,
    list_state,
    next_url,
    plural,
    table_page,
    this_url,
)
from models import ATTENDANCE_STATUSES

bp = Blueprint("training", __name__, url_prefix="/training-days")

DAY_FIELDS = ("date", "title", "description", "location")


@bp.route("/")
@page_route(*STAFF)
def index():
    state = list_state(TRAINING_DAY_SPEC)
    return render_template("training/list.html", table=table_page(state, list_training_days(state, clamp_page=True)))


@bp.route("/new", methods=["GET", "POST"])
@page_route(*STAFF)
def new():
    back_to = next_url(url_for("training.index"))
    if request.method == "GET":
        return form_page("training/form.html", day=None, back_to=back_to)
    try:
        day_id = create_training_day(actor(), form_data(*DAY_FIELDS))
    except ValidationError as exc:
        return form_page("training/form.html", exc, day=None, back_to=back_to)
    return back(url_for("training.show", day_id=day_id), "Training day added; attendance scores were recomputed.")


@bp.route("/<int:day_id>")
@page_route(*STAFF)
def show(day_id: int):
    state = list_state(ATTENDANCE_SPEC, training_day_id=day_id)
    table = table_page(state, list_attendance(state, clamp_page=True), hidden=("training_day_id",))
    return render_template("training/show.html", day=get_training_day(day_id), table=table,
                           options=filter_options(), statuses=ATTENDANCE_STATUSES, code=get_checkin_code(day_id))


@bp.route("/<int:day_id>/edit", methods=["GET", "POST"])
@page_route(*STAFF)
def edit(day_id: int):
    back_to = next_url(url_for("training.show", day_id=day_id))
    if request.method == "GET":
        day = get_training_day(day_id)
        return form_page("training/form.html", day=day, values=day, back_to=back_to)
    try:
        update_training_day(actor(), day_id, form_data(*DAY_FIELDS))
    except ValidationError as exc:
        return form_page("training/form.html", exc, day=get_training_day(day_id), back_to=back_to)
    return back(back_to, "Training day saved.")


@bp.route("/<int:day_id>/delete", methods=["GET", "POST"])
@page_route(*ADMIN)
def delete(day_id: int):
    if request.method == "GET":
        return render_template("training/confirm_delete.html", day=get_training_day(day_id))
    delete_training_day(actor(), day_id)
    return back(url_for("training.index"), "Training day deleted with its attendance; grades were recomputed.")


@bp.route("/<int:day_id>/sheet", methods=["GET", "POST"])
@page_route(*STAFF)
def sheet(day_id: int):
    if request.method == "GET":
        return _sheet_page(day_id)
    try:
        counts = save_sheet(actor(), day_id, _posted_statuses())
    except ValidationError as exc:
        return _sheet_page(day_id, exc)
    return back(url_for("training.sheet", day_id=day_id),
                f"Attendance saved: {plural(counts['created'], 'new record')}, {counts['updated']:,} changed.")


def _posted_statuses():
    """The sheet's statuses; the "mark all present" button posts every listed cadet as present."""
    if request.form.get("mark_all") == "present":
        return {name: "present" for name in request.form if name.startswith("status-")}
    return request.form


def _sheet_page(day_id: int, error: ValidationError | None = None):
    company, platoon = (request.args.get(k, "").strip()[:100] or None for k in ("company", "platoon"))
    return render_template(
        "training/sheet.html", day=get_training_day(day_id), rows=attendance_sheet(day_id, company, platoon),
        company=company, platoon=platoon, options=filter_options(), statuses=ATTENDANCE_STATUSES,
        error=error, values=request.form if error else {}, self_url=this_url(),
    ), error.status if error else 200
