"""Admin pages: users, system settings, audit log.

May import: blueprints.core, blueprints.pages, models, grading; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import login_user

from blueprints.core.auth import page_route
from blueprints.core.errors import Conflict, ValidationError
from blueprints.core.operations.settings import update_settings
from blueprints.core.operations.users import create_user, reset_password, update_user
from blueprints.core.reads.audit import AUDIT_SPEC, audit_filter_options, list_audit_described
from blueprints.core.reads.settings import get_settings
from blueprints.core.reads.users import USER_SPEC, get_user, list_users
from blueprints.pages.forms import actor, back, form_data, form_page, next_url
from blueprints.pages.tables import list_state, table_page
from models import ADMIN, AUDIT_OPERATIONS, ROLES, SEMESTERS, STAFF_ROLE

bp = Blueprint("admin", __name__, url_prefix="/admin")

ROLE_CHOICES = [(r, r.replace("_", " ")) for r in ROLES]


@bp.route("/users")
@page_route(*ADMIN)
def users() -> ResponseReturnValue:
    state = list_state(USER_SPEC)
    return render_template("admin/users.html", table=table_page(state, list_users(state, clamp_page=True)),
                           roles=ROLE_CHOICES)


@bp.route("/users/new", methods=["GET", "POST"])
@page_route(*ADMIN)
def user_new() -> ResponseReturnValue:
    back_to = next_url(url_for("admin.users"))
    if request.method == "GET":
        return form_page("admin/user_new.html", values={"role": STAFF_ROLE}, roles=ROLE_CHOICES,
                         back_to=back_to)
    try:
        create_user(actor(), form_data("username", "email", "role", "password", "cadet_id"))
    except (ValidationError, Conflict) as exc:
        return form_page("admin/user_new.html", exc, roles=ROLE_CHOICES, back_to=back_to)
    return back(back_to, f"User {request.form.get('username', '').strip()} created.")


@bp.route("/users/<id:user_id>", methods=["GET", "POST"])
@page_route(*ADMIN)
def user_edit(user_id: int) -> ResponseReturnValue:
    back_to = next_url(url_for("admin.users"))
    if request.method == "GET":
        user = get_user(user_id)
        return form_page("admin/user_edit.html", user=user, values=user, roles=ROLE_CHOICES, back_to=back_to,
                         revoke_tokens=True)
    try:
        update_user(actor(), user_id, form_data("role", "email", "cadet_id", checkboxes=("is_active",)))
    except (ValidationError, Conflict) as exc:
        return form_page("admin/user_edit.html", exc, user=get_user(user_id), roles=ROLE_CHOICES, back_to=back_to,
                         values={**request.form.to_dict(), "is_active": "is_active" in request.form},
                         revoke_tokens=True)
    return back(back_to, "User saved.")


@bp.route("/users/<id:user_id>/password", methods=["POST"])
@page_route(*ADMIN)
def user_password(user_id: int) -> ResponseReturnValue:
    revoke_tokens = "revoke_tokens" in request.form
    try:
        user = reset_password(actor(), user_id, request.form.get("new_password", ""), revoke_tokens=revoke_tokens)
    except ValidationError as exc:
        user = get_user(user_id)
        return form_page("admin/user_edit.html", user=user, values=user, roles=ROLE_CHOICES,
                         back_to=next_url(url_for("admin.users")), password_error=exc, status=exc.status,
                         revoke_tokens=revoke_tokens)
    if user_id == actor().id:
        login_user(user)  # an admin resetting their own password keeps this session (its new version)
    tokens = " and API tokens revoked" if revoke_tokens else ""
    return back(url_for("admin.users"), f"Password reset; any lockout was lifted, sessions signed out{tokens}.")


@bp.route("/settings", methods=["GET", "POST"])
@page_route(*ADMIN)
def settings() -> ResponseReturnValue:
    if request.method == "GET":
        return form_page("admin/settings.html", values=get_settings(), semesters=SEMESTERS)
    try:
        update_settings(actor(), form_data("school_year", "semester", "unit_name"))
    except ValidationError as exc:
        return form_page("admin/settings.html", exc, semesters=SEMESTERS)
    return back(url_for("admin.settings"), "Settings saved.")


@bp.route("/audit")
@page_route(*ADMIN)
def audit() -> ResponseReturnValue:
    state = list_state(AUDIT_SPEC)
    return render_template("admin/audit.html", table=table_page(state, list_audit_described(state, clamp_page=True)),
                           operations=AUDIT_OPERATIONS, options=audit_filter_options())
