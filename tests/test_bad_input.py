"""Hostile and unusual input: SQL and HTML metacharacters are stored as text and shown escaped,
unicode names round-trip, and rejected input writes nothing (forms and API alike)."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from blueprints.core.operations.tokens import issue_token
from models import AuditLog, Cadet, db
from tests.factories import login, make_user

NASTY = [
    ("Robert'); DROP TABLE cadets;--", "O'Brien"),
    ("<script>alert(1)</script>", '"><img src=x onerror=alert(1)>'),
    ("Ñoño José", "山田 太郎"),
    ("50% _off_", "back\\slash"),
]


@pytest.fixture
def admin_api(app, client):
    admin = make_user("admin")
    login(client, admin)
    return client, {"Authorization": f"Bearer {issue_token(admin)}"}


@pytest.mark.parametrize(("first", "last"), NASTY)
def test_metacharacters_are_data_never_code(admin_api, first, last):
    client, headers = admin_api
    created = client.post("/api/cadets", json={"student_id": "X-1", "first_name": first, "last_name": last},
                          headers=headers)
    assert created.status_code == 201, created.json
    cadet_id = created.json["data"]["id"]
    assert db.session.scalar(select(func.count(Cadet.id))) == 1  # the table is still there
    stored = db.session.get(Cadet, cadet_id)
    assert (stored.first_name, stored.last_name) == (first, last)
    fetched = client.get(f"/api/cadets/{cadet_id}", headers=headers).json["data"]
    assert (fetched["first_name"], fetched["last_name"]) == (first, last)
    page = client.get("/cadets/").get_data(as_text=True)
    assert "<script>alert(1)</script>" not in page and "<img src=x" not in page
    if first.startswith("<script>"):
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    profile = client.get(f"/cadets/{cadet_id}").get_data(as_text=True)
    assert "<script>alert(1)" not in profile
    search = client.get("/api/cadets", query_string={"search": last[:4]}, headers=headers).json
    assert [c["id"] for c in search["data"]] == [cadet_id]  # LIKE wildcards in the term are literal


def test_search_wildcards_match_literally(admin_api):
    client, headers = admin_api
    for sid, last in (("W-1", "50% off"), ("W-2", "500 off")):
        client.post("/api/cadets", json={"student_id": sid, "first_name": "A", "last_name": last}, headers=headers)
    found = client.get("/api/cadets", query_string={"search": "50%"}, headers=headers).json
    assert [c["last_name"] for c in found["data"]] == ["50% off"]


@pytest.mark.parametrize(("body", "also_as_form"), [
    ({"student_id": "X-2", "first_name": "A" * 101, "last_name": "B"}, True),          # overlong
    ({"student_id": "X 2", "first_name": "A", "last_name": "B"}, True),                # bad format
    ({"student_id": "X-2", "first_name": 5, "last_name": "B"}, False),                 # wrong JSON type
    ({"student_id": "X-2", "first_name": "A", "last_name": "B", "status": "Graduated"}, True),  # unknown enum
    ({"student_id": "X-2", "first_name": "A", "last_name": "B", "year_level": 99}, True),       # out of range
    ({"student_id": "X-2", "first_name": "A\x00", "last_name": "B"}, True),            # control character
])
def test_rejected_input_writes_nothing(admin_api, body, also_as_form):
    client, headers = admin_api
    audits = db.session.scalar(select(func.count(AuditLog.id)))
    api = client.post("/api/cadets", json=body, headers=headers)
    assert api.status_code == 422 and api.json["details"]
    if also_as_form:
        form = client.post("/cadets/new", data={k: str(v) for k, v in body.items()})
        assert form.status_code == 422 and 'class="field-error"' in form.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Cadet.id))) == 0
    assert db.session.scalar(select(func.count(AuditLog.id))) == audits


@pytest.mark.parametrize("query", ["sort=password_hash", "sort=-id;DROP", "limit=-1", "page=0", "nosuch=1",
                                   "company=" + "x" * 200, "year_level=abc"])
def test_unknown_or_malformed_list_parameters_are_400_in_the_api_and_ignored_on_pages(admin_api, query):
    client, headers = admin_api
    api = client.get(f"/api/cadets?{query}", headers=headers)
    assert api.status_code == 400 and api.json["code"] == "BAD_REQUEST" and api.json["details"]
    assert client.get(f"/cadets/?{query}").status_code == 200
