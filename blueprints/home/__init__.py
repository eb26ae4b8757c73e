"""The landing page: staff go to their tables, cadets to their own record."""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from blueprints.core.auth import page_route

bp = Blueprint("home", __name__)


@bp.route("/")
@page_route()
def index():
    return render_template("home/index.html", user=current_user)
