"""Real threads against PostgreSQL: lost updates refused, no duplicate attendance, exact merit totals."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, select

from blueprints.core.errors import Conflict
from blueprints.core.operations.attendance import bulk_attendance
from blueprints.core.operations.grades import update_grade
from blueprints.core.operations.merits import record_merit
from models import AttendanceRecord, Grade, MeritDemeritLog, User, db
from tests.conftest import is_postgres
from tests.factories import make_cadet, make_training_day, make_user

pytestmark = pytest.mark.postgres


@pytest.fixture(autouse=True)
def _postgres_only(app):
    if not is_postgres():
        pytest.skip("concurrency is tested against PostgreSQL")


def run_together(app, jobs: list[Callable[[], object]]) -> list[object]:
    """Start every job at the same moment, each in its own thread and app context."""
    barrier = threading.Barrier(len(jobs))
    results: list[object] = [None] * len(jobs)

    def worker(i: int) -> None:
        with app.app_context():
            barrier.wait()
            try:
                results[i] = jobs[i]()
            except Exception as exc:  # collected and asserted on by the test
                results[i] = exc
            finally:
                db.session.remove()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(jobs))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    return results


def as_user(user_id: int) -> User:
    return db.session.get(User, user_id)


def test_two_editors_of_one_grade_one_wins_one_is_refused(app):
    admin = make_user("admin")
    cadet = make_cadet(admin)
    version = db.session.scalar(select(Grade.version).where(Grade.cadet_id == cadet))
    results = run_together(app, [
        lambda: update_grade(as_user(admin.id), cadet, {"prelim_score": 70}, version=version),
        lambda: update_grade(as_user(admin.id), cadet, {"prelim_score": 95}, version=version),
    ])
    assert sorted(type(r).__name__ for r in results) == ["Conflict", "int"]
    winner = 70.0 if results[0] == version + 1 else 95.0
    db.session.expire_all()
    grade = db.session.scalar(select(Grade).where(Grade.cadet_id == cadet))
    assert (grade.prelim_score, grade.version) == (winner, version + 1)
    assert isinstance(next(r for r in results if not isinstance(r, int)), Conflict)


def test_two_bulk_attendance_calls_for_one_day_make_no_duplicates(app):
    admin = make_user("admin")
    day = make_training_day(admin)
    ids = [make_cadet(admin) for _ in range(30)]
    results = run_together(app, [
        lambda: bulk_attendance(as_user(admin.id), {"training_day_id": day, "cadet_ids": ids, "status": "present"}),
        lambda: bulk_attendance(as_user(admin.id), {"training_day_id": day, "cadet_ids": ids[10:], "status": "late",
                                                    "on_conflict": "update"}),
    ])
    assert all(isinstance(r, dict) for r in results), results
    assert db.session.scalar(select(func.count(AttendanceRecord.id))) == 30
    assert sum(r["created"] for r in results) == 30
    first, second = results
    assert first["created"] + first["skipped"] + first["updated"] == 30
    assert second["created"] + second["updated"] + second["skipped"] == 20
    present = db.session.scalar(select(func.sum(Grade.attendance_present)))
    assert present == 30  # present and late both count, each cadet once


def test_concurrent_merits_for_one_cadet_sum_exactly(app):
    admin = make_user("admin")
    cadet = make_cadet(admin)
    jobs = [lambda p=p: record_merit(as_user(admin.id), {"cadet_id": cadet, "type": "merit" if p % 3 else "demerit",
                                                         "points": p, "reason": "concurrent"})
            for p in range(1, 13)]
    results = run_together(app, jobs)
    assert all(isinstance(r, int) for r in results), results
    db.session.expire_all()
    grade = db.session.scalar(select(Grade).where(Grade.cadet_id == cadet))
    merits = db.session.scalar(select(func.sum(MeritDemeritLog.points)).where(MeritDemeritLog.type == "merit"))
    demerits = db.session.scalar(select(func.sum(MeritDemeritLog.points)).where(MeritDemeritLog.type == "demerit"))
    assert (grade.merit_points, grade.demerit_points, grade.lifetime_merit_points) == (merits, demerits, merits)
    assert merits + demerits == sum(range(1, 13))
