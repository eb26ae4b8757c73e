"""The grades table and its CSV export.

May import: blueprints.core, blueprints.pages, models, grading; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint
from flask.typing import ResponseReturnValue

from blueprints.core.auth import page_route
from blueprints.core.reads.cadets import filter_options
from blueprints.core.reads.grades import GRADE_SPEC, GRADES_LIST, iter_grades, list_grades
from blueprints.pages.csv_export import csv_response, csv_rows
from blueprints.pages.page_cache import cached_page
from blueprints.pages.tables import list_state, render_table, table_page
from grading import display_grade
from models import STAFF

bp = Blueprint("grades", __name__, url_prefix="/grades")


def _g(key: str, truncate: bool = False):
    """A grades column; computed grades truncated to two decimals, as the pages show them (no rounding
    up across a band edge: 74.996 is "74.99", beside "Failed")."""
    def get(cadet: dict):
        value = cadet["grades"][key]
        return display_grade(value) if truncate else value

    return get


CSV_COLUMNS = [
    ("student_id", lambda c: c["student_id"]), ("name", lambda c: c["full_name"]),
    ("company", lambda c: c["company"]), ("platoon", lambda c: c["platoon"]),
    ("days_present", _g("attendance_present")), ("attendance_score", _g("attendance_score", truncate=True)),
    ("merit_points", _g("merit_points")), ("demerit_points", _g("demerit_points")),
    ("aptitude_score", _g("aptitude_score", truncate=True)), ("prelim", _g("prelim_score")),
    ("midterm", _g("midterm_score")),
    ("final_exam", _g("final_score")), ("subject_score", _g("subject_score", truncate=True)),
    ("final_grade", _g("final_grade", truncate=True)), ("transmuted_grade", _g("transmuted_grade")),
    ("remarks", _g("remarks")), ("grade_status", _g("status")),
]


@bp.route("/")
@page_route(*STAFF)
@cached_page(GRADES_LIST)  # served warm before Flask: pages/fastpath.py
def index() -> str:
    state = list_state(GRADE_SPEC)
    return render_table("grades/_table.html", "Grades", GRADES_LIST, state, lambda: {
        "table": table_page(state, list_grades(state, clamp_page=True)), "options": filter_options()},
        body_class="page-grades")


@bp.route("/export.csv")
@page_route(*STAFF)
def export() -> ResponseReturnValue:
    state = list_state(GRADE_SPEC)
    return csv_response([name for name, _ in CSV_COLUMNS], csv_rows(iter_grades(state), CSV_COLUMNS), "grades.csv")
