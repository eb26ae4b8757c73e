"""Sign in and sign out (session cookies for the pages)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_user, logout_user

from blueprints.core.auth import authenticate
from blueprints.core.errors import AppError
from blueprints.core.operations.users import sign_out
from blueprints.core.security import sign_in
from blueprints.pages_common import actor, safe_next

bp = Blueprint("auth", __name__)


def _safe_next(target: str | None) -> str:
    return safe_next(target, url_for("home.index"))


@bp.route("/login", methods=["GET", "POST"])
@sign_in
def login():
    if current_user.is_authenticated and request.method == "GET":
        return redirect(_safe_next(request.args.get("next")))
    error = None
    if request.method == "POST":
        try:
            user = authenticate(request.form.get("username", ""), request.form.get("password", ""))
        except AppError as exc:
            error = exc.message
        else:
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
    status = 401 if error else 200
    return render_template("auth/login.html", error=error, username=request.form.get("username", "")), status


@bp.route("/logout", methods=["POST"])
def logout():
    if current_user.is_authenticated:
        sign_out(actor())  # ends copies of this cookie and other sessions too
    logout_user()
    flash("You have signed out.", "info")
    return redirect(url_for("auth.login"))
