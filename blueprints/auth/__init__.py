"""Sign in and sign out (session cookies for the pages).

May import: blueprints.core, blueprints.pages, models, grading; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user, login_user, logout_user

from blueprints.core.auth import authenticate
from blueprints.core.errors import AppError, ValidationError
from blueprints.core.operations.users import sign_out
from blueprints.core.security import sign_in
from blueprints.core.validation import Field, validate
from blueprints.pages.forms import actor, safe_next

bp = Blueprint("auth", __name__)
_USERNAME = Field("username", max_len=80)  # no real username is longer or holds control characters


def _safe_next(target: str | None) -> str:
    return safe_next(target, url_for("home.index"))


@bp.route("/login", methods=["GET", "POST"])
@sign_in
def login() -> ResponseReturnValue:
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    error, status = None, 200
    if request.method == "POST":
        try:
            username = validate(request.form, [_USERNAME]).get("username") or ""
            user = authenticate(username, request.form.get("password", ""))
        except ValidationError as exc:  # e.g. a NUL, which PostgreSQL would refuse to compare
            error, status = f"Username {exc.details['username'][0]}.", exc.status
        except AppError as exc:
            error, status = exc.message, 401
        else:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", error=error, username=request.form.get("username", "")), status


@bp.route("/logout", methods=["POST"])
def logout() -> ResponseReturnValue:
    if current_user.is_authenticated:
        sign_out(actor())  # ends copies of this cookie and other sessions too
    logout_user()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))
