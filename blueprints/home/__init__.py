"""The landing page: staff go to their tables, cadets to their own record.

May import: blueprints.core, blueprints.pages, models, grading; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint, redirect, render_template, url_for
from flask.typing import ResponseReturnValue
from flask_login import current_user

from blueprints.core.auth import page_route
from blueprints.core.reads.settings import get_settings
from models import CADET_ROLE

bp = Blueprint("home", __name__)


@bp.route("/")
@page_route()
def index() -> ResponseReturnValue:
    if current_user.role == CADET_ROLE:
        return redirect(url_for("account.me"))
    return render_template("home/index.html", user=current_user, settings=get_settings())
