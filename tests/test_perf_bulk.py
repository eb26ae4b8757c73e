"""Performance proof 4: bulk writes issue a constant number of statements for 10 and for 100 rows.

Each case runs the real operation twice, on two disjoint batches of different size, and compares the
statements sent to the database (an executemany counts once: it is one round of the driver).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest
from sqlalchemy import select

from blueprints.core.operations.attendance import bulk_attendance, save_sheet
from blueprints.core.operations.cadets import archive_cadets, import_cadets, restore_cadets
from blueprints.core.operations.grades import bulk_update_grades
from models import Cadet, Grade, User, db
from tests.conftest import is_postgres, on_this_thread, statements_sent
from tests.factories import make_cadets, make_training_day, make_user

SMALL, BIG = 10, 100


@pytest.fixture
def batches(app):
    """An admin and two disjoint batches of cadet ids: SMALL and BIG."""
    admin = make_user("admin", "bulk-admin")
    make_cadets(SMALL + BIG)
    ids = list(db.session.scalars(select(Cadet.id).order_by(Cadet.id)))
    return admin, ids[:SMALL], ids[SMALL:SMALL + BIG]


def _loaded(user: User) -> User:
    """Reload the acting user outside the count (a commit expires it; its reload is not the batch's)."""
    db.session.refresh(user)
    return user


def _compare(count_queries, run: Callable[[list[int]], object], small: list[int], big: list[int],
             actor: User) -> list[str]:
    _loaded(actor)
    with count_queries() as few:
        run(small)
    _loaded(actor)
    with count_queries() as many:
        run(big)
    assert len(few) == len(many), (
        f"{len(few)} statements for {len(small)} rows but {len(many)} for {len(big)}: {_summary(many)}")
    return list(many)


def _summary(statements: list[str]) -> dict[str, int]:
    """Each distinct statement (first 80 characters) with how often it ran."""
    return dict(Counter(" ".join(s.split())[:80] for s in statements))


def test_bulk_attendance_new_and_changed_records(batches, count_queries):
    admin, small, big = batches
    day_a, day_b = make_training_day(admin, 0), make_training_day(admin, 1)
    statements = _compare(count_queries, lambda ids: bulk_attendance(admin, {
        "training_day_id": day_a if len(ids) == SMALL else day_b, "cadet_ids": ids, "status": "present"}),
        small, big, admin)
    assert len(statements) <= 12  # with the recorded cache clear (the outbox row in the same transaction)
    # The same batches again with another status: the update path is constant too.
    _compare(count_queries, lambda ids: bulk_attendance(admin, {
        "training_day_id": day_a if len(ids) == SMALL else day_b, "cadet_ids": ids, "status": "late",
        "on_conflict": "update"}), small, big, admin)


def test_save_sheet_mixed_statuses(batches, count_queries):
    admin, small, big = batches
    day = make_training_day(admin, 0)
    statuses = ("present", "absent", "late", "excused")

    def run(ids: list[int]) -> None:
        save_sheet(admin, day, {f"status-{cid}": statuses[i % 4] for i, cid in enumerate(ids)})

    _compare(count_queries, run, small, big, admin)


def test_bulk_update_grades(batches, count_queries):
    admin, small, big = batches

    def run(ids: list[int]) -> None:
        versions = dict(db.session.execute(select(Grade.cadet_id, Grade.version).where(Grade.cadet_id.in_(ids))).all())
        bulk_update_grades(admin, [{"cadet_id": cid, "prelim_score": 80 + i % 20, "midterm_score": 75.5,
                                    "version": versions[cid]} for i, cid in enumerate(ids)])

    _compare(count_queries, run, small, big, admin)
    changed = db.session.scalars(select(Grade.prelim_score).where(Grade.cadet_id.in_(big))).all()
    assert sorted(set(changed)) == [float(80 + i) for i in range(20)]


def test_archive_and_restore(batches, count_queries):
    admin, small, big = batches
    _compare(count_queries, lambda ids: archive_cadets(admin, ids), small, big, admin)
    assert db.session.scalar(select(db.func.count()).where(Cadet.is_archived.is_(True))) == SMALL + BIG
    _compare(count_queries, lambda ids: restore_cadets(admin, ids), small, big, admin)
    assert db.session.scalar(select(db.func.count()).where(Cadet.is_archived.is_(True))) == 0


def test_import_cadets(app, count_queries):
    admin = make_user("admin", "import-admin")

    def rows(prefix: str, n: int) -> list[dict]:
        return [{"student_id": f"{prefix}-{i:04d}", "first_name": f"F{i}", "last_name": f"L{i}",
                 "company": "Bravo", "platoon": "2nd", "year_level": 1 + i % 4} for i in range(n)]

    _loaded(admin)
    with count_queries() as few:
        assert import_cadets(admin, rows("S", SMALL)).created == SMALL
    _loaded(admin)
    with count_queries() as many:
        assert import_cadets(admin, rows("B", BIG)).created == BIG
    assert len(few) == len(many), f"{len(few)} statements for {SMALL} rows, {len(many)} for {BIG}: {_summary(many)}"
    assert db.session.scalar(select(db.func.count(Grade.id))) == SMALL + BIG


@pytest.mark.parametrize("write", ["import", "attendance"])
def test_bulk_inserts_send_one_statement_not_one_per_row(batches, app, write):
    """An executemany reaches PostgreSQL as one statement per row, each running the table's statement
    triggers (cadet_totals on cadets): the import and the bulk attendance send their rows in one
    statement whatever their number. Counted here as the server sees them (an executemany's rows)."""
    if not is_postgres():
        pytest.skip("SQLite runs an executemany in process, with row triggers")
    admin, small, big = batches
    day = make_training_day(admin)

    def run(ids: list[int]) -> None:
        if write == "import":
            import_cadets(admin, [{"student_id": f"ONE-{i}", "first_name": "F", "last_name": "L"} for i in ids])
        else:
            bulk_attendance(admin, {"training_day_id": day, "cadet_ids": ids, "status": "present"})

    counts: list[int] = []
    for ids in (small, big):
        _loaded(admin)
        with statements_sent(db.engine, on_this_thread(),
                             note=lambda conn, statement, parameters, many: len(parameters) if many else 1) as log:
            run(ids)
        counts.append(sum(log))
    assert counts[0] == counts[1], f"{counts[0]} statements for {len(small)} rows, {counts[1]} for {len(big)}"
