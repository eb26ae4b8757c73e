"""The grades table: every cadet's components, final and transmuted grade, sorted in the database."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from blueprints.core.liststate import Filter, ListSpec, ListState
from blueprints.core.reads.cadets import CADET_FILTERS, CADET_SPEC, get_cadet, iter_cadets, list_cadets
from blueprints.core.reads.cadets import GRADES_LIST as GRADES_LIST  # the grades table's cached read
from models import REMARKS, Grade

GRADE_SORTS = {
    **CADET_SPEC.sorts,
    "attendance_score": (Grade.attendance_score,),
    "aptitude_score": (Grade.aptitude_score,),
    "subject_score": (Grade.subject_score,),
    "remarks": (Grade.remarks,),
    "merit_points": (Grade.merit_points,),
    "demerit_points": (Grade.demerit_points,),
    "attendance_present": (Grade.attendance_present,),
}

GRADE_SPEC = ListSpec(
    "grades", GRADE_SORTS, "name", CADET_SPEC.pk,
    filters={**CADET_FILTERS, "remarks": Filter("choice", lambda v: Grade.remarks == v, REMARKS, label="Remarks")},
    search=CADET_SPEC.search,
)


def list_grades(state: ListState, *, clamp_page: bool = False) -> dict[str, Any]:
    """One page of the grades table (same rows and cache as cadets, with the grade filters)."""
    return list_cadets(state, clamp_page=clamp_page)


def iter_grades(state: ListState) -> Iterator[dict[str, Any]]:
    return iter_cadets(state)


def get_grade_detail(cadet_id: int) -> dict[str, Any]:
    """The breakdown for one cadet plus their merit/demerit logs."""
    cadet = get_cadet(cadet_id)
    return {"cadet_id": cadet_id, "student_id": cadet["student_id"], "full_name": cadet["full_name"],
            **cadet["grades"], "training_days_total": cadet["training_days_total"],
            "merit_logs": cadet["merit_logs"]}
