"""Cadet pages: the table, profiles, create/edit forms, bulk archive/restore, CSV/XLSX export, roster import.

May import: blueprints.core, blueprints.pages, models, grading; never the API or another area's blueprint.
"""

from __future__ import annotations

from urllib.parse import parse_qsl

from flask import Blueprint, Response, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue

from blueprints.cadets import roster
from blueprints.core.auth import page_route
from blueprints.core.errors import BadRequest, Conflict, ValidationError
from blueprints.core.liststate import ListState
from blueprints.core.operations.cadets import archive_cadets, create_cadet, restore_cadets, update_cadet
from blueprints.core.operations.grades import update_grade
from blueprints.core.operations.merits import record_merit
from blueprints.core.reads.cadets import (
    CADET_SPEC,
    CADETS_LIST,
    cadet_names,
    filter_options,
    get_cadet,
    iter_cadets,
    list_cadets,
    matching_cadet_ids,
)
from blueprints.core.roster_files import write_xlsx
from blueprints.core.validation import MAX_BULK
from blueprints.pages.csv_export import csv_response, csv_rows
from blueprints.pages.forms import (
    actor,
    back,
    checked_ids,
    form_data,
    form_page,
    next_url,
    plural,
    safe_next,
    this_url,
    with_query,
)
from blueprints.pages.page_cache import cached_page
from blueprints.pages.tables import list_state, render_table, table_page
from grading import display_grade
from models import ADMIN, CADET_STATUSES, GRADE_STATUSES, MERIT_TYPES, STAFF

bp = Blueprint("cadets", __name__, url_prefix="/cadets")
bp.register_blueprint(roster.bp)  # /cadets/import

PROFILE_FIELDS = ("student_id", "last_name", "first_name", "middle_name", "suffix", "company", "platoon", "course",
                  "year_level", "status", "email", "contact_number")
GRADE_FIELDS = ("prelim_score", "midterm_score", "final_score", "status")
MERIT_FIELDS = ("type", "points", "reason")
XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CONFIRM_NAMES = 20  # names listed on a bulk action's confirm page
CSV_COLUMNS = [
    ("student_id", lambda c: c["student_id"]), ("last_name", lambda c: c["last_name"]),
    ("first_name", lambda c: c["first_name"]), ("middle_name", lambda c: c["middle_name"]),
    ("suffix", lambda c: c["suffix"]), ("company", lambda c: c["company"]), ("platoon", lambda c: c["platoon"]),
    ("course", lambda c: c["course"]), ("year_level", lambda c: c["year_level"]), ("status", lambda c: c["status"]),
    ("email", lambda c: c["email"]), ("contact_number", lambda c: c["contact_number"]),
    ("archived", lambda c: "yes" if c["is_archived"] else "no"),
    ("final_grade", lambda c: display_grade(c["grades"]["final_grade"])),  # truncated: agrees with remarks
    ("transmuted_grade", lambda c: c["grades"]["transmuted_grade"]), ("remarks", lambda c: c["grades"]["remarks"]),
]


@bp.route("/")
@page_route(*STAFF)
@cached_page(CADETS_LIST)  # served warm before Flask: pages/fastpath.py
def index() -> str:
    state = list_state(CADET_SPEC)
    return render_table("cadets/_table.html", "Cadets", CADETS_LIST, state, lambda: {
        "table": table_page(state, list_cadets(state, clamp_page=True)), "options": filter_options()})


@bp.route("/export.csv")
@page_route(*STAFF)
def export() -> ResponseReturnValue:
    state = list_state(CADET_SPEC)
    rows = csv_rows(iter_cadets(state), CSV_COLUMNS)
    return csv_response([name for name, _ in CSV_COLUMNS], rows, "cadets.csv")


@bp.route("/export.xlsx")
@page_route(*STAFF)
def export_xlsx() -> ResponseReturnValue:
    """The CSV export's columns as a workbook; the roster import reads it back unchanged."""
    state = list_state(CADET_SPEC)
    body = write_xlsx([name for name, _ in CSV_COLUMNS], csv_rows(iter_cadets(state), CSV_COLUMNS))
    return Response(body, mimetype=XLSX_MIMETYPE, headers={
        "Content-Disposition": 'attachment; filename="cadets.xlsx"', "Cache-Control": "no-store"})


@bp.route("/new", methods=["GET", "POST"])
@page_route(*ADMIN)
def new() -> ResponseReturnValue:
    back_to = next_url(url_for("cadets.index"))
    if request.method == "GET":
        return form_page("cadets/form.html", values={"status": "Ongoing"}, **_form_context(None, back_to))
    try:
        cadet_id = create_cadet(actor(), form_data(*PROFILE_FIELDS))
    except (ValidationError, Conflict) as exc:
        return form_page("cadets/form.html", exc, **_form_context(None, back_to))
    flash("Cadet created.", "success")
    return redirect(url_for("cadets.show", cadet_id=cadet_id, next=back_to), 303)  # the new cadet, not the list


@bp.route("/<id:cadet_id>/edit", methods=["GET", "POST"])
@page_route(*ADMIN)
def edit(cadet_id: int) -> ResponseReturnValue:
    back_to = next_url(url_for("cadets.show", cadet_id=cadet_id))
    if request.method == "GET":
        cadet = get_cadet(cadet_id)
        return form_page("cadets/form.html", values=cadet, **_form_context(cadet, back_to))
    try:
        update_cadet(actor(), cadet_id, form_data(*PROFILE_FIELDS))
    except (ValidationError, Conflict) as exc:
        return form_page("cadets/form.html", exc, **_form_context(get_cadet(cadet_id), back_to))
    return back(back_to, "Cadet saved.")


def _form_context(cadet: dict | None, back_to: str) -> dict:
    return {"cadet": cadet, "back_to": back_to, "statuses": CADET_STATUSES, "options": filter_options()}


@bp.route("/<id:cadet_id>")
@page_route(*STAFF)
def show(cadet_id: int) -> ResponseReturnValue:
    return _cadet_page(cadet_id)


@bp.route("/<id:cadet_id>/grades", methods=["POST"])
@page_route(*ADMIN)
def save_grades(cadet_id: int) -> ResponseReturnValue:
    try:
        update_grade(actor(), cadet_id, form_data(*GRADE_FIELDS), version=request.form.get("version") or None)
    except Conflict as exc:
        # Someone saved first: show their (newer) values in the form, with ours in the message.
        return _cadet_page(cadet_id, grade_error=exc, mine=form_data(*GRADE_FIELDS))
    except ValidationError as exc:
        return _cadet_page(cadet_id, grade_error=exc, grade_values=request.form.to_dict())
    return back(url_for("cadets.show", cadet_id=cadet_id), "Grades saved.")


@bp.route("/<id:cadet_id>/merits", methods=["POST"])
@page_route(*STAFF)
def add_merit(cadet_id: int) -> ResponseReturnValue:
    try:
        record_merit(actor(), {**form_data(*MERIT_FIELDS), "cadet_id": cadet_id})
    except ValidationError as exc:
        return _cadet_page(cadet_id, merit_error=exc, merit_values=request.form.to_dict())
    kind = request.form.get("type", "merit")
    return back(url_for("cadets.show", cadet_id=cadet_id), f"{kind.capitalize()} recorded.")


def _cadet_page(cadet_id: int, *, grade_error=None, merit_error=None, grade_values=None, merit_values=None,
                mine=None) -> ResponseReturnValue:
    """The cadet page; its forms post with ?next=<list> and return to the page itself (form `next`)."""
    cadet = get_cadet(cadet_id)
    error = grade_error or merit_error
    back_to = safe_next(request.args.get("next"), url_for("cadets.index"))
    self_url = this_url() if request.method == "GET" else safe_next(
        request.form.get("next"), url_for("cadets.show", cadet_id=cadet_id, next=back_to))
    grades = cadet["grades"]
    return render_template(
        "cadets/show.html", cadet=cadet, back_to=back_to, self_url=self_url,
        grade_values=grade_values or grades, grade_version=grades["version"], grade_error=grade_error,
        mine=mine, merit_values=merit_values or {"type": "merit"}, merit_error=merit_error,
        grade_statuses=GRADE_STATUSES, merit_types=MERIT_TYPES,
    ), error.status if error else 200


@bp.route("/bulk", methods=["POST"])
@page_route(*ADMIN)
def bulk() -> ResponseReturnValue:
    action, back_to = request.form.get("action"), next_url(url_for("cadets.index"))
    if action not in ("archive", "restore"):
        raise BadRequest("Choose archive or restore.")
    ids = _matching_ids() if request.form.get("all_matching") else checked_ids()
    if not ids:
        return back(back_to, "Tick at least one cadet first.", "error")
    if len(ids) > MAX_BULK:
        return back(back_to, f"At most {MAX_BULK:,} cadets at once; narrow the filter first.", "error")
    if request.form.get("confirm") != "yes":
        return render_template("cadets/confirm_bulk.html", action=action, ids=ids, back_to=back_to,
                               names=cadet_names(ids, CONFIRM_NAMES))
    changed = (archive_cadets if action == "archive" else restore_cadets)(actor(), ids)
    verb = "Archived" if action == "archive" else "Restored"
    unchanged = len(ids) - changed
    extra = f" ({unchanged} already {'archived' if action == 'archive' else 'active'})" if unchanged else ""
    flash(f"{verb} {plural(changed, 'cadet')}{extra}.", "success")
    return redirect(back_to if action == "archive" else _without_archived_filter(back_to), 303)


def _without_archived_filter(list_url: str) -> str:
    """The list the restored cadets now belong to: the same filters without "archived only" (and page 1)."""
    def keep(name: str, value: str) -> bool:
        return name != "page" and not (name == "archived" and value in ("archived", "true"))

    return with_query(list_url, keep)


def _matching_ids() -> list[int]:
    """"Select all N matching": the list's filters and search travel in `match`; one more id than
    allowed is read so that too many can be refused instead of cut short."""
    state = ListState.from_args(dict(parse_qsl(request.form.get("match", ""))), CADET_SPEC)
    return sorted(matching_cadet_ids(state, MAX_BULK + 1))
