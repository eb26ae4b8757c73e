"""Numbered deep pages: grades carry a trigger-kept copy of the cadet's archived flag (so a grade
sort's ids come from one partial index), and a page past the middle is counted from the far end.

The copy must equal the cadet's flag after every kind of write and under concurrent writers; the
pages must hold exactly the rows of a plain ORDER BY ... OFFSET, in every sort, both directions.
"""

from __future__ import annotations

import random

import pytest
from sqlalchemy import func, select, update

from blueprints.core import reads
from blueprints.core.liststate import ListState
from blueprints.core.operations.cadets import archive_cadets, import_cadets, restore_cadets, update_cadet
from blueprints.core.reads import order_clauses
from blueprints.core.reads.cadets import CADET_SPEC, list_cadets
from blueprints.core.reads.grades import GRADE_SPEC, list_grades
from blueprints.core.reads.selects import select_cadets_with_grades
from models import REMARKS, Cadet, Grade, db
from tests.factories import make_cadet, make_cadets, make_user
from tests.test_list_totals import _some_cadets, flag_mismatches


def test_the_grades_flag_follows_every_kind_of_write(app):
    admin = make_user("admin")
    ids = _some_cadets(admin)  # create, one by one
    make_cadets(30, admin)  # import
    assert archive_cadets(admin, ids[:4]) == 4  # bulk archive
    assert flag_mismatches() == []
    assert db.session.scalar(select(func.count()).where(Grade.is_archived)) == 4
    assert restore_cadets(admin, ids[1:3]) == 2  # bulk restore
    update_cadet(admin, ids[0], {"company": "Charlie"})  # an archived cadet's other edit
    assert flag_mismatches() == []
    rows = [{"student_id": db.session.get(Cadet, i).student_id, "first_name": "Re", "last_name": "Imported"}
            for i in ids[:3]] + [{"student_id": "NEW-FLAG", "first_name": "New", "last_name": "One"}]
    assert import_cadets(admin, rows, on_existing="update").created == 1  # import updating archived rows
    assert flag_mismatches() == []
    db.session.execute(update(Cadet).where(Cadet.id == ids[5]).values(is_archived=True))  # not an operation
    db.session.commit()
    assert flag_mismatches() == []
    db.session.execute(update(Cadet).where(Cadet.id == ids[4]).values(is_archived=True))
    db.session.rollback()  # rolls back with the write
    assert flag_mismatches() == []
    # A grades row written for a cadet who is archived already takes the cadet's flag.
    archived = make_cadet(admin)
    db.session.execute(Grade.__table__.delete().where(Grade.cadet_id == archived))
    db.session.execute(update(Cadet).where(Cadet.id == archived).values(is_archived=True))
    db.session.execute(Grade.__table__.insert().values(cadet_id=archived))
    db.session.commit()
    assert flag_mismatches() == []
    assert db.session.scalar(select(Grade.is_archived).where(Grade.cadet_id == archived)) is True


# --- numbered pages: the same rows as a plain ORDER BY ... OFFSET ------------------------------------

PER_PAGE = 7


@pytest.fixture
def graded(app, monkeypatch):
    """40 cadets, 9 archived, with tied, spread and NULL grades; every page past the middle counted
    from the far end (DEEP_ROWS 0), so both ways are compared."""
    monkeypatch.setattr(reads, "DEEP_ROWS", 0)
    admin = make_user("admin")
    make_cadets(40, admin, company="Alpha")
    ids = list(db.session.scalars(select(Cadet.id).order_by(Cadet.id)))
    rng = random.Random(18)
    for cid in ids:
        final = rng.choice((75.0, 80.5, 80.5, 91.25, rng.uniform(60, 99)))
        db.session.execute(update(Grade).where(Grade.cadet_id == cid).values(
            final_grade=final, transmuted_grade=None if rng.random() < 0.2 else round(5 - final / 25, 2),
            remarks=rng.choice(REMARKS), attendance_score=rng.choice((10.0, 20.0, 30.0)),
            merit_points=rng.randint(0, 3)))
    db.session.execute(update(Cadet).where(Cadet.id.in_(ids[::3][:5])).values(company="Bravo"))
    db.session.commit()
    archive_cadets(admin, rng.sample(ids, 9))
    return ids


def _reference(state: ListState, page: int) -> list[int]:
    """The page's ids by the plainest query: the full rows, filtered, sorted, OFFSET."""
    stmt = select_cadets_with_grades()
    archived = state.filter_dict.get("archived", "active")
    if archived != "all":
        stmt = stmt.where(Cadet.is_archived.is_(archived == "archived"))
    if "company" in state.filter_dict:
        stmt = stmt.where(Cadet.company == state.filter_dict["company"])
    if "remarks" in state.filter_dict:
        stmt = stmt.where(Grade.remarks == state.filter_dict["remarks"])
    stmt = stmt.with_only_columns(Cadet.id).order_by(*order_clauses(state))
    return list(db.session.scalars(stmt.offset((page - 1) * state.per_page).limit(state.per_page)))


def _pages_agree(spec, read, filters: dict) -> None:
    for sort in spec.sorts:
        for key in (sort, f"-{sort}"):
            state = ListState.from_args({"sort": key, **filters}, spec, default_per_page=PER_PAGE, strict=True)
            total = None
            for page in range(1, 9):  # up to past the end
                state = ListState.from_args({"sort": key, "page": str(page), **filters}, spec,
                                            default_per_page=PER_PAGE, strict=True)
                result = read(state)
                total = result["total"] if total is None else total
                assert result["total"] == total
                assert [row["id"] for row in result["data"]] == _reference(state, page), (key, filters, page)


@pytest.mark.parametrize("filters", [{}, {"archived": "archived"}, {"archived": "all"}, {"company": "Bravo"},
                                     {"remarks": "Passed"}, {"archived": "all", "remarks": "Failed"}])
def test_numbered_grade_pages_hold_the_rows_of_a_plain_offset(graded, filters):
    _pages_agree(GRADE_SPEC, list_grades, filters)


@pytest.mark.parametrize("filters", [{}, {"archived": "archived"}, {"company": "Alpha"}])
def test_numbered_cadet_pages_hold_the_rows_of_a_plain_offset(graded, filters):
    _pages_agree(CADET_SPEC, list_cadets, filters)


def test_a_page_counted_from_the_end_is_recounted_from_the_front_when_the_total_moved(graded, monkeypatch):
    """The total seen before the page differs from the one the page's own statement reads (a write in
    between): the page is read again from the front, so it never shows the rows of another offset."""
    admin = make_user("admin", "late-writer")
    state = ListState.from_args({"sort": "-final_grade", "page": "4"}, GRADE_SPEC, default_per_page=PER_PAGE,
                                strict=True)
    seen = reads._far_total

    def stale(state_, page, kept_total):
        total = seen(state_, page, kept_total)
        if total is not None:
            make_cadet(admin)  # after the look at the total, before the page
        return total

    monkeypatch.setattr(reads, "_far_total", stale)
    result = list_grades(state)
    assert [row["id"] for row in result["data"]] == _reference(state, 4)
    assert result["total"] == 32


def test_a_grade_sorted_page_reads_its_ids_from_grades_alone(graded, count_queries):
    """The ids of a numbered page sorted by a grade come from grades (its partial index): no join."""
    state = ListState.from_args({"sort": "-final_grade", "page": "3"}, GRADE_SPEC, default_per_page=PER_PAGE,
                                strict=True)
    with count_queries() as log:
        list_grades(state)
    page = log[-1]
    keys = page[page.index("JOIN (SELECT"):]
    assert "FROM grades" in keys and "cadets" not in keys.split(")")[0]
