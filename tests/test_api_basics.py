"""The API's contract: Bearer tokens, the list envelope and its edges, JSON errors for every status."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from sqlalchemy import select

from blueprints.core.errors import error_body
from blueprints.core.json_encoder import dumps
from models import ApiToken, AuditLog, Cadet, User, db
from tests.factories import PASSWORD, make_cadets, make_user
from tests.test_api_support import assert_error, body_of, call, count, tokens


@pytest.fixture
def tok(app):
    return tokens()


# --- tokens ---------------------------------------------------------------------------------------

def test_token_issue_use_and_revoke(client):
    user = make_user("training_staff")
    res = call(client, "POST", "/api/auth/token", body={"username": user.username, "password": PASSWORD,
                                                         "name": "grade import"})
    assert res.status_code == 201
    data = body_of(res)["data"]
    token = data["token"]
    assert token.startswith("mst_") and data["prefix"] == token[:10] and data["user"]["id"] == user.id
    assert db.session.scalar(select(ApiToken.name).where(ApiToken.user_id == user.id)) == "grade import"
    assert call(client, "GET", "/api/me", token).status_code == 200
    assert call(client, "DELETE", "/api/auth/token", token).status_code == 204
    assert_error(call(client, "GET", "/api/me", token), 401, "UNAUTHORIZED")
    assert_error(call(client, "DELETE", "/api/auth/token", token), 401)


def test_token_issue_rejects_wrong_password_and_bad_bodies(client):
    user = make_user("admin")
    assert_error(call(client, "POST", "/api/auth/token", body={"username": user.username, "password": "nope"}),
                 401, "UNAUTHORIZED")
    assert_error(call(client, "POST", "/api/auth/token", body={"username": "ghost", "password": "x"}), 401)
    details = assert_error(call(client, "POST", "/api/auth/token", body={"username": 5, "password": 7}),
                           422, "VALIDATION_ERROR")["details"]
    assert set(details) == {"username", "password"}
    assert_error(call(client, "POST", "/api/auth/token", body={"username": user.username, "password": PASSWORD,
                                                               "name": "n" * 101}), 422)
    assert_error(call(client, "POST", "/api/auth/token", raw=b"{nope"), 400, "BAD_REQUEST")
    assert count(ApiToken) == 0


def test_five_failures_lock_the_account_with_429(client):
    user = make_user("training_staff")
    for _ in range(5):
        assert_error(call(client, "POST", "/api/auth/token", body={"username": user.username, "password": "bad"}),
                     401)
    locked = assert_error(call(client, "POST", "/api/auth/token",
                               body={"username": user.username, "password": PASSWORD}), 429, "RATE_LIMITED")
    assert "locked" in locked["message"]
    assert count(ApiToken) == 0
    assert db.session.scalar(select(User.locked_until).where(User.id == user.id)) is not None


def test_missing_malformed_and_revoked_tokens_are_401_json_without_cookies(client, tok):
    for headers in ({}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "},
                    {"Authorization": "Bearer mst_not-a-real-token"}, {"Authorization": "Bearer " + "x" * 500}):
        res = client.get("/api/cadets", headers=headers)
        assert_error(res, 401, "UNAUTHORIZED")
        assert "Set-Cookie" not in res.headers and "Location" not in res.headers
    res = call(client, "GET", "/api/cadets", tok["admin"])
    assert res.status_code == 200 and "Set-Cookie" not in res.headers


def test_inactive_users_token_stops_working(client, tok):
    user_id = db.session.scalar(select(ApiToken.user_id).limit(1).order_by(ApiToken.id))
    db.session.get(User, user_id).is_active = False
    db.session.commit()
    assert_error(call(client, "GET", "/api/me", tok["admin"]), 401)


# --- the list envelope ----------------------------------------------------------------------------

def test_envelope_defaults_and_limit_clamp(client, tok):
    make_cadets(120)
    body = body_of(call(client, "GET", "/api/cadets", tok["admin"]))
    assert (body["page"], body["limit"], body["total"], len(body["data"])) == (1, 50, 121, 50)
    body = body_of(call(client, "GET", "/api/cadets?limit=500", tok["admin"]))
    assert (body["limit"], len(body["data"])) == (100, 100)
    body = body_of(call(client, "GET", "/api/cadets?limit=100&page=2", tok["admin"]))
    assert (body["page"], len(body["data"]), body["total"]) == (2, 21, 121)


def test_page_past_the_end_is_empty_with_the_right_total(client, tok):
    make_cadets(3)
    body = body_of(call(client, "GET", "/api/cadets?page=7&limit=2", tok["admin"]))
    assert body == {"data": [], "page": 7, "limit": 2, "total": 4}


@pytest.mark.parametrize("query", ["limit=0", "limit=-1", "limit=ten", "page=0", "page=-3", "page=1.5",
                                   "page=abc", "after=x", "sort=nope", "year_level=first", "status=Sleeping",
                                   "bogus=1", "company=%00", "sort=%09", "sort=+name", "sort=",
                                   "year_level=", "status=%20", f"search={'x' * 101}"])
def test_bad_query_parameters_are_400_naming_the_parameter(client, tok, query):
    payload = assert_error(call(client, "GET", f"/api/cadets?{query}", tok["admin"]), 400, "BAD_REQUEST")
    assert payload["details"]


def test_keyset_walk_with_after_returns_every_row_once(client, tok):
    make_cadets(7)
    body = body_of(call(client, "GET", "/api/cadets?sort=id&limit=3", tok["admin"]))
    seen = [row["id"] for row in body["data"]]
    after = seen[-1]
    while after is not None:
        body = body_of(call(client, "GET", f"/api/cadets?after={after}&limit=3", tok["admin"]))
        seen += [row["id"] for row in body["data"]]
        after = body["next_after"]
    assert seen == list(db.session.scalars(select(Cadet.id).order_by(Cadet.id)))
    assert len(seen) == 8


# --- errors ---------------------------------------------------------------------------------------

def test_unknown_path_and_wrong_method_answer_json(client, tok):
    assert_error(call(client, "GET", "/api/nothing-here", tok["admin"]), 404, "NOT_FOUND")
    assert_error(call(client, "GET", "/api/cadets/0", tok["admin"]), 404)
    assert_error(call(client, "GET", "/api/cadets/99999999999999", tok["admin"]), 404)
    assert_error(call(client, "PUT", "/api/cadets", tok["admin"], body={}), 405, "METHOD_NOT_ALLOWED")
    assert_error(call(client, "GET", "/api/cadets/123", tok["admin"]), 404, "NOT_FOUND")


def test_malformed_and_non_object_bodies(client, tok):
    before = count(AuditLog), count(Cadet)
    for raw in (b"{", b"[1,", b"\xff\xfe", b"NaN", b'{"a": 1} trailing'):
        assert_error(call(client, "POST", "/api/cadets", tok["admin"], raw=raw), 400, "BAD_REQUEST")
    for body in ([], [{"student_id": "A-1"}], "text", 5, None):
        raw = b"null" if body is None else None
        res = call(client, "POST", "/api/cadets", tok["admin"], body=body, raw=raw)
        assert assert_error(res, 422, "VALIDATION_ERROR")["details"] == {"body": ["must be an object"]}
    assert (count(AuditLog), count(Cadet)) == before


def test_too_large_body_is_413(client, tok, app):
    before = count(Cadet)
    limit = app.config["MAX_CONTENT_LENGTH"]
    rows = b'{"cadets": [' + b",".join([b'{"student_id": "X"}'] * (limit // 18 + 10)) + b"]}"
    assert len(rows) > limit
    assert_error(call(client, "POST", "/api/cadets/import", tok["admin"], raw=rows), 413, "PAYLOAD_TOO_LARGE")
    assert count(Cadet) == before


def test_validation_failure_is_422_with_field_details(client, tok):
    res = call(client, "POST", "/api/cadets", tok["admin"], body={"student_id": "bad id!", "year_level": 9})
    details = assert_error(res, 422, "VALIDATION_ERROR")["details"]
    assert {"student_id", "first_name", "last_name", "year_level"} <= set(details)


# --- one JSON encoder -----------------------------------------------------------------------------

def test_error_bodies_and_returned_dicts_use_the_apis_encoder(app, client):
    """Flask's own encoder would sort the keys, end with a newline, write times as HTTP dates and
    Decimals as strings; every JSON answer is orjson with the API's conventions instead."""
    res = client.get("/api/no-such-thing")
    assert res.status_code == 404 and res.mimetype == "application/json"
    assert res.data == dumps(error_body(404, "NOT_FOUND", res.get_json()["message"]))
    assert res.data.startswith(b'{"error":true,"code":"NOT_FOUND"')
    with app.test_request_context():
        body = app.json.response({"z": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "a": Decimal("2"),
                                  "b": Decimal("2.5")}).data
    assert body == b'{"z":"2026-01-02T03:04:05+00:00","a":2,"b":2.5}'
