"""Grades over the API: the table's filters and sorts, the breakdown, lost-update guard, bulk updates."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from blueprints.core.reads.grades import GRADE_SORTS
from models import AuditLog, Grade, db
from tests.factories import make_cadet, make_training_day
from tests.test_api_support import assert_error, body_of, call, count, tokens

GRADE_SORT_KEYS = ("attendance_score", "aptitude_score", "subject_score", "remarks", "merit_points",
                   "demerit_points", "attendance_present", "final_grade", "transmuted_grade")


@pytest.fixture
def tok(app):
    return tokens()


@pytest.fixture
def graded(app, tok, client):
    ids = [make_cadet(last_name=f"G{i}", first_name="X") for i in range(6)]
    items = [{"cadet_id": cid, "prelim_score": 95.0, "midterm_score": 95.0, "final_score": 95.0 - 20 * (i % 3)}
             for i, cid in enumerate(ids)]
    items[5] = {"cadet_id": ids[5], "status": "INC"}
    day = make_training_day()
    call(client, "POST", "/api/attendance/bulk", tok["admin"],
         {"training_day_id": day, "cadet_ids": ids[:4], "status": "present"})
    assert call(client, "POST", "/api/grades/bulk-update", tok["admin"], {"items": items}).status_code == 200
    for cid, kind, points in ((ids[0], "merit", 7), (ids[1], "demerit", 3), (ids[2], "merit", 2)):
        call(client, "POST", "/api/merit-demerits", tok["admin"],
             {"cadet_id": cid, "type": kind, "points": points, "reason": "r"})
    return ids


def _rows(client, token, query=""):
    res = call(client, "GET", f"/api/grades?limit=100&{query}", token)
    assert res.status_code == 200, res.data
    return body_of(res)["data"]


def scores(cadet_id: int) -> tuple:
    db.session.expire_all()
    g = db.session.scalar(select(Grade).where(Grade.cadet_id == cadet_id))
    return g.prelim_score, g.midterm_score, g.final_score, g.status, g.version


@pytest.mark.parametrize("key", GRADE_SORT_KEYS)
@pytest.mark.parametrize("desc", [False, True])
def test_grade_sorts(client, tok, graded, key, desc):
    rows = [r for r in _rows(client, tok["admin"], f"sort={'-' if desc else ''}{key}") if r["id"] in graded]
    assert key in GRADE_SORTS
    assert len(rows) == 6
    # NULLs (the INC cadet's transmuted grade) sort first on SQLite, last on PostgreSQL: leave them out.
    keyed = [(r["grades"][key], r["id"]) for r in rows if r["grades"][key] is not None]
    assert keyed == sorted(keyed, reverse=desc)


def test_grade_sorts_include_the_cadet_sorts(client, tok, graded):
    names = [r["last_name"] for r in _rows(client, tok["admin"], "sort=-name") if r["id"] in graded]
    assert names == sorted(names, reverse=True)


def test_remarks_filter_and_cadet_filters(client, tok, graded):
    rows = {r["id"]: r for r in _rows(client, tok["admin"]) if r["id"] in graded}
    for remarks in ("Passed", "Failed", "Incomplete"):
        got = {r["id"] for r in _rows(client, tok["admin"], f"remarks={remarks}")} & set(graded)
        assert got == {i for i, r in rows.items() if r["grades"]["remarks"] == remarks}
        assert got
    assert {r["id"] for r in _rows(client, tok["admin"], "search=G3&remarks=Passed")} <= {graded[3]}
    assert_error(call(client, "GET", "/api/grades?remarks=Great", tok["admin"]), 400)


def test_breakdown_with_logs_and_etag(client, tok, graded):
    res = call(client, "GET", f"/api/grades/{graded[0]}", tok["training_staff"])
    detail = body_of(res)["data"]
    assert res.headers["ETag"] == f'"v{detail["version"]}"'
    assert detail["cadet_id"] == graded[0] and detail["merit_points"] == 7
    assert [log["points"] for log in detail["merit_logs"]] == [7]
    assert {"attendance_score", "aptitude_score", "subject_score", "final_grade", "transmuted_grade",
            "remarks"} <= set(detail)
    assert_error(call(client, "GET", "/api/grades/999999", tok["admin"]), 404)


def test_patch_with_version_in_body_and_stale_version(client, tok, graded):
    cid = graded[0]
    version = scores(cid)[4]
    res = call(client, "PATCH", f"/api/grades/{cid}", tok["admin"], {"prelim_score": 80, "version": version})
    assert res.status_code == 200 and body_of(res)["data"]["prelim_score"] == 80.0
    assert res.headers["ETag"] == f'"v{version + 1}"'
    before, audits = scores(cid), count(AuditLog)
    stale = assert_error(call(client, "PATCH", f"/api/grades/{cid}", tok["admin"],
                              {"prelim_score": 10, "version": version}), 409, "CONFLICT")
    assert "version" in stale["details"]
    assert scores(cid) == before and count(AuditLog) == audits


@pytest.mark.parametrize("header", ['"v{v}"', "v{v}", "{v}", 'W/"v{v}"'])
def test_if_match_header_guards_lost_updates(client, tok, graded, header):
    cid = graded[1]
    v = scores(cid)[4]
    # Two scripts read version v; the first write wins, the second gets 409 and changes nothing.
    first = call(client, "PATCH", f"/api/grades/{cid}", tok["admin"], {"midterm_score": 70},
                 headers={"If-Match": header.format(v=v)})
    assert first.status_code == 200
    second = call(client, "PATCH", f"/api/grades/{cid}", tok["admin"], {"midterm_score": 20},
                  headers={"If-Match": header.format(v=v)})
    assert_error(second, 409)
    assert scores(cid)[1] == 70.0 and scores(cid)[4] == v + 1


def test_bad_if_match_and_bad_bodies(client, tok, graded):
    cid = graded[2]
    before = scores(cid)
    assert_error(call(client, "PATCH", f"/api/grades/{cid}", tok["admin"], {"final_score": 1},
                      headers={"If-Match": '"abc"'}), 400)
    assert_error(call(client, "PATCH", f"/api/grades/{cid}", tok["admin"], {"final_score": 1, "version": 1},
                      headers={"If-Match": '"v2"'}), 400)
    for body in ({}, {"final_score": 101}, {"prelim_score": "high"}, {"status": "X"}, {"status": None},
                 {"final_score": 1, "version": 0}, {"final_score": 1, "version": 2**31}):
        assert_error(call(client, "PATCH", f"/api/grades/{cid}", tok["admin"], body), 422)
    assert scores(cid) == before
    assert_error(call(client, "PATCH", "/api/grades/999999", tok["admin"], {"final_score": 1}), 404)


def test_bulk_update_is_all_or_nothing(client, tok, graded):
    a, b = graded[3], graded[4]
    res = call(client, "POST", "/api/grades/bulk-update", tok["admin"],
               {"items": [{"cadet_id": a, "final_score": 60}, {"cadet_id": b, "final_score": 61}]})
    assert body_of(res) == {"data": {"updated": 2}}
    before, audits = (scores(a), scores(b)), count(AuditLog)
    bad_bodies = {
        422: [{"items": [{"cadet_id": a, "final_score": 1}, {"cadet_id": b, "final_score": 500}]},
              {"items": [{"cadet_id": a, "final_score": 1}, {"cadet_id": a, "final_score": 2}]},
              {"items": [{"cadet_id": a, "final_score": 1}, "nope"]}, {"items": []}, {"items": {}},
              {"items": [{"cadet_id": a, "status": None}]}],
        404: [{"items": [{"cadet_id": a, "final_score": 1}, {"cadet_id": 999999, "final_score": 2}]}],
        409: [{"items": [{"cadet_id": a, "final_score": 1}, {"cadet_id": b, "final_score": 2, "version": 1}]}],
    }
    for status, bodies in bad_bodies.items():
        for body in bodies:
            payload = assert_error(call(client, "POST", "/api/grades/bulk-update", tok["admin"], body), status)
            assert payload["details"]
    assert (scores(a), scores(b)) == before and count(AuditLog) == audits


@pytest.mark.parametrize("encoding", ["gzip", "zstd", "br", "identity"])
def test_etag_sent_back_exactly_as_received_guards_the_write(client, tok, graded, encoding):
    # Flask-Compress suffixes a strong ETag with the coding ("v1:gzip"); the client echoes it verbatim.
    cid = graded[0]
    got = call(client, "GET", f"/api/grades/{cid}", tok["admin"], headers={"Accept-Encoding": encoding})
    assert got.headers.get("Content-Encoding", "identity") == encoding
    etag = got.headers["ETag"]
    first = call(client, "PATCH", f"/api/grades/{cid}", tok["admin"], {"final_score": 50},
                 headers={"If-Match": etag, "Accept-Encoding": encoding})
    assert first.status_code == 200, first.data[:300]
    before = scores(cid)
    stale = call(client, "PATCH", f"/api/grades/{cid}", tok["admin"], {"final_score": 40},
                 headers={"If-Match": etag, "Accept-Encoding": "identity"})
    assert_error(stale, 409, "CONFLICT")
    assert scores(cid) == before


@pytest.mark.parametrize("header", ['"v{v}:gzip"', 'W/"v{v}:zstd"', '"v{v}:br"'])
def test_if_match_ignores_a_content_coding_suffix(client, tok, graded, header):
    cid = graded[1]
    v = scores(cid)[4]
    res = call(client, "PATCH", f"/api/grades/{cid}", tok["admin"], {"prelim_score": 61},
               headers={"If-Match": header.format(v=v)})
    assert res.status_code == 200, res.data[:300]
    assert scores(cid)[4] == v + 1


@pytest.mark.parametrize("header", ['"v1:"', '"v1:gzip:gzip"', '"v:gzip"', '"v1:gz ip"', '"v1", "v2"'])
def test_if_match_that_is_not_a_grade_etag_is_a_400(client, tok, graded, header):
    cid = graded[2]
    before = scores(cid)
    assert_error(call(client, "PATCH", f"/api/grades/{cid}", tok["admin"], {"final_score": 1},
                      headers={"If-Match": header}), 400)
    assert scores(cid) == before
