"""Everyone's own pages: profile, preferences, API tokens, and a cadet's own record.

May import: blueprints.core, blueprints.pages, models, grading; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user

from blueprints.core.auth import page_route
from blueprints.core.errors import NotFound, ValidationError
from blueprints.core.operations.tokens import issue_token, revoke_token
from blueprints.core.operations.users import change_password, update_preferences
from blueprints.core.reads.cadets import get_cadet
from blueprints.core.reads.tokens import list_tokens
from blueprints.core.validation import Field, validate
from blueprints.pages.forms import actor, back, form_data
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
        update_preferences(actor(), form_data("page_size", checkboxes=("dark_mode", "compact_mode")))
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


@bp.route("/me")
@page_route(*CADET)
def me() -> ResponseReturnValue:
    if current_user.cadet_id is None:
        raise NotFound("Your account is not linked to a cadet record yet; ask an admin.")
    return render_template("account/me.html", cadet=get_cadet(current_user.cadet_id))
