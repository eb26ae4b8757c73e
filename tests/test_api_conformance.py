"""Where the code and /api/openapi.json used to disagree (schemathesis' findings), one test each:
the document promises it, the code does it, and input the document refuses is refused."""

from __future__ import annotations

import jsonschema_rs
import orjson
import pytest

from models import AttendanceRecord, AuditLog, TrainingDay
from tests.factories import make_cadet, make_cadets, make_training_day
from tests.test_api_support import assert_error, body_of, call, count, tokens


@pytest.fixture
def tok(app):
    return tokens()


@pytest.fixture
def doc(client):
    return orjson.loads(client.get("/api/openapi.json").data)


def _param_schema(doc, path: str, method: str, name: str) -> dict:
    params = doc["paths"][path][method]["parameters"]
    return next(p["schema"] for p in params if p["name"] == name)


def _valid(schema: dict, value, doc=None) -> bool:
    if doc is not None:
        schema = {**schema, "components": doc["components"]}
    return jsonschema_rs.validator_for(schema, validate_formats=True).is_valid(value)


# --- 405 carries Allow -----------------------------------------------------------------------------

@pytest.mark.parametrize(("method", "path", "allowed"), [
    ("PUT", "/api/cadets", {"GET", "HEAD", "OPTIONS", "POST"}),
    ("TRACE", "/api/health", {"GET", "HEAD", "OPTIONS"}),
    ("GET", "/api/attendance/bulk", {"OPTIONS", "POST"}),
    ("POST", "/api/grades/1", {"GET", "HEAD", "OPTIONS", "PATCH"}),
])
def test_method_not_allowed_names_the_allowed_methods(client, tok, method, path, allowed):
    res = call(client, method, path, tok["admin"])
    assert_error(res, 405, "METHOD_NOT_ALLOWED")
    assert {m.strip() for m in res.headers["Allow"].split(",")} == allowed


def test_method_not_allowed_on_a_page_also_names_them(client):
    res = client.put("/login")
    assert res.status_code == 405 and {m.strip() for m in res.headers["Allow"].split(",")} >= {"GET", "POST"}


# --- list parameters ------------------------------------------------------------------------------

def test_after_walks_in_id_order_without_a_sort_and_in_the_sort_with_one(client, tok, doc):
    make_cadets(5)
    plain = body_of(call(client, "GET", "/api/cadets?after=0&limit=3", tok["admin"]))
    assert [r["id"] for r in plain["data"]] == [1, 2, 3] and plain["next_after"] == 3
    for sort in ("-name", "company", "-final_grade"):
        res = call(client, "GET", f"/api/cadets?after=0&limit=3&sort={sort}", tok["admin"])
        listed = body_of(call(client, "GET", f"/api/cadets?limit=3&sort={sort}", tok["admin"]))
        assert res.status_code == 200, res.data
        assert body_of(res)["data"] == listed["data"] and isinstance(body_of(res)["next_after"], str)


@pytest.mark.parametrize("path", ["/api/cadets", "/api/grades", "/api/training-days", "/api/merit-demerits",
                                  "/api/attendance"])
def test_search_over_100_characters_is_refused_as_documented(client, tok, doc, path):
    assert _param_schema(doc, path, "get", "search")["maxLength"] == 100
    assert call(client, "GET", f"{path}?search={'x' * 100}", tok["admin"]).status_code == 200
    payload = assert_error(call(client, "GET", f"{path}?search={'x' * 101}", tok["admin"]), 400)
    assert "search" in payload["details"]


@pytest.mark.parametrize("value", ["1899-12-31", "9001-01-01", "0001-01-01", "9999-12-31", "2026-W01-1",
                                   "20260101", "2026-01-01T00:00"])
def test_date_filters_and_their_schema_refuse_the_same_dates(client, tok, doc, value):
    schema = _param_schema(doc, "/api/audit-logs", "get", "date_from")
    assert not _valid(schema, value)
    assert_error(call(client, "GET", f"/api/audit-logs?date_from={value}", tok["admin"]), 400)


@pytest.mark.parametrize("value", ["1900-01-01", "2026-02-28", "9000-12-31"])
def test_date_filters_and_their_schema_accept_the_same_dates(client, tok, doc, value):
    assert _valid(_param_schema(doc, "/api/audit-logs", "get", "date_from"), value)
    assert call(client, "GET", f"/api/audit-logs?date_from={value}", tok["admin"]).status_code == 200


def test_documented_integer_filter_and_cursor_bounds_are_the_codes(client, tok, doc):
    cadet_id = _param_schema(doc, "/api/attendance", "get", "cadet_id")
    assert (cadet_id["minimum"], cadet_id["maximum"]) == (-(2**31) + 1, 2**31 - 1)
    assert call(client, "GET", f"/api/attendance?cadet_id={2**31 - 1}", tok["admin"]).status_code == 200
    assert_error(call(client, "GET", f"/api/attendance?cadet_id={2**31}", tok["admin"]), 400)
    after = _param_schema(doc, "/api/cadets", "get", "after")
    assert after["minimum"] == 0  # after=0 starts a walk
    assert call(client, "GET", "/api/cadets?after=0", tok["admin"]).status_code == 200
    assert call(client, "GET", f"/api/cadets?after={after['maximum']}", tok["admin"]).status_code == 200
    assert_error(call(client, "GET", f"/api/cadets?after={after['maximum'] + 1}", tok["admin"]), 400)


# --- training-day dates: what the filters refuse, a training day cannot have ----------------------

@pytest.mark.parametrize("value", ["0001-01-01", "9999-12-31", "2026-W01-1", "1899-12-31", "20260101"])
def test_training_day_dates_the_filters_refuse_are_refused(client, tok, doc, value):
    assert not _valid({"$ref": "#/components/schemas/TrainingDayInput"}, {"date": value, "title": "T"}, doc)
    before = count(TrainingDay), count(AuditLog)
    payload = assert_error(call(client, "POST", "/api/training-days", tok["admin"], {"date": value, "title": "T"}),
                           422)
    assert "date" in payload["details"]
    day = make_training_day()
    assert_error(call(client, "PATCH", f"/api/training-days/{day}", tok["admin"], {"date": value}), 422)
    assert (count(TrainingDay), count(AuditLog)) == (before[0] + 1, before[1] + 1)


# --- bodies ---------------------------------------------------------------------------------------

def test_bulk_caps_count_duplicates(client, tok):
    cadet = make_cadet()
    day = make_training_day()
    audits = count(AuditLog)
    payload = assert_error(call(client, "POST", "/api/attendance/bulk", tok["admin"],
                                {"training_day_id": day, "cadet_ids": [cadet] * 6000, "status": "present"}), 422)
    assert "cadet_ids" in payload["details"]
    assert_error(call(client, "POST", "/api/cadets/bulk-archive", tok["admin"], {"ids": [cadet] * 6000}), 422)
    assert count(AttendanceRecord) == 0 and count(AuditLog) == audits
    ok = call(client, "POST", "/api/attendance/bulk", tok["admin"],
              {"training_day_id": day, "cadet_ids": [cadet] * 5000, "status": "present"})
    assert body_of(ok)["data"] == {"created": 1, "updated": 0, "skipped": 0}


@pytest.mark.parametrize(("method", "path"), [("PATCH", "/api/cadets/{cadet}"), ("PUT", "/api/system-settings"),
                                              ("PATCH", "/api/training-days/{day}"), ("POST", "/api/cadets")])
def test_a_missing_body_is_refused_where_the_document_requires_one(client, tok, doc, method, path):
    assert doc["paths"][path.replace("{cadet}", "{cadet_id}").replace("{day}", "{day_id}")][method.lower()][
        "requestBody"]["required"] is True
    url = path.format(cadet=make_cadet(), day=make_training_day())
    audits = count(AuditLog)
    payload = assert_error(call(client, method, url, tok["admin"]), 400, "BAD_REQUEST")
    assert "body" in payload["details"] and count(AuditLog) == audits


def test_whole_numbers_written_with_a_decimal_point_are_whole_numbers(client, tok):
    # JSON Schema's "integer" includes 2.0, so the documented id lists must accept it.
    cadets = [make_cadet(), make_cadet()]
    day = make_training_day()
    res = call(client, "POST", "/api/attendance/bulk", tok["admin"],
               {"training_day_id": float(day), "cadet_ids": [float(c) for c in cadets], "status": "late"})
    assert body_of(res)["data"]["created"] == 2
    res = call(client, "POST", "/api/cadets/bulk-archive", tok["admin"], {"ids": [float(cadets[0])]})
    assert body_of(res)["data"] == {"changed": 1}
    assert_error(call(client, "POST", "/api/cadets/bulk-restore", tok["admin"], {"ids": [1.5]}), 422)


@pytest.mark.parametrize(("schema", "body"), [
    ("CadetInput", {"student_id": "S-1", "first_name": "A", "last_name": "B", "status": None}),
    ("CadetInput", {"student_id": "S-1", "first_name": "   ", "last_name": "B"}),
    ("CadetInput", {"student_id": "S-1", "first_name": "A\u0007", "last_name": "B"}),
    ("GradePatch", {}),
    ("GradePatch", {"final_score": 1, "version": 2**31}),
    ("GradeBulk", {"items": [{"cadet_id": 1}]}),
    ("GradeBulk", {"items": [{"cadet_id": 1, "version": 3}]}),
    ("AttendancePatch", {}),
    ("MeritInput", {"cadet_id": 1, "type": "merit", "points": 1, "reason": "tab\there"}),
])
def test_bodies_the_code_refuses_are_refused_by_the_schema(doc, schema, body):
    assert not _valid({"$ref": f"#/components/schemas/{schema}"}, body, doc)
