"""Training days and the attendance sheet. Staff schedule days and take attendance; admins delete days.

May import: blueprints.core, blueprints.pages, models, grading; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint, flash, jsonify, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_wtf.csrf import generate_csrf

from blueprints.core.auth import page_json_route, page_route
from blueprints.core.errors import AppError, ValidationError, error_body
from blueprints.core.idempotency import run_once
from blueprints.core.operations.attendance import mark_present_by_student_id, save_sheet, sync_sheet
from blueprints.core.operations.training import create_training_day, delete_training_day, update_training_day
from blueprints.core.reads.attendance import ATTENDANCE_SPEC, attendance_sheet, list_attendance
from blueprints.core.reads.cadets import filter_options
from blueprints.core.reads.checkin import get_checkin_code
from blueprints.core.reads.training import TRAINING_DAY_SPEC, get_training_day, list_training_days
from blueprints.pages.forms import actor, back, form_data, form_page, next_url, plural, with_query
from blueprints.pages.tables import list_state, table_page
from blueprints.training.sheet import EVERY_COMPANY, SheetChoice, remember_choice, remembered_choice
from models import ADMIN, ATTENDANCE_STATUSES, STAFF

bp = Blueprint("training", __name__, url_prefix="/training-days")

DAY_FIELDS = ("date", "title", "description", "location")


@bp.route("/")
@page_route(*STAFF)
def index() -> ResponseReturnValue:
    state = list_state(TRAINING_DAY_SPEC)
    return render_template("training/list.html", table=table_page(state, list_training_days(state, clamp_page=True)))


@bp.route("/new", methods=["GET", "POST"])
@page_route(*STAFF)
def new() -> ResponseReturnValue:
    back_to = next_url(url_for("training.index"))
    if request.method == "GET":
        return form_page("training/form.html", day=None, back_to=back_to)
    try:
        day_id = create_training_day(actor(), form_data(*DAY_FIELDS))
    except ValidationError as exc:
        return form_page("training/form.html", exc, day=None, back_to=back_to)
    flash("Training day added; attendance scores were recomputed. Take attendance below.", "success")
    return redirect(url_for("training.sheet", day_id=day_id), 303)  # its sheet, where staff go next


@bp.route("/<id:day_id>")
@page_route(*STAFF)
def show(day_id: int) -> ResponseReturnValue:
    state = list_state(ATTENDANCE_SPEC, training_day_id=day_id)
    table = table_page(state, list_attendance(state, clamp_page=True), hidden=("training_day_id",))
    return render_template("training/show.html", day=get_training_day(day_id), table=table,
                           options=filter_options(), statuses=ATTENDANCE_STATUSES, code=get_checkin_code(day_id))


@bp.route("/<id:day_id>/edit", methods=["GET", "POST"])
@page_route(*STAFF)
def edit(day_id: int) -> ResponseReturnValue:
    back_to = next_url(url_for("training.show", day_id=day_id))
    if request.method == "GET":
        day = get_training_day(day_id)
        return form_page("training/form.html", day=day, values=day, back_to=back_to)
    try:
        update_training_day(actor(), day_id, form_data(*DAY_FIELDS))
    except ValidationError as exc:
        return form_page("training/form.html", exc, day=get_training_day(day_id), back_to=back_to)
    return back(back_to, "Training day saved.")


@bp.route("/<id:day_id>/delete", methods=["GET", "POST"])
@page_route(*ADMIN)
def delete(day_id: int) -> ResponseReturnValue:
    if request.method == "GET":
        return render_template("training/confirm_delete.html", day=get_training_day(day_id))
    delete_training_day(actor(), day_id)
    return back(url_for("training.index"), "Training day deleted with its attendance; grades were recomputed.")


@bp.route("/<id:day_id>/sheet", methods=["GET", "POST"])
@page_route(*STAFF)
def sheet(day_id: int) -> ResponseReturnValue:
    if request.method == "GET":
        return _open_sheet(day_id, SheetChoice.from_args(request.args))
    fill = "present" if request.form.get("mark_all") == "present" else None
    try:
        counts = save_sheet(actor(), day_id, request.form, fill_blanks=fill)
    except ValidationError as exc:
        # The rows with errors must be on the page: a post without a choice shows every company.
        choice = SheetChoice.from_args(request.args)
        return _sheet_page(day_id, choice if choice.is_made else SheetChoice(EVERY_COMPANY), error=exc)
    return back(url_for("training.sheet", day_id=day_id),
                f"Attendance saved: {plural(counts['created'], 'new record')}, {counts['updated']:,} changed.")


@bp.route("/<id:day_id>/sheet/quick", methods=["POST"])
@page_route(*STAFF)
def quick_entry(day_id: int) -> ResponseReturnValue:
    """One student id (typed or scanned) marks that cadet present; JSON for the script, a redirect without it."""
    back_to = next_url(url_for("training.sheet", day_id=day_id))
    try:
        result = mark_present_by_student_id(actor(), day_id, request.form.get("student_id", ""))
    except AppError as exc:
        if _wants_json():
            return error_body(exc.status, exc.code, exc.message, exc.details), exc.status
        if not isinstance(exc, ValidationError):
            raise
        return _sheet_page(day_id, SheetChoice.from_url(back_to), quick_error=exc, self_url=back_to)
    if _wants_json():
        return {"data": result}
    flash(result["message"], "success" if result["created"] else "info")
    return redirect(with_query(back_to, quick="1"), 303)  # quick=1: the input is focused for the next id


@bp.route("/<id:day_id>/sheet/sync", methods=["GET", "POST"])
@page_json_route(*STAFF)
def sync(day_id: int) -> ResponseReturnValue:
    """The offline sheet's queue (static/js/offline.js): GET says who is signed in and gives a CSRF token;
    POST sends one queued batch under its Idempotency-Key, so a resent batch is applied once."""
    if request.method == "GET":
        return {"data": {"user_id": actor().id, "csrf_token": generate_csrf()}}
    return run_once(actor().id, lambda: jsonify(data=sync_sheet(actor(), day_id, request.get_json(silent=True))),
                    required=True)


def _wants_json() -> bool:
    return request.accept_mimetypes.best == "application/json"


def _open_sheet(day_id: int, choice: SheetChoice) -> ResponseReturnValue:
    """Open on the user's last company/platoon when the URL names none; remember an explicit one."""
    if not choice.is_made and (saved := remembered_choice()):
        return redirect(url_for("training.sheet", day_id=day_id, **saved.remembered_params), 303)
    remember_choice(choice)
    return _sheet_page(day_id, choice)


def _sheet_page(day_id: int, choice: SheetChoice, *, error: ValidationError | None = None,
                quick_error: ValidationError | None = None, self_url: str | None = None) -> ResponseReturnValue:
    rows = attendance_sheet(day_id, choice.company_filter, choice.platoon, choice.search) if choice.is_made else None
    failure = error or quick_error
    return render_template(
        "training/sheet.html", day=get_training_day(day_id), rows=rows, choice=choice,
        unrecorded=sum(1 for r in rows or () if not r["status"]), options=filter_options(),
        statuses=ATTENDANCE_STATUSES, error=error, values=request.form if error else {},
        quick_error=quick_error, quick_value=request.form.get("student_id", "") if quick_error else "",
        focus_quick=bool(quick_error) or request.args.get("quick") == "1",
        self_url=self_url or url_for("training.sheet", day_id=day_id, **choice.params),
        every_company=EVERY_COMPANY,
    ), failure.status if failure else 200
