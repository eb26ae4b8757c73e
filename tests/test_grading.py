"""The grading rules: the issue's vectors, and the SQL expressions agreeing with Python exactly."""

from __future__ import annotations

import random

import pytest
from sqlalchemy import select

from grading import badge, compute_grade, recompute_grades, transmute
from models import Grade, db
from tests.factories import make_cadet, make_training_day


def test_worked_example_from_the_rules():
    g = compute_grade(present=12, training_days=15, merit_points=10, demerit_points=2,
                      prelim=80, midterm=85, final=90)
    assert (g.attendance_score, g.aptitude_score, g.subject_score) == (24.0, 30.0, 34.0)
    assert g.final_grade == 88.0
    assert (g.transmuted_grade, g.remarks) == (2.00, "Passed")


def test_no_data_at_all_fails_with_thirty():
    g = compute_grade(present=0, training_days=0, merit_points=0, demerit_points=0,
                      prelim=None, midterm=None, final=None)
    assert g.final_grade == 30.0
    assert (g.transmuted_grade, g.remarks) == (5.00, "Failed")


@pytest.mark.parametrize(("final", "expected"), [
    (100.0, (1.00, "Passed")), (95.0, (1.00, "Passed")), (94.99, (1.50, "Passed")), (90.0, (1.50, "Passed")),
    (85.0, (2.00, "Passed")), (80.0, (2.50, "Passed")), (75.0, (3.00, "Passed")), (74.99, (5.00, "Failed")),
    (0.0, (5.00, "Failed")),
])
def test_transmutation_table(final, expected):
    assert transmute(final) == expected


@pytest.mark.parametrize(("status", "remarks"), [("INC", "Incomplete"), ("DO", "Dropped"), ("T", "Deferred")])
def test_status_overrides_transmutation(status, remarks):
    assert transmute(99.0, status) == (None, remarks)


def test_exactly_75_from_real_inputs_passes():
    # 30 (all present) + 30 (clean record) + 15 (112.5 of 300 exam points) = 75.0
    g = compute_grade(present=15, training_days=15, merit_points=0, demerit_points=0,
                      prelim=37.5, midterm=37.5, final=37.5)
    assert g.final_grade == 75.0 and g.transmuted_grade == 3.00 and g.remarks == "Passed"


def test_attendance_is_capped_and_merits_only_restore():
    assert compute_grade(present=20, training_days=15, merit_points=0, demerit_points=0, prelim=None,
                         midterm=None, final=None).attendance_score == 30.0
    assert compute_grade(present=0, training_days=5, merit_points=50, demerit_points=0, prelim=None,
                         midterm=None, final=None).aptitude_score == 30.0
    assert compute_grade(present=0, training_days=5, merit_points=0, demerit_points=150, prelim=None,
                         midterm=None, final=None).aptitude_score == 0.0


@pytest.mark.parametrize(("points", "name"), [(0, None), (49, None), (50, "Bronze"), (100, "Silver"),
                                               (150, "Gold"), (199, "Gold"), (200, "Platinum")])
def test_badges(points, name):
    assert badge(points) == name


def _python_grade(row: Grade, days: int):
    return compute_grade(present=row.attendance_present, training_days=days, merit_points=row.merit_points,
                         demerit_points=row.demerit_points, prelim=row.prelim_score, midterm=row.midterm_score,
                         final=row.final_score, status=row.status)


def test_sql_expression_equals_python_on_random_inputs(app):
    """recompute_grades (SQL) and compute_grade (Python) agree to the last bit on this backend."""
    rng = random.Random(7)
    days = 7
    for i in range(days):
        make_training_day(offset=i)
    ids = [make_cadet() for _ in range(60)]
    edge = [(12, 10, 2, 80, 85, 90), (0, 0, 0, None, None, None), (7, 0, 0, 37.5, 37.5, 37.5),
            (3, 0, 200, 100, 100, 100), (9, 500, 0, 0.01, 99.99, 50.5)]
    for n, cadet_id in enumerate(ids):
        grade = db.session.scalar(select(Grade).where(Grade.cadet_id == cadet_id))
        present, merits, demerits, *scores = edge[n] if n < len(edge) else (
            rng.randint(0, 9), rng.randint(0, 60), rng.randint(0, 60),
            *(rng.choice([None, round(rng.uniform(0, 100), 2)]) for _ in range(3)))
        grade.attendance_present, grade.merit_points, grade.demerit_points = present, merits, demerits
        grade.prelim_score, grade.midterm_score, grade.final_score = scores
        grade.status = rng.choice(["active"] * 6 + ["INC", "DO", "T"])
    db.session.commit()
    recompute_grades(db.session, ids, recount=False)
    db.session.commit()
    db.session.expire_all()
    for grade in db.session.scalars(select(Grade)):
        expected = _python_grade(grade, days)
        got = (grade.attendance_score, grade.aptitude_score, grade.subject_score, grade.final_grade,
               grade.transmuted_grade, grade.remarks)
        assert got == (expected.attendance_score, expected.aptitude_score, expected.subject_score,
                       expected.final_grade, expected.transmuted_grade, expected.remarks), grade.cadet_id


def test_worked_example_through_sql(app):
    for i in range(15):
        make_training_day(offset=i)
    cadet_id = make_cadet()
    grade = db.session.scalar(select(Grade).where(Grade.cadet_id == cadet_id))
    grade.attendance_present, grade.merit_points, grade.demerit_points = 12, 10, 2
    grade.prelim_score, grade.midterm_score, grade.final_score = 80, 85, 90
    db.session.commit()
    recompute_grades(db.session, [cadet_id], recount=False)
    db.session.commit()
    db.session.refresh(grade)
    assert (grade.final_grade, grade.transmuted_grade, grade.remarks) == (88.0, 2.00, "Passed")
