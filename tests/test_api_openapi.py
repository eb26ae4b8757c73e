"""/api/openapi.json describes every API route, and real responses match the documented schemas."""

from __future__ import annotations

import io
import re

import jsonschema_rs
import orjson
import pytest

from blueprints.api.openapi import OPERATIONS
from models import Cadet, db
from tests.factories import PASSWORD, make_cadet, make_training_day, make_user
from tests.test_api_support import bearer, body_of, call, tokens
from tests.test_checkin import code_for, make_day_today
from tests.test_excuses import photo

_SKIP = {"HEAD", "OPTIONS"}


@pytest.fixture
def doc(client):
    res = client.get("/api/openapi.json")
    assert res.status_code == 200 and res.mimetype == "application/json"
    return orjson.loads(res.data)


def _api_rules(app) -> set[tuple[str, str]]:
    out = set()
    for rule in app.url_map.iter_rules():
        # Other test modules add probe routes to the shared test app; those are not the API.
        if app.view_functions[rule.endpoint].__module__.startswith(("tests.", "routes_probe")):
            continue
        if rule.endpoint == "api.api_docs":  # the document drawn as a page for people, not an API call
            continue
        if rule.rule.startswith("/api/") or rule.rule == "/api":
            path = re.sub(r"<(?:[^:<>]+:)?([^<>]+)>", r"{\1}", rule.rule)
            out |= {(path, m.lower()) for m in rule.methods - _SKIP}
    return out


def test_every_api_route_is_documented_and_nothing_else(app, doc):
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert _api_rules(app) == documented
    assert doc["openapi"].startswith("3.1")


def test_documented_roles_are_the_views_roles(app, doc):
    for op in OPERATIONS:
        view = app.view_functions[f"api.{op.endpoint}"]
        assert tuple(getattr(view, "allowed_roles", ())) == (op.roles or ()), op.endpoint
        assert doc["paths"]["/api" + op.path][op.method]["x-roles"] == list(op.roles or ())


def test_path_parameters_match_the_rules(doc):
    for path, ops in doc["paths"].items():
        names = set(re.findall(r"{(\w+)}", path))
        for op in ops.values():
            assert {p["name"] for p in op.get("parameters", []) if p["in"] == "path"} == names


class Validator:
    """Validates real responses against the document's schema for their operation and status."""

    def __init__(self, doc: dict) -> None:
        self.doc = doc
        self.seen: set[str] = set()

    def check(self, res, path: str, method: str) -> None:
        op = self.doc["paths"][path][method]
        documented = op["responses"].get(str(res.status_code))
        assert documented is not None, (path, method, res.status_code, res.data[:300])
        self.seen.add(op["operationId"])
        if "content" not in documented:
            assert res.data == b""
            return
        if "application/json" not in documented["content"]:  # a file download
            assert res.mimetype in documented["content"], (path, res.mimetype)
            return
        schema = {**documented["content"]["application/json"]["schema"], "components": self.doc["components"]}
        validator = jsonschema_rs.validator_for(schema, validate_formats=True)
        errors = [f"{e.instance_path}: {e.message}" for e in validator.iter_errors(body_of(res))]
        assert not errors, (path, method, errors[:5])


def _excuse_letters(client, v: Validator, go, toks) -> None:
    """Send two letters (multipart) as the cadet; list, read, download; approve one, reject the other."""
    letters = []
    for offset in (20, 21):
        res = client.post("/api/excuse-letters", data={"training_day_id": str(make_training_day(offset=offset)),
                                                       "reason": "ill", "file": (io.BytesIO(photo((30, 20))), "a.jpg")},
                          content_type="multipart/form-data", headers=bearer(toks["cadet"]))
        v.check(res, "/api/excuse-letters", "post")
        letters.append(body_of(res)["data"]["id"])
    go("get", "/api/excuse-letters", "/api/excuse-letters")
    go("get", "/api/excuse-letters?status=pending&sort=-date", "/api/excuse-letters", token=toks["cadet"])
    go("get", f"/api/excuse-letters/{letters[0]}", "/api/excuse-letters/{letter_id}")
    go("get", f"/api/excuse-letters/{letters[0]}/file", "/api/excuse-letters/{letter_id}/file")
    go("get", f"/api/excuse-letters/{letters[0]}/file?view=1", "/api/excuse-letters/{letter_id}/file")
    go("post", f"/api/excuse-letters/{letters[0]}/approve", "/api/excuse-letters/{letter_id}/approve", {})
    go("post", f"/api/excuse-letters/{letters[0]}/approve", "/api/excuse-letters/{letter_id}/approve", {})  # 409
    go("post", f"/api/excuse-letters/{letters[1]}/reject", "/api/excuse-letters/{letter_id}/reject", {"note": "x"})
    go("get", "/api/notifications", "/api/notifications", token=toks["cadet"])
    go("post", "/api/notifications/read", "/api/notifications/read", {"all": True}, token=toks["cadet"])


def test_real_responses_match_their_schemas(client, doc):
    toks = tokens()
    admin = toks["admin"]
    v = Validator(doc)
    cid = make_cadet(middle_name="Q")
    day = make_training_day()

    def go(method, url, path, body=None, token=admin, headers=None):
        res = call(client, method.upper(), url, token, body, headers=headers)
        v.check(res, path, method)
        return res

    go("post", "/api/attendance/bulk", "/api/attendance/bulk", {"training_day_id": day, "cadet_ids": [cid],
                                                                 "status": "present"})
    merit = body_of(go("post", "/api/merit-demerits", "/api/merit-demerits",
                       {"cadet_id": cid, "type": "merit", "points": 2, "reason": "x"}))["data"]["id"]
    new = body_of(go("post", "/api/cadets", "/api/cadets", {"student_id": "N-1", "first_name": "A",
                                                            "last_name": "B"}))["data"]["id"]
    record = body_of(call(client, "GET", "/api/attendance", admin))["data"][0]["id"]
    today = make_day_today()
    go("post", "/api/attendance/check-in", "/api/attendance/check-in",
       {"token": code_for(today), "student_id": db.session.get(Cadet, cid).student_id})
    for url, path in (("/api/cadets", "/api/cadets"), ("/api/cadets?after=1", "/api/cadets"),
                      ("/api/grades?sort=-final_grade", "/api/grades"),
                      (f"/api/cadets/{cid}", "/api/cadets/{cadet_id}"),
                      (f"/api/grades/{cid}", "/api/grades/{cadet_id}"), ("/api/merit-demerits", "/api/merit-demerits"),
                      ("/api/training-days", "/api/training-days"),
                      (f"/api/training-days/{day}", "/api/training-days/{day_id}"),
                      ("/api/attendance", "/api/attendance"), ("/api/audit-logs", "/api/audit-logs"),
                      ("/api/system-settings", "/api/system-settings"), ("/api/me", "/api/me"),
                      ("/api/openapi.json", "/api/openapi.json"), ("/api/cadets/999999", "/api/cadets/{cadet_id}"),
                      ("/api/cadets?limit=0", "/api/cadets")):
        go("get", url, path)
    go("get", "/api/me", "/api/me", token=toks["cadet"])
    go("get", "/api/cadets", "/api/cadets", token=toks["cadet"])
    go("get", "/api/cadets", "/api/cadets", token="mst_wrong")
    etag = call(client, "GET", "/api/cadets", admin).headers["ETag"]
    go("get", "/api/cadets", "/api/cadets", headers={"If-None-Match": etag})
    go("patch", f"/api/cadets/{cid}", "/api/cadets/{cadet_id}", {"company": "Z"})
    go("patch", f"/api/grades/{cid}", "/api/grades/{cadet_id}", {"prelim_score": 90})
    go("patch", f"/api/grades/{cid}", "/api/grades/{cadet_id}", {"prelim_score": 90, "version": 1})
    go("post", "/api/grades/bulk-update", "/api/grades/bulk-update", {"items": [{"cadet_id": cid, "final_score": 3}]})
    go("patch", f"/api/attendance/{record}", "/api/attendance/{record_id}", {"status": "late"})
    go("patch", f"/api/training-days/{day}", "/api/training-days/{day_id}", {"title": "T"})
    go("post", "/api/training-days", "/api/training-days", {"date": "2027-02-02", "title": "T2"})
    go("put", "/api/system-settings", "/api/system-settings", {"semester": "2nd"})
    go("post", "/api/cadets/import", "/api/cadets/import", {"cadets": [{"student_id": "I-1", "first_name": "A",
                                                                        "last_name": "B"}]})
    go("post", "/api/cadets/import", "/api/cadets/import", {"cadets": [{"student_id": "I-1"}]})
    go("post", "/api/cadets/bulk-archive", "/api/cadets/bulk-archive", {"ids": [new]})
    go("post", "/api/cadets/bulk-restore", "/api/cadets/bulk-restore", {"ids": [new]})
    go("delete", f"/api/cadets/{new}", "/api/cadets/{cadet_id}")
    go("post", f"/api/cadets/{new}/restore", "/api/cadets/{cadet_id}/restore")
    _excuse_letters(client, v, go, toks)
    go("delete", f"/api/merit-demerits/{merit}", "/api/merit-demerits/{log_id}")
    go("delete", f"/api/training-days/{day}", "/api/training-days/{day_id}")
    user = make_user("training_staff")
    token = body_of(go("post", "/api/auth/token", "/api/auth/token", {"username": user.username,
                                                                       "password": PASSWORD}, token=None))
    go("delete", "/api/auth/token", "/api/auth/token", token=token["data"]["token"])
    views = client.application.view_functions
    system = [op for op in OPERATIONS if views[f"api.{op.endpoint}"].__module__ == "blueprints.api.system"]
    assert len(system) == 6  # health, metrics, database metrics, cache stats, slow queries and their reset
    for op in system:
        go(op.method, "/api" + op.path, "/api" + op.path)
    assert v.seen == {op.endpoint for op in OPERATIONS}
