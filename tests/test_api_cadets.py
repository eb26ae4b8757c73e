"""Cadets over the API: every filter and sort, create/edit/archive/restore, bulk and import all-or-nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from blueprints.core.operations.grades import bulk_update_grades
from blueprints.core.reads.cadets import CADET_SORTS
from models import AuditLog, Cadet, db
from tests.factories import make_cadet, make_user
from tests.test_api_support import assert_error, body_of, call, count, tokens

SORT_VALUES = {
    "id": lambda c: (c["id"],),
    "student_id": lambda c: (c["student_id"],),
    "name": lambda c: (c["last_name"], c["first_name"]),
    "company": lambda c: (c["company"], c["platoon"]),
    "platoon": lambda c: (c["platoon"],),
    "course": lambda c: (c["course"],),
    "year_level": lambda c: (c["year_level"],),
    "status": lambda c: (c["status"],),
    "final_grade": lambda c: (c["grades"]["final_grade"],),
    "transmuted_grade": lambda c: (c["grades"]["transmuted_grade"],),
    "created_at": lambda c: (c["created_at"],),
}


@pytest.fixture
def tok(app):
    return tokens()


@pytest.fixture
def roster(app, tok):
    """Nine cadets across companies, platoons, courses, years and statuses, with different grades."""
    admin = make_user("admin")
    ids = []
    for i in range(9):
        ids.append(make_cadet(admin, student_id=f"S{i:03d}", last_name=f"Name{i % 4}", first_name=f"Given{i}",
                              company=("Alpha", "Bravo", "Charlie")[i % 3], platoon=("P1", "P2")[i % 2],
                              course=("BSA", "BSN", "BSIT")[i % 3], year_level=1 + i % 4,
                              status=("Ongoing", "Completed", "Failed")[i % 3]))
    items = [{"cadet_id": cid, "prelim_score": 10.0 * (i % 5), "final_score": 50.0 + i} for i, cid in enumerate(ids)]
    bulk_update_grades(admin, items)
    return ids


def _all(client, token, query: str = "") -> list[dict]:
    res = call(client, "GET", f"/api/cadets?limit=100&{query}", token)
    assert res.status_code == 200, res.data
    return body_of(res)["data"]


def _roster_ids(rows) -> set[int]:
    return {r["id"] for r in rows if r["student_id"].startswith("S")}


def test_each_filter_matches_the_rows_it_names(client, tok, roster):
    ids = roster
    everyone = {r["id"]: r for r in _all(client, tok["admin"]) if r["id"] in ids}
    checks = {"company=Bravo": lambda c: c["company"] == "Bravo", "platoon=P2": lambda c: c["platoon"] == "P2",
              "course=BSIT": lambda c: c["course"] == "BSIT", "year_level=3": lambda c: c["year_level"] == 3,
              "status=Failed": lambda c: c["status"] == "Failed",
              "search=given7": lambda c: c["first_name"] == "Given7", "search=S00": lambda c: True,
              "company=Alpha&platoon=P1": lambda c: c["company"] == "Alpha" and c["platoon"] == "P1"}
    for query, keep in checks.items():
        got = _roster_ids(_all(client, tok["admin"], query))
        assert got == {i for i, c in everyone.items() if keep(c)}, query
        assert got, query


def test_archived_filter_and_default_hides_archived(client, tok, roster):
    ids = roster
    assert call(client, "POST", "/api/cadets/bulk-archive", tok["admin"], {"ids": ids[:2]}).status_code == 200
    assert _roster_ids(_all(client, tok["admin"])) == set(ids[2:])
    assert _roster_ids(_all(client, tok["admin"], "archived=active")) == set(ids[2:])
    assert _roster_ids(_all(client, tok["admin"], "archived=false")) == set(ids[2:])
    assert _roster_ids(_all(client, tok["admin"], "archived=archived")) == set(ids[:2])
    assert _roster_ids(_all(client, tok["admin"], "archived=true")) == set(ids[:2])
    assert _roster_ids(_all(client, tok["admin"], "archived=all")) == set(ids)


@pytest.mark.parametrize("key", sorted(CADET_SORTS))
@pytest.mark.parametrize("desc", [False, True])
def test_every_sort_orders_rows_with_the_id_as_tie_breaker(client, tok, roster, key, desc):
    ids = roster
    rows = [r for r in _all(client, tok["admin"], f"sort={'-' if desc else ''}{key}") if r["id"] in ids]
    keyed = [(*SORT_VALUES[key](r), r["id"]) for r in rows]
    assert keyed == sorted(keyed, reverse=desc)
    assert len(rows) == len(ids)


def test_rows_carry_the_grade_summary(client, tok, roster):
    ids = roster
    row = next(r for r in _all(client, tok["admin"]) if r["id"] == ids[4])
    grades = row["grades"]
    assert grades["prelim_score"] == 40.0 and grades["final_score"] == 54.0
    assert {"final_grade", "transmuted_grade", "remarks", "version", "badge"} <= set(grades)
    assert isinstance(grades["final_grade"], float) and isinstance(row["is_archived"], bool)
    assert row["created_at"].endswith("+00:00")


def test_create_get_patch_and_duplicate(client, tok):
    assert_error(call(client, "POST", "/api/cadets", tok["training_staff"], {"student_id": "2026-777"}), 403)
    res = call(client, "POST", "/api/cadets", tok["admin"],
               {"student_id": "2026-777", "first_name": "Ana", "last_name": "Cruz", "year_level": "2"})
    assert res.status_code == 201
    cadet = body_of(res)["data"]
    assert res.headers["Location"].endswith(f"/api/cadets/{cadet['id']}")
    assert cadet["year_level"] == 2 and cadet["grades"]["version"] == 1 and cadet["merit_logs"] == []
    assert body_of(call(client, "GET", f"/api/cadets/{cadet['id']}", tok["admin"]))["data"]["full_name"] == "Cruz, Ana"
    res = call(client, "PATCH", f"/api/cadets/{cadet['id']}", tok["admin"], {"company": "Delta", "middle_name": "B"})
    assert body_of(res)["data"]["company"] == "Delta" and body_of(res)["data"]["full_name"] == "Cruz, Ana B."
    before = count(Cadet), count(AuditLog)
    dup = assert_error(call(client, "POST", "/api/cadets", tok["admin"],
                            {"student_id": "2026-777", "first_name": "X", "last_name": "Y"}), 409, "CONFLICT")
    assert "student_id" in dup["details"]
    other = make_cadet(student_id="2026-778")
    assert_error(call(client, "PATCH", f"/api/cadets/{other}", tok["admin"], {"student_id": "2026-777"}), 409)
    assert_error(call(client, "PATCH", f"/api/cadets/{other}", tok["admin"], {"status": None}), 422)
    assert_error(call(client, "PATCH", f"/api/cadets/{other}", tok["admin"], {"year_level": 9}), 422)
    assert_error(call(client, "PATCH", "/api/cadets/999999", tok["admin"], {"company": "X"}), 404, "NOT_FOUND")
    assert (count(Cadet), count(AuditLog)) == (before[0] + 1, before[1] + 1)  # only make_cadet wrote


def test_archive_and_restore_one(client, tok):
    cid = make_cadet()
    res = call(client, "DELETE", f"/api/cadets/{cid}", tok["admin"])
    assert res.status_code == 200 and body_of(res)["data"]["is_archived"] is True
    res = call(client, "POST", f"/api/cadets/{cid}/restore", tok["admin"])
    assert res.status_code == 200 and body_of(res)["data"]["is_archived"] is False
    audits = count(AuditLog)
    assert_error(call(client, "DELETE", "/api/cadets/999999", tok["admin"]), 404)
    assert_error(call(client, "POST", "/api/cadets/999999/restore", tok["admin"]), 404)
    assert count(AuditLog) == audits


def test_bulk_archive_and_restore_count_changes_and_are_all_or_nothing(client, tok):
    ids = [make_cadet() for _ in range(3)]
    res = call(client, "POST", "/api/cadets/bulk-archive", tok["admin"], {"ids": ids[:2]})
    assert body_of(res) == {"data": {"changed": 2}}
    assert body_of(call(client, "POST", "/api/cadets/bulk-archive", tok["admin"], {"ids": ids}))["data"] == {
        "changed": 1}
    for bad in ({"ids": [ids[0], "x"]}, {"ids": [ids[0], -1]}, {"ids": []}, {"ids": "1,2"}, {},
                {"ids": [ids[0], 2**31]}):
        assert_error(call(client, "POST", "/api/cadets/bulk-restore", tok["admin"], bad), 422)
    db.session.expire_all()
    assert set(db.session.scalars(select(Cadet.id).where(Cadet.is_archived.is_(True)))) == set(ids)
    assert body_of(call(client, "POST", "/api/cadets/bulk-restore", tok["admin"], {"ids": ids}))["data"] == {
        "changed": 3}


def test_import_creates_all_or_nothing_with_per_row_errors(client, tok):
    rows = [{"student_id": f"IMP-{i}", "first_name": "F", "last_name": f"L{i}"} for i in range(5)]
    res = call(client, "POST", "/api/cadets/import", tok["admin"], {"cadets": rows})
    assert res.status_code == 201 and body_of(res) == {"data": {"created": 5}}
    before = count(Cadet), count(AuditLog)
    bad = [{"student_id": "NEW-1", "first_name": "A", "last_name": "B"},
           {"student_id": "NEW-2", "first_name": "", "last_name": "B", "year_level": 12}]
    details = assert_error(call(client, "POST", "/api/cadets/import", tok["admin"], {"cadets": bad}), 422)["details"]
    assert set(details) == {"cadets[1].first_name", "cadets[1].year_level"}
    dup = [{"student_id": "NEW-3", "first_name": "A", "last_name": "B"},
           {"student_id": "IMP-2", "first_name": "A", "last_name": "B"}]
    assert set(assert_error(call(client, "POST", "/api/cadets/import", tok["admin"], {"cadets": dup}), 409)[
        "details"]) == {"cadets[1].student_id"}
    too_many = [{"student_id": f"T-{i}", "first_name": "A", "last_name": "B"} for i in range(5001)]
    assert_error(call(client, "POST", "/api/cadets/import", tok["admin"], {"cadets": too_many}), 422)
    assert_error(call(client, "POST", "/api/cadets/import", tok["admin"], {"cadets": []}), 422)
    assert (count(Cadet), count(AuditLog)) == before
