"""Print-ready pages: a company's or platoon's grade sheet for the commander to sign, and a cadet's record.

May import: blueprints.core, blueprints.pages, models, grading; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint, render_template
from flask.typing import ResponseReturnValue
from flask_login import current_user

from blueprints.core.auth import page_route
from blueprints.core.errors import Forbidden, ValidationError
from blueprints.core.reads.cadets import filter_options
from blueprints.core.reads.printing import cadet_record, grade_sheet
from blueprints.pages.forms import text_arg
from models import STAFF, utcnow

bp = Blueprint("printing", __name__, url_prefix="/print")


@bp.route("/grades")
@page_route(*STAFF)
def grades() -> ResponseReturnValue:
    company, platoon = (text_arg(k) for k in ("company", "platoon"))
    sheet, error = None, None
    if company:
        try:
            sheet = grade_sheet(company, platoon, utcnow().date())
        except ValidationError as exc:
            error = exc
    return render_template("print/grades.html", sheet=sheet, company=company, platoon=platoon,
                           options=filter_options(), error=error), error.status if error else 200


@bp.route("/cadets/<id:cadet_id>")
@page_route()
def cadet(cadet_id: int) -> ResponseReturnValue:
    if not current_user.is_staff and current_user.cadet_id != cadet_id:
        raise Forbidden("You can print only your own record.")
    return render_template("print/cadet.html", **cadet_record(cadet_id, utcnow().date()))
