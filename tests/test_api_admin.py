"""Admin endpoints (audit log, system settings) and /api/me for each role."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import select

from blueprints.core.reads.audit import AUDIT_SPEC
from models import AuditLog, SystemSetting, User, db
from tests.factories import make_cadet, make_training_day
from tests.test_api_support import assert_error, body_of, call, count, tokens


@pytest.fixture
def tok(app):
    return tokens()


def _audit(client, token, query=""):
    res = call(client, "GET", f"/api/audit-logs?limit=100&{query}", token)
    assert res.status_code == 200, res.data
    return body_of(res)


def test_audit_log_filters(client, tok):
    cid = make_cadet()
    call(client, "PATCH", f"/api/cadets/{cid}", tok["admin"], {"company": "Zulu"})
    call(client, "POST", "/api/training-days", tok["training_staff"], {"date": "2026-09-09", "title": "Drill"})
    staff_id = db.session.scalar(select(User.id).where(User.username.like("training_staff%")))
    body = _audit(client, tok["admin"])
    assert body["total"] == count(AuditLog) and "total_is_estimate" not in body
    rows = _audit(client, tok["admin"], "table=cadets&operation=UPDATE")["data"]
    assert [r["record_id"] for r in rows] == [cid] and rows[0]["payload"]["after"] == {"company": "Zulu"}
    assert {r["user_id"] for r in _audit(client, tok["admin"], f"user_id={staff_id}")["data"]} == {staff_id}
    today = date.today()
    assert _audit(client, tok["admin"], f"date_from={today - timedelta(days=1)}&date_to={today + timedelta(days=1)}")[
        "total"] == count(AuditLog)
    assert _audit(client, tok["admin"], f"date_to={today - timedelta(days=2)}")["data"] == []
    assert_error(call(client, "GET", "/api/audit-logs?operation=DROP", tok["admin"]), 400)
    for edge in ("date_to=9999-12-31", "date_from=0001-01-01", "user_id=2147483648", "table=a%00"):
        assert_error(call(client, "GET", f"/api/audit-logs?{edge}", tok["admin"]), 400)


@pytest.mark.parametrize("sort", sorted(AUDIT_SPEC.sorts))
@pytest.mark.parametrize("desc", [False, True])
def test_audit_log_sorts(client, tok, sort, desc):
    make_training_day()
    rows = _audit(client, tok["admin"], f"sort={'-' if desc else ''}{sort}")["data"]
    keyed = [(r[sort], r["id"]) for r in rows]
    assert keyed == sorted(keyed, reverse=desc) and len(rows) >= 3


def test_system_settings_get_and_put(client, tok):
    assert body_of(call(client, "GET", "/api/system-settings", tok["admin"]))["data"]["semester"] == "1st"
    res = call(client, "PUT", "/api/system-settings", tok["admin"], {"semester": "2nd", "school_year": "2027-2028"})
    assert res.status_code == 200 and body_of(res)["data"]["semester"] == "2nd"
    before = count(SystemSetting), count(AuditLog)
    for body in ({"semester": "3rd"}, {"school_year": "next year"}, {"theme": "dark"}):
        assert_error(call(client, "PUT", "/api/system-settings", tok["admin"], body), 422)
    assert (count(SystemSetting), count(AuditLog)) == before
    assert body_of(call(client, "GET", "/api/system-settings", tok["admin"]))["data"]["school_year"] == "2027-2028"


def test_me_for_a_cadet_is_their_own_record(client, tok):
    me = body_of(call(client, "GET", "/api/me", tok["cadet"]))["data"]
    assert me["user"]["role"] == "cadet"
    cadet = me["cadet"]
    assert cadet["id"] == me["user"]["cadet_id"]
    assert {"grades", "merit_logs", "attendance", "full_name"} <= set(cadet)
    for role in ("admin", "training_staff"):
        me = body_of(call(client, "GET", "/api/me", tok[role]))["data"]
        assert me["user"]["role"] == role and me["cadet"] is None
