"""Real threads against PostgreSQL: lost updates refused, no duplicate attendance, exact merit totals."""

from __future__ import annotations

import threading
from collections.abc import Callable

import pytest
from sqlalchemy import func, insert, select

from blueprints.core.errors import Conflict
from blueprints.core.operations.attendance import bulk_attendance, update_attendance
from blueprints.core.operations.grades import update_grade
from blueprints.core.operations.merits import delete_merit, record_merit
from blueprints.core.operations.training import update_training_day
from grading import recompute_grades
from models import AttendanceRecord, Cadet, Grade, MeritDemeritLog, User, db, utcnow
from tests.conftest import is_postgres
from tests.factories import make_cadet, make_cadets, make_training_day, make_user

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
    admin_id = admin.id  # read here: workers must not touch the main thread's session
    version = db.session.scalar(select(Grade.version).where(Grade.cadet_id == cadet))
    results = run_together(app, [
        lambda: update_grade(as_user(admin_id), cadet, {"prelim_score": 70}, version=version),
        lambda: update_grade(as_user(admin_id), cadet, {"prelim_score": 95}, version=version),
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
    admin_id = admin.id  # read here: workers must not touch the main thread's session
    results = run_together(app, [
        lambda: bulk_attendance(as_user(admin_id), {"training_day_id": day, "cadet_ids": ids, "status": "present"}),
        lambda: bulk_attendance(as_user(admin_id), {"training_day_id": day, "cadet_ids": ids[10:], "status": "late",
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
    admin_id = admin.id  # read here: workers must not touch the main thread's session
    jobs = [lambda p=p: record_merit(as_user(admin_id), {"cadet_id": cadet, "type": "merit" if p % 3 else "demerit",
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


# --- every writer of one cadet's counted rows, at once: totals always equal their source rows ----

# Merit create and delete always locked; these mixes pair them with the writers that did not.
WRITER_MIXES = {
    "merits+patch": ("merit", "patch"),
    "merits+bulk": ("merit", "bulk"),
    "patch+bulk": ("patch", "bulk"),
    "all": ("merit", "patch", "bulk", "delete"),
}
THREADS = 16
RUNS = 20


def _source_totals(cadet_id: int) -> tuple[int, int, int, int]:
    """(merit, demerit, lifetime merit, present) counted from the logs and attendance records."""
    def points(kind: str) -> int:
        return db.session.scalar(select(func.coalesce(func.sum(MeritDemeritLog.points), 0))
                                 .where(MeritDemeritLog.cadet_id == cadet_id, MeritDemeritLog.type == kind))
    present = db.session.scalar(select(func.count(AttendanceRecord.id)).where(
        AttendanceRecord.cadet_id == cadet_id, AttendanceRecord.status.in_(("present", "late", "excused"))))
    return points("merit"), points("demerit"), points("merit"), present


def _stored_totals(cadet_id: int) -> tuple[int, int, int, int]:
    db.session.expire_all()
    g = db.session.scalar(select(Grade).where(Grade.cadet_id == cadet_id))
    return g.merit_points, g.demerit_points, g.lifetime_merit_points, g.attendance_present


def _writer_jobs(admin_id: int, cadet: int, neighbour: int, days: list[int], kinds: tuple[str, ...]) -> list:
    """THREADS jobs for one cadet: each kind gets its share; bulk calls touch different days."""
    patch_ids = list(db.session.scalars(select(AttendanceRecord.id).where(AttendanceRecord.cadet_id == cadet)))
    log_ids = list(db.session.scalars(select(MeritDemeritLog.id).where(MeritDemeritLog.cadet_id == cadet)))
    free_days = [d for d in days if d not in set(db.session.scalars(
        select(AttendanceRecord.training_day_id).where(AttendanceRecord.cadet_id == cadet)))]
    make = {
        "merit": lambda i: lambda: record_merit(as_user(admin_id), {
            "cadet_id": cadet, "type": "demerit" if i % 4 == 0 else "merit", "points": i + 1, "reason": "race"}),
        "patch": lambda i: lambda: update_attendance(as_user(admin_id), patch_ids[i % len(patch_ids)],
                                                     {"status": "present" if i % 2 else "late"}),
        "bulk": lambda i: lambda: bulk_attendance(as_user(admin_id), {
            "training_day_id": free_days[i % len(free_days)], "cadet_ids": [neighbour, cadet], "status": "present",
            "on_conflict": "update"}),
        "delete": lambda i: lambda: delete_merit(as_user(admin_id), log_ids.pop()),
    }
    return [make[kinds[i % len(kinds)]](i) for i in range(THREADS)]


def _prepare_cadets(admin: User, days: list[int]) -> list[tuple[int, int]]:
    """RUNS (cadet, neighbour) pairs; each cadet has absent records on half the days (to PATCH)
    and merits to delete. Inserted directly, then recounted once, so the runs start fast."""
    make_cadets(2 * RUNS, admin)
    ids = sorted(db.session.scalars(select(Cadet.id)))[-2 * RUNS:]
    pairs = list(zip(ids[::2], ids[1::2], strict=True))
    now = utcnow()
    db.session.execute(insert(AttendanceRecord), [
        {"training_day_id": d, "cadet_id": c, "status": "absent", "created_at": now}
        for c, _ in pairs for d in days[: len(days) // 2]])
    db.session.execute(insert(MeritDemeritLog), [
        {"cadet_id": c, "type": "merit", "points": p, "reason": "to delete", "issued_by_name": "setup"}
        for c, _ in pairs for p in range(1, THREADS + 1)])
    recompute_grades(db.session, ids)
    db.session.commit()
    return pairs


@pytest.mark.parametrize("kinds", WRITER_MIXES.values(), ids=WRITER_MIXES.keys())
def test_concurrent_writers_of_one_cadet_keep_totals_equal_to_source_rows(app, kinds):
    admin = make_user("admin")
    days = [make_training_day(admin, offset=i) for i in range(2 * THREADS)]
    drifted = []
    for run, (cadet, neighbour) in enumerate(_prepare_cadets(admin, days)):
        results = run_together(app, _writer_jobs(admin.id, cadet, neighbour, days, kinds))
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, f"run {run}: {errors[:3]}"  # a deadlock or lock error shows here
        for cid in (cadet, neighbour):
            if _stored_totals(cid) != _source_totals(cid):
                drifted.append((run, cid, _stored_totals(cid), _source_totals(cid)))
    runs = sorted({run for run, *_ in drifted})
    assert not drifted, f"{len(runs)} of {RUNS} runs drifted: {drifted[:4]}"


# --- the first records of a future day rewrite every grades row, while every other writer runs ----

FUTURE_RUNS = 8


def _grade_figures() -> dict[int, tuple]:
    """Every grades row's maintained figures (not its edit bookkeeping), by cadet."""
    db.session.expire_all()
    skip = {"id", "version", "updated_at"}
    columns = [c for c in Grade.__table__.columns if c.name not in skip]
    return {row.cadet_id: tuple(row) for row in db.session.execute(select(*columns))}


def test_first_records_of_a_future_day_beside_every_other_writer_never_deadlock_or_drift(app):
    """Overlapping bulk calls that make a future day count (each wants every grades row), grade
    edits of cadets inside their windows, and another day moved into the past (also every row),
    all at once, again and again: no call fails, and every stored figure equals a fresh recount."""
    admin = make_user("admin")
    admin_id = admin.id
    make_cadets(40, admin)
    ids = sorted(db.session.scalars(select(Cadet.id)))
    for run in range(FUTURE_RUNS):
        future = make_training_day(admin, offset=400 + run)  # 2027-10: not held until its first records
        moved = make_training_day(admin, offset=500 + run)
        jobs: list[Callable[[], object]] = [
            (lambda w=ids[3 * i:3 * i + 12], day=future: bulk_attendance(as_user(admin_id), {
                "training_day_id": day, "cadet_ids": w, "status": "present", "on_conflict": "update"}))
            for i in range(10)]
        jobs += [(lambda c=c: update_grade(as_user(admin_id), c, {"prelim_score": 70 + c % 30}))
                 for c in ids[2:30:6]]
        jobs.append(lambda day=moved, when=f"2026-09-{10 + run:02d}": update_training_day(
            as_user(admin_id), day, {"date": when}))
        results = run_together(app, jobs)
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, f"run {run}: {errors[:3]}"  # a deadlock shows here as DeadlockDetected
    stored = _grade_figures()
    recompute_grades(db.session, None)
    db.session.commit()
    assert _grade_figures() == stored


def test_bulk_calls_for_one_day_on_different_cadets_do_not_queue_behind_each_other(app):
    """Only the cadets' grades rows serialise attendance writers; the day row is only key-shared."""
    from sqlalchemy.orm import Session

    from blueprints.core.operations import lock_grade_rows
    from blueprints.core.operations.attendance import _lock_day

    admin = make_user("admin")
    admin_id = admin.id
    make_cadets(20, admin)
    ids = sorted(db.session.scalars(select(Cadet.id)))
    day = make_training_day(admin)
    db.session.commit()
    other = Session(db.engine)
    try:
        lock_grade_rows(other, ids[:10])  # a call for the first ten cadets, still open
        _lock_day(other, day)
        done = threading.Event()

        failed: list[Exception] = []

        def second_call() -> None:
            with app.app_context():
                try:
                    bulk_attendance(as_user(admin_id), {"training_day_id": day, "cadet_ids": ids[10:],
                                                        "status": "present"})
                except Exception as exc:  # asserted on below
                    failed.append(exc)
                finally:
                    db.session.remove()
            done.set()

        thread = threading.Thread(target=second_call)
        thread.start()
        assert done.wait(10), "a call for other cadets waited for the open one"
        assert not failed
    finally:
        other.rollback()
        other.close()
    thread.join(10)
