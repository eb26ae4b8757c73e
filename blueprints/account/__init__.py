"""Everyone's own pages: profile, preferences, API tokens, and a cadet's own record.

May import: blueprints.core, blueprints.pages, models, grading; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user
from werkzeug.exceptions import RequestEntityTooLarge

from blueprints.core.auth import page_route
from blueprints.core.clock import unit_today
from blueprints.core.errors import AppError, Conflict, NotFound, ValidationError
from blueprints.core.letter_files import MAX_FILE_BYTES, UPLOAD_LIMIT
from blueprints.core.operations.excuses import submit_excuse
from blueprints.core.operations.notifications import mark_read
from blueprints.core.operations.tokens import issue_token, revoke_token
from blueprints.core.operations.users import change_password, update_preferences
from blueprints.core.reads.cadets import get_cadet
from blueprints.core.reads.excuses import EXCUSE_SPEC, excusable_days, list_excuses
from blueprints.core.reads.notifications import NOTIFICATION_SPEC, list_notifications
from blueprints.core.reads.tokens import list_tokens
from blueprints.core.validation import Field, validate
from blueprints.pages.forms import actor, back, checked_ids, form_data, plural
from blueprints.pages.tables import list_state, table_page
from models import CADET, PAGE_SIZES

bp = Blueprint("account", __name__, url_prefix=None)
_TOKEN_NAME = Field("name", max_len=100)  # as the API checks it: no control characters (PostgreSQL refuses NUL)


@bp.route("/account")
@page_route()
def profile() -> ResponseReturnValue:
    return _profile_page()


@bp.route("/account/preferences", methods=["POST"])
@page_route()
def preferences() -> ResponseReturnValue:
    try:
        prefs = form_data("page_size", checkboxes=("dark_mode", "compact_mode", "email_notifications"))
        update_preferences(actor(), prefs)
    except ValidationError as exc:
        return _profile_page(prefs_error=exc)
    return back(url_for("account.profile"), "Preferences saved.")


@bp.route("/account/password", methods=["POST"])
@page_route()
def password() -> ResponseReturnValue:
    new, confirm = request.form.get("new_password", ""), request.form.get("confirm_password", "")
    try:
        if new != confirm:
            raise ValidationError("The new passwords do not match.", {"confirm_password": ["does not match"]})
        user = change_password(actor(), request.form.get("current_password", ""), new)
    except ValidationError as exc:
        return _profile_page(password_error=exc)
    login_user(user)  # re-issued with the new session version: only the other sessions end
    return back(url_for("account.profile"), "Password changed; your other sessions were signed out.")


def _profile_page(status: int = 200, **context) -> ResponseReturnValue:
    error = context.get("prefs_error") or context.get("password_error")
    return render_template("account/profile.html", page_sizes=PAGE_SIZES, **context), (
        error.status if error else status)


@bp.route("/account/tokens", methods=["GET", "POST"])
@page_route()
def tokens() -> ResponseReturnValue:
    if request.method == "GET":
        return _tokens_page()
    try:
        name = validate(request.form, [_TOKEN_NAME]).get("name") or ""
        token = issue_token(actor(), name)
    except ValidationError as exc:
        return _tokens_page(error=exc)
    # Shown once, in this response only; never stored in the session or redirected through a URL.
    return _tokens_page(new_token=token, status=201)


@bp.route("/account/tokens/<id:token_id>/revoke", methods=["POST"])
@page_route()
def token_revoke(token_id: int) -> ResponseReturnValue:
    revoke_token(actor(), token_id)
    return back(url_for("account.tokens"), "Token revoked.")


def _tokens_page(error: ValidationError | None = None, new_token: str | None = None,
                 status: int = 200) -> ResponseReturnValue:
    response = render_template("account/tokens.html", tokens=list_tokens(current_user.id), error=error,
                               new_token=new_token)
    headers = {"Cache-Control": "no-store"} if new_token else {}
    return response, error.status if error else status, headers


@bp.route("/notifications")
@page_route()
def notifications() -> ResponseReturnValue:
    state = list_state(NOTIFICATION_SPEC)
    table = table_page(state, list_notifications(current_user.id, state, clamp_page=True))
    return render_template("account/notifications.html", table=table)


@bp.route("/notifications/read", methods=["POST"])
@page_route()
def notifications_read() -> ResponseReturnValue:
    ids = checked_ids()
    count = mark_read(actor(), ids if ids else None)
    return back(url_for("account.notifications"), f"{plural(count, 'notification')} marked read.")


@bp.route("/me")
@page_route(*CADET)
def me() -> ResponseReturnValue:
    return _my_record()


@bp.url_value_preprocessor
def _allow_letter_upload(endpoint, values) -> None:
    # Before CSRF reads the form: a letter may be 5 MB, more than the app's default body cap.
    if endpoint == "account.excuse_submit":
        request.max_content_length = UPLOAD_LIMIT


@bp.errorhandler(RequestEntityTooLarge)
def _too_large(exc: RequestEntityTooLarge) -> ResponseReturnValue:
    if request.endpoint != "account.excuse_submit":
        return exc
    return _my_record(ValidationError("The file is over 5 MB.", {"file": ["must be at most 5 MB"]}), {})


@bp.route("/me/excuse-letters", methods=["POST"])
@page_route(*CADET)
def excuse_submit() -> ResponseReturnValue:
    try:
        upload = request.files.get("file")
        content = upload.read(MAX_FILE_BYTES + 1) if upload is not None and upload.filename else None
        submit_excuse(actor(), form_data("training_day_id", "reason"), upload.filename if upload else None, content)
    except (ValidationError, Conflict, NotFound) as exc:
        return _my_record(exc, request.form.to_dict())
    return back(url_for("account.me"), "Excuse letter sent; staff will review it.")


def _my_record(error: AppError | None = None, values: dict | None = None) -> ResponseReturnValue:
    """The cadet's own record, their excuse letters and the form to send one (errors beside its fields)."""
    cadet_id = current_user.cadet_id
    if cadet_id is None:
        raise NotFound("Your account is not linked to a cadet record yet; ask an admin.")
    letters = list_excuses(list_state(EXCUSE_SPEC, cadet_id=cadet_id))["data"]
    days = [(d["id"], f"{d['date']:%Y-%m-%d} · {d['title']} ({d['status'] or 'no record'})")
            for d in excusable_days(cadet_id, unit_today())]
    return render_template("account/me.html", cadet=get_cadet(cadet_id), letters=letters, excusable=days,
                           excuse_error=error,
                           excuse_values=values or {}), (error.status if error else 200)
