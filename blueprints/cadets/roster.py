"""Roster import pages (admin): upload a .xlsx or .csv, review the columns and every row, import all or none."""

from __future__ import annotations

from flask import Blueprint, current_app, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user
from werkzeug.exceptions import RequestEntityTooLarge

from blueprints.core.auth import page_route
from blueprints.core.errors import AppError, Conflict, ValidationError
from blueprints.core.roster import FIELD_LABELS, REQUIRED, guess_mapping
from blueprints.core.roster_import import (
    commit_roster,
    import_summary,
    mapping_from_form,
    open_sheet,
    preview_roster,
    read_upload,
    seal_sheet,
)
from blueprints.core.validation import MAX_BULK
from blueprints.pages.forms import actor, back, form_page
from models import ADMIN

bp = Blueprint("roster", __name__, url_prefix="/import")


@bp.url_value_preprocessor
def _allow_sealed_sheet(endpoint, values) -> None:
    # The review form carries the parsed file in one field, which can pass Flask's 500 kB per-field
    # default; the body as a whole is still capped by MAX_CONTENT_LENGTH. (Runs before CSRF reads the form.)
    request.max_form_memory_size = current_app.config["MAX_CONTENT_LENGTH"]


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    limit = current_app.config["MAX_CONTENT_LENGTH"] / (1024 * 1024)
    sent = f"{request.content_length / (1024 * 1024):.1f} MB" if request.content_length else "too large"
    message = (f"The file is too large ({sent}); the limit is {limit:g} MB. Save only the roster sheet, "
               "or split it into smaller files.")
    # Not form_page: it would read the form again, which raises this very error.
    return render_template("cadets/import.html", message=message, errors={"file": [message]}, values={},
                           **_upload_context()), 413


def _upload_context() -> dict:
    return {"labels": FIELD_LABELS, "required": REQUIRED, "max_rows": MAX_BULK}


@bp.route("", methods=["GET"])
@page_route(*ADMIN)
def upload_form() -> ResponseReturnValue:
    return form_page("cadets/import.html", **_upload_context())


@bp.route("", methods=["POST"])
@page_route(*ADMIN)
def upload() -> ResponseReturnValue:
    try:
        sheet = read_upload(request.files.get("file"))
    except ValidationError as exc:
        return form_page("cadets/import.html", exc, **_upload_context())
    return _review_page(preview_roster(sheet, guess_mapping(sheet.headers)))


@bp.route("/review", methods=["POST"])
@page_route(*ADMIN)
def review() -> ResponseReturnValue:
    sheet = open_sheet(request.form.get("sheet", ""), current_user.id)
    mapping = mapping_from_form(request.form, len(sheet.headers))
    on_existing = request.form.get("on_existing", "skip")
    if request.form.get("action") != "import":
        return _review_page(preview_roster(sheet, mapping, on_existing))
    try:
        result = commit_roster(actor(), sheet, mapping, on_existing)
    except (ValidationError, Conflict) as exc:
        return _review_page(preview_roster(sheet, mapping, on_existing, exc), exc)
    return back(url_for("cadets.index"), import_summary(sheet.filename, result))


def _review_page(preview, error: AppError | None = None) -> ResponseReturnValue:
    sealed = seal_sheet(preview.sheet, current_user.id)
    status = error.status if error else 200  # the upload itself was fine; row problems are shown, not refused
    return render_template("cadets/import_review.html", preview=preview, sealed=sealed, labels=FIELD_LABELS,
                           required=REQUIRED), status
