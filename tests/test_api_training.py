"""Training days, attendance and merit/demerit logs over the API."""

from __future__ import annotations

import pytest

from blueprints.core.reads.attendance import ATTENDANCE_SPEC
from blueprints.core.reads.merits import MERIT_SPEC
from blueprints.core.reads.training import TRAINING_DAY_SPEC
from models import AttendanceRecord, AuditLog, MeritDemeritLog, TrainingDay
from tests.factories import make_cadet, make_token, make_training_day, make_user
from tests.test_api_support import assert_error, body_of, call, count, tokens


@pytest.fixture
def tok(app):
    return tokens()


@pytest.fixture
def setup(app, tok, client):
    """Three days, four cadets in two companies, attendance and merit logs."""
    days = [make_training_day(offset=i, title=f"Drill {chr(65 + i)}", location=("Field", "Gym", "Field")[i])
            for i in range(3)]
    cadets = [make_cadet(last_name=f"Ln{i}", company=("Alpha", "Bravo")[i % 2], platoon=("P1", "P2")[i // 2])
              for i in range(4)]
    for day, status in zip(days, ("present", "late", "absent"), strict=True):
        call(client, "POST", "/api/attendance/bulk", tok["admin"],
             {"training_day_id": day, "cadet_ids": cadets, "status": status})
    for cid, kind in zip(cadets, ("merit", "demerit", "merit", "merit"), strict=True):
        call(client, "POST", "/api/merit-demerits", tok["training_staff"],
             {"cadet_id": cid, "type": kind, "points": 3 + cid % 5, "reason": f"reason for {cid}"})
    return days, cadets


def _list(client, token, path):
    res = call(client, "GET", path, token)
    assert res.status_code == 200, res.data
    return body_of(res)


def _ordered(rows, key, desc):
    keyed = [(*key(r), r["id"]) for r in rows]
    return keyed == sorted(keyed, reverse=desc)


# --- training days ---------------------------------------------------------------------------------

def test_training_day_list_filters_search_and_counts(client, tok, setup):
    days, _ = setup
    body = _list(client, tok["admin"], "/api/training-days")
    assert body["total"] == 3 and [d["id"] for d in body["data"]] == days[::-1]  # newest first
    first = next(d for d in body["data"] if d["id"] == days[0])
    assert (first["present_count"], first["late_count"], first["absent_count"], first["excused_count"]) == (
        4, 0, 0, 0)
    assert [d["id"] for d in _list(client, tok["admin"], "/api/training-days?date_from=2026-09-02")["data"]] == [
        days[2], days[1]]
    assert [d["id"] for d in _list(client, tok["admin"], "/api/training-days?date_to=2026-09-01")["data"]] == [
        days[0]]
    assert {d["id"] for d in _list(client, tok["admin"], "/api/training-days?search=gym")["data"]} == {days[1]}
    assert_error(call(client, "GET", "/api/training-days?date_from=yesterday", tok["admin"]), 400)


@pytest.mark.parametrize("sort", sorted(TRAINING_DAY_SPEC.sorts))
@pytest.mark.parametrize("desc", [False, True])
def test_training_day_sorts(client, tok, setup, sort, desc):
    rows = _list(client, tok["admin"], f"/api/training-days?sort={'-' if desc else ''}{sort}")["data"]
    assert _ordered(rows, lambda r: (r[sort],), desc) and len(rows) == 3


def test_training_day_create_get_patch_delete(client, tok):
    res = call(client, "POST", "/api/training-days", tok["training_staff"],
               {"date": "2026-10-01", "title": "Field day", "location": "Camp"})
    assert res.status_code == 201
    day = body_of(res)["data"]
    assert day["date"] == "2026-10-01" and day["present_count"] == 0
    assert res.headers["Location"].endswith(f"/api/training-days/{day['id']}")
    assert body_of(call(client, "GET", f"/api/training-days/{day['id']}", tok["admin"]))["data"]["title"] == (
        "Field day")
    res = call(client, "PATCH", f"/api/training-days/{day['id']}", tok["admin"], {"title": "Renamed"})
    assert body_of(res)["data"]["title"] == "Renamed"
    before = count(TrainingDay), count(AuditLog)
    for body in ({"date": "2026-13-01", "title": "x"}, {"title": ""}, {"date": "tomorrow"}):
        assert_error(call(client, "POST", "/api/training-days", tok["admin"], body), 422)
    assert_error(call(client, "PATCH", f"/api/training-days/{day['id']}", tok["admin"], {"date": None}), 422)
    assert (count(TrainingDay), count(AuditLog)) == before
    assert call(client, "DELETE", f"/api/training-days/{day['id']}", tok["admin"]).status_code == 204
    assert_error(call(client, "GET", f"/api/training-days/{day['id']}", tok["admin"]), 404)
    assert_error(call(client, "DELETE", f"/api/training-days/{day['id']}", tok["admin"]), 404)


# --- attendance ------------------------------------------------------------------------------------

def test_attendance_filters(client, tok, setup):
    days, cadets = setup
    url = "/api/attendance?limit=100"
    assert _list(client, tok["admin"], url)["total"] == 12
    assert {r["cadet_id"] for r in _list(client, tok["admin"], f"{url}&cadet_id={cadets[1]}")["data"]} == {
        cadets[1]}
    assert {r["training_day_id"] for r in _list(client, tok["admin"], f"{url}&training_day_id={days[1]}")[
        "data"]} == {days[1]}
    assert {r["status"] for r in _list(client, tok["admin"], f"{url}&status=absent")["data"]} == {"absent"}
    assert {r["company"] for r in _list(client, tok["admin"], f"{url}&company=Bravo")["data"]} == {"Bravo"}
    assert {r["platoon"] for r in _list(client, tok["admin"], f"{url}&platoon=P2")["data"]} == {"P2"}
    assert {r["last_name"] for r in _list(client, tok["admin"], f"{url}&search=ln3")["data"]} == {"Ln3"}
    assert_error(call(client, "GET", "/api/attendance?status=asleep", tok["admin"]), 400)


ATTENDANCE_KEYS = {"name": lambda r: (r["last_name"], r["first_name"]), "status": lambda r: (r["status"],),
                   "date": lambda r: (r["training_date"],), "student_id": lambda r: (r["student_id"],),
                   "id": lambda r: ()}


@pytest.mark.parametrize("sort", sorted(ATTENDANCE_SPEC.sorts))
@pytest.mark.parametrize("desc", [False, True])
def test_attendance_sorts(client, tok, setup, sort, desc):
    rows = _list(client, tok["admin"], f"/api/attendance?limit=100&sort={'-' if desc else ''}{sort}")["data"]
    assert _ordered(rows, ATTENDANCE_KEYS[sort], desc) and len(rows) == 12


def test_bulk_attendance_counts_and_conflict_modes(client, tok, setup):
    days, cadets = setup
    extra = make_cadet()
    url = "/api/attendance/bulk"
    res = call(client, "POST", url, tok["admin"],
               {"training_day_id": days[0], "cadet_ids": [*cadets[:2], extra], "status": "excused"})
    assert body_of(res)["data"] == {"created": 1, "updated": 0, "skipped": 2}
    res = call(client, "POST", url, tok["admin"], {"training_day_id": days[0], "cadet_ids": cadets[:2],
                                                   "status": "excused", "on_conflict": "update"})
    assert body_of(res)["data"] == {"created": 0, "updated": 2, "skipped": 0}


def test_bulk_attendance_is_all_or_nothing(client, tok, setup):
    days, cadets = setup
    before = count(AttendanceRecord), count(AuditLog)
    url = "/api/attendance/bulk"
    details = assert_error(call(client, "POST", url, tok["admin"], {
        "training_day_id": days[0], "cadet_ids": [cadets[0], 999999], "status": "late", "on_conflict": "update"}),
        404)["details"]
    assert "999999" in details["cadet_ids"][0]
    for body in ({"training_day_id": days[0], "cadet_ids": [], "status": "late"},
                 {"training_day_id": days[0], "cadet_ids": ["1"], "status": "late"},
                 {"training_day_id": days[0], "cadet_ids": cadets, "status": "asleep"},
                 {"training_day_id": days[0], "cadet_ids": cadets, "status": "late", "on_conflict": "merge"},
                 {"cadet_ids": cadets, "status": "late"}):
        assert_error(call(client, "POST", url, tok["admin"], body), 422)
    assert_error(call(client, "POST", url, tok["admin"], {"training_day_id": 999999, "cadet_ids": cadets,
                                                          "status": "late"}), 404)
    assert (count(AttendanceRecord), count(AuditLog)) == before
    statuses = {r["status"] for r in _list(client, tok["admin"], f"/api/attendance?training_day_id={days[0]}")[
        "data"]}
    assert statuses == {"present"}


def test_patch_one_attendance_record(client, tok, setup):
    days, cadets = setup
    record = _list(client, tok["admin"], f"/api/attendance?training_day_id={days[2]}&cadet_id={cadets[0]}")[
        "data"][0]
    res = call(client, "PATCH", f"/api/attendance/{record['id']}", tok["admin"],
               {"status": "excused", "remarks": "medical"})
    updated = body_of(res)["data"]
    assert (updated["id"], updated["status"], updated["remarks"]) == (record["id"], "excused", "medical")
    assert_error(call(client, "PATCH", f"/api/attendance/{record['id']}", tok["admin"], {"status": None}), 422)
    assert_error(call(client, "PATCH", f"/api/attendance/{record['id']}", tok["admin"], {}), 422)
    assert_error(call(client, "PATCH", "/api/attendance/999999", tok["admin"], {"status": "late"}), 404)


# --- merits ----------------------------------------------------------------------------------------

def test_merit_list_filters_and_issuer(client, tok, setup):
    _, cadets = setup
    body = _list(client, tok["admin"], "/api/merit-demerits")
    assert body["total"] == 4
    assert all(r["issued_by_name"].startswith("training_staff") for r in body["data"])
    url = "/api/merit-demerits?"
    assert {r["cadet_id"] for r in _list(client, tok["admin"], f"{url}cadet_id={cadets[2]}")["data"]} == {
        cadets[2]}
    assert {r["type"] for r in _list(client, tok["admin"], f"{url}type=demerit")["data"]} == {"demerit"}
    assert len(_list(client, tok["admin"], f"{url}company=Alpha")["data"]) == 2
    assert len(_list(client, tok["admin"], f"{url}search=reason for {cadets[3]}")["data"]) == 1


MERIT_KEYS = {"date_recorded": lambda r: (r["date_recorded"],), "points": lambda r: (r["points"],),
              "type": lambda r: (r["type"],), "name": lambda r: (r["last_name"], r["first_name"]), "id": lambda r: ()}


@pytest.mark.parametrize("sort", sorted(MERIT_SPEC.sorts))
@pytest.mark.parametrize("desc", [False, True])
def test_merit_sorts(client, tok, setup, sort, desc):
    rows = _list(client, tok["admin"], f"/api/merit-demerits?sort={'-' if desc else ''}{sort}")["data"]
    assert _ordered(rows, MERIT_KEYS[sort], desc) and len(rows) == 4


def test_record_and_delete_merit(client, tok):
    staff = make_user("training_staff", username="sgt-reyes")
    token = make_token(staff)
    cid = make_cadet()
    res = call(client, "POST", "/api/merit-demerits", token,
               {"cadet_id": cid, "type": "merit", "points": 10, "reason": "Led the drill"})
    assert res.status_code == 201
    entry = body_of(res)["data"]
    assert (entry["cadet_id"], entry["issued_by_name"], entry["issued_by_user_id"]) == (cid, "sgt-reyes", staff.id)
    grades = body_of(call(client, "GET", f"/api/grades/{cid}", token))["data"]
    assert grades["merit_points"] == 10
    before = count(MeritDemeritLog), count(AuditLog)
    for body in ({"cadet_id": cid, "type": "praise", "points": 1, "reason": "x"},
                 {"cadet_id": cid, "type": "merit", "points": 0, "reason": "x"},
                 {"cadet_id": cid, "type": "merit", "points": 1}):
        assert_error(call(client, "POST", "/api/merit-demerits", token, body), 422)
    assert_error(call(client, "POST", "/api/merit-demerits", token,
                      {"cadet_id": 999999, "type": "merit", "points": 1, "reason": "x"}), 404)
    assert (count(MeritDemeritLog), count(AuditLog)) == before
    # Removing an entry is a correction, as on the pages: admins only.
    assert_error(call(client, "DELETE", f"/api/merit-demerits/{entry['id']}", token), 403)
    assert call(client, "DELETE", f"/api/merit-demerits/{entry['id']}", tok["admin"]).status_code == 204
    assert body_of(call(client, "GET", f"/api/grades/{cid}", token))["data"]["merit_points"] == 0
    assert_error(call(client, "DELETE", f"/api/merit-demerits/{entry['id']}", tok["admin"]), 404)
