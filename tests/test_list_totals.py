"""The lists' maintained totals (CadetTotal, kept by triggers) equal count(*) of their lists after
every kind of cadet write, and after concurrent mixed writers on PostgreSQL; so does the archived flag
copied onto grades (tests/test_deep_pages.py has its single writers)."""

from __future__ import annotations

import itertools
import random

import pytest
from sqlalchemy import delete, func, select, update

from blueprints.core.liststate import ListState
from blueprints.core.operations.cadets import archive_cadets, import_cadets, restore_cadets, update_cadet
from blueprints.core.reads import apply_filters, count_rows
from blueprints.core.reads.cadets import CADET_SPEC, _count_base, _kept_total
from blueprints.core.reads.grades import GRADE_SPEC
from models import Cadet, CadetTotalDelta, Grade, db
from tests.conftest import is_postgres
from tests.factories import make_cadet, make_cadets, make_token, make_user
from tests.test_concurrency import as_user, run_together

COMPANIES, PLATOONS, STATUSES = ("Alpha", "Bravo", "Charlie"), ("1st", "2nd"), ("Ongoing", "Completed", "Drop")
ARCHIVED = (None, "active", "archived", "all", "true", "false")


def _states():
    """Every list state a maintained total answers: each archived choice by each subset of filters."""
    for archived, company, platoon, status in itertools.product(ARCHIVED, (None, *COMPANIES, "Nobody"),
                                                                (None, *PLATOONS), (None, *STATUSES)):
        args = {k: v for k, v in (("archived", archived), ("company", company), ("platoon", platoon),
                                  ("status", status)) if v is not None}
        yield args, ListState.from_args(args, CADET_SPEC, strict=True)


def mismatches() -> list:
    """(args, kept, counted) of every list state whose maintained total is not its count(*)."""
    db.session.expire_all()
    out = []
    for args, state in _states():
        kept = db.session.scalar(select(_kept_total(state)))
        counted = count_rows(apply_filters(_count_base(state), state))
        if kept != counted:
            out.append((args, kept, counted))
    db.session.rollback()
    return out


def flag_mismatches() -> list[tuple[int, bool, bool]]:
    """(cadet id, cadet's flag, its grades row's flag) wherever the two differ."""
    db.session.expire_all()
    rows = db.session.execute(select(Cadet.id, Cadet.is_archived, Grade.is_archived)
                              .join(Grade, Grade.cadet_id == Cadet.id)
                              .where(Cadet.is_archived.is_distinct_from(Grade.is_archived))).all()
    db.session.rollback()
    return [tuple(r) for r in rows]


def _some_cadets(admin, n: int = 6) -> list[int]:
    return [make_cadet(admin, company=COMPANIES[i % 3], platoon=PLATOONS[i % 2], status=STATUSES[i % 3])
            for i in range(n)]


def test_every_list_state_the_totals_answer_is_known_and_others_count():
    for _, state in _states():
        assert _kept_total(state) is not None
    for args in ({"search": "x"}, {"course": "BS"}, {"year_level": "1"}, {"company": "Alpha", "search": "y"}):
        assert _kept_total(ListState.from_args(args, CADET_SPEC, strict=True)) is None
    assert _kept_total(ListState.from_args({"remarks": "Passed"}, GRADE_SPEC, strict=True)) is None


def test_totals_equal_counts_after_every_kind_of_write(app):
    admin = make_user("admin")
    assert mismatches() == []
    ids = _some_cadets(admin)  # create, one by one
    assert mismatches() == []
    make_cadets(40, admin, company="Bravo", platoon="2nd")  # import, new rows
    assert mismatches() == []
    make_cadet(admin, company=None, platoon=None)  # no company or platoon: still in the unfiltered totals
    assert mismatches() == []
    update_cadet(admin, ids[0], {"company": "Charlie"})
    update_cadet(admin, ids[1], {"platoon": "1st", "status": "Drop"})
    update_cadet(admin, ids[2], {"company": None})
    update_cadet(admin, ids[3], {"email": "not-a-key@example.test"})  # not a key column: totals untouched
    assert mismatches() == []
    assert archive_cadets(admin, ids[:4]) == 4  # bulk archive
    assert archive_cadets(admin, ids[:2]) == 0  # again: nothing changes
    assert mismatches() == []
    assert restore_cadets(admin, ids[1:3]) == 2
    assert mismatches() == []
    update_cadet(admin, ids[0], {"status": "Completed"})  # an archived cadet's key change
    assert mismatches() == []
    rows = [{"student_id": db.session.get(Cadet, i).student_id, "first_name": "Re", "last_name": "Imported",
             "company": "Alpha", "status": "Completed"} for i in ids[2:5]]
    rows.append({"student_id": "NEW-1", "first_name": "New", "last_name": "One", "company": "Charlie"})
    result = import_cadets(admin, rows, on_existing="update")  # bulk update of keys and a create, one call
    assert (result.created, result.updated) == (1, 3)
    assert mismatches() == []


def test_rolled_back_writes_and_raw_sql_keep_totals_exact(app):
    admin = make_user("admin")
    ids = _some_cadets(admin)
    db.session.execute(update(Cadet).where(Cadet.id == ids[0]).values(is_archived=True))
    db.session.rollback()  # a failed operation's change and its totals change go together
    assert mismatches() == []
    db.session.execute(update(Cadet).where(Cadet.id.in_(ids[:3])).values(company="Bravo", platoon="2nd"))
    db.session.execute(delete(Cadet).where(Cadet.id == ids[5]))  # not an operation, still counted
    db.session.commit()
    assert mismatches() == []


def test_the_api_envelope_total_is_the_maintained_total(app, client):
    admin = make_user("admin")
    ids = _some_cadets(admin, 9)
    archive_cadets(admin, ids[:2])
    headers = {"Authorization": f"Bearer {make_token(admin)}"}
    for path, total in (("/api/cadets", 7), ("/api/cadets?company=Alpha", 2), ("/api/grades?archived=all", 9),
                        ("/api/cadets?archived=archived&status=Ongoing", 1), ("/api/cadets?page=9", 7)):
        assert client.get(path, headers=headers).get_json()["total"] == total, path


# --- concurrent mixed writers ----------------------------------------------------------------------

RUNS, WRITERS = 12, 6


def _mixed_job(admin_id: int, ids: list[int], seed: int):
    rng = random.Random(seed)
    kind = seed % 5

    def job():
        actor = as_user(admin_id)
        chosen = rng.sample(ids, 4)
        if kind == 0:
            return archive_cadets(actor, chosen)
        if kind == 1:
            return restore_cadets(actor, chosen)
        if kind == 2:
            return update_cadet(actor, chosen[0], {"company": rng.choice(COMPANIES), "status": rng.choice(STATUSES)})
        if kind == 3:
            return make_cadet(actor, company=rng.choice(COMPANIES), platoon=rng.choice(PLATOONS))
        return import_cadets(actor, [{"student_id": f"T{seed}-{i}", "first_name": "T", "last_name": f"{seed}",
                                      "company": rng.choice(COMPANIES), "platoon": rng.choice(PLATOONS)}
                                     for i in range(5)])

    return job


@pytest.mark.postgres
def test_concurrent_mixed_writers_keep_every_total_and_grades_flag_exact(app):
    if not is_postgres():
        pytest.skip("concurrent writers are tested against PostgreSQL")
    admin = make_user("admin")
    ids = _some_cadets(admin, 24)
    for run in range(RUNS):
        results = run_together(app, [_mixed_job(admin.id, ids, run * WRITERS + w) for w in range(WRITERS)])
        errors = [r for r in results if isinstance(r, Exception)]
        assert not errors, f"run {run}: {errors[:3]}"
        assert mismatches() == [], f"run {run}"
        assert flag_mismatches() == [], f"run {run}"  # grades.is_archived follows its cadet's (deep pages)
    assert db.session.scalar(select(func.count()).select_from(CadetTotalDelta)) == 0  # every delta folded


def test_the_lean_page_shaper_builds_the_very_dicts_of_shape_cadet(app):
    from blueprints.core.reads.cadets import shape_cadet, shape_cadet_rows
    from blueprints.core.reads.selects import select_cadets_with_grades

    admin = make_user("admin")
    make_cadet(admin, middle_name="Reyes", suffix="Jr", company=None)
    _some_cadets(admin, 3)
    result = db.session.execute(select_cadets_with_grades().order_by(Cadet.id))
    keys, rows = list(result.keys()), result.all()
    lean = shape_cadet_rows(keys, rows)
    slow = [shape_cadet(dict(zip(keys, row, strict=True))) for row in rows]
    assert lean == slow
    assert [list(c) for c in lean] == [list(c) for c in slow]  # key order too: the JSON bytes
    assert [list(c["grades"]) for c in lean] == [list(c["grades"]) for c in slow]
