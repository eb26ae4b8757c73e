"""QR self check-in: a day's signed code, the scan page, the kiosk API, the cut-off, refusals and roles."""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, time, timedelta
from urllib.parse import quote, unquote
from zoneinfo import ZoneInfo

import pytest
from flask import current_app
from sqlalchemy import func, select

from blueprints.core.checkin_codes import sign_code
from blueprints.core.clock import unit_zone
from blueprints.core.errors import Forbidden
from blueprints.core.operations.checkin import check_in
from blueprints.core.reads.checkin import CheckInRefused, qr_svg
from models import AttendanceRecord, AuditLog, Cadet, Grade, TrainingDay, User, db, utcnow
from tests import test_browser
from tests.conftest import is_postgres
from tests.factories import login, make_cadet, make_token, make_training_day, make_user
from tests.test_api_support import assert_error, call
from tests.test_browser import _sign_in
from tests.test_concurrency import run_together

# The browser test's `server` and `page` fixtures, registered in this module too.
server, page = test_browser.server, test_browser.page

# --- helpers (also used by tests/test_api_openapi.py) ------------------------------------------


def make_day_today(days: int = 0, **fields) -> int:
    """A training day dated today in the unit's time zone, or `days` from today."""
    return make_training_day(date=(utcnow().astimezone(unit_zone()).date() + timedelta(days=days)).isoformat(),
                             **fields)


def code_for(day_id: int) -> str:
    """The token the day's QR code carries right now."""
    db.session.expire_all()
    return sign_code(day_id, db.session.get(TrainingDay, day_id).checkin_nonce)


def scan_url(day_id: int, token: str) -> str:
    return f"/check-in/{day_id}?t={quote(token)}"


def records(day_id: int) -> dict[int, tuple[str, datetime | None]]:
    db.session.expire_all()
    return {r.cadet_id: (r.status, r.time_in) for r in db.session.execute(
        select(AttendanceRecord.cadet_id, AttendanceRecord.status, AttendanceRecord.time_in)
        .where(AttendanceRecord.training_day_id == day_id))}


def check_in_audits() -> list[AuditLog]:
    db.session.expire_all()
    rows = db.session.scalars(select(AuditLog).where(AuditLog.table_name == "attendance_records")).all()
    return [r for r in rows if r.payload.get("action") == "check_in"]


def present_count(cadet_id: int) -> int:
    db.session.expire_all()
    return db.session.scalar(select(Grade.attendance_present).where(Grade.cadet_id == cadet_id))


def on_day(day_id: int, hour: int, minute: int) -> datetime:
    """That time of the day's date on the unit's clock."""
    day = db.session.get(TrainingDay, day_id).date
    return datetime.combine(day, time(hour, minute), unit_zone())


def _unit_clock(day_id: int, hour: int, minute: int) -> datetime:
    """That wall-clock time on the day's date in the unit's zone (UNIT_TIMEZONE)."""
    day = db.session.get(TrainingDay, day_id).date
    return datetime.combine(day, time(hour, minute), ZoneInfo(current_app.config["UNIT_TIMEZONE"]))


# --- the day's code ---------------------------------------------------------------------------


def test_day_page_shows_a_server_made_qr_code_of_the_absolute_check_in_url(client):
    login(client, make_user("training_staff"))
    day = make_day_today()
    qr_page = client.get(f"/training-days/{day}/qr")
    assert qr_page.status_code == 200
    html = qr_page.get_data(as_text=True)
    url = re.search(r'id="checkin-url" href="([^"]+)"', html)[1].replace("&amp;", "&")
    assert url.startswith(f"http://localhost/check-in/{day}?t=")
    assert unquote(url.split("?t=", 1)[1]) == code_for(day)
    # The SVG drawn is segno's QR code of exactly that URL, inline: no image host, no script.
    assert qr_svg(url) in html and "<script" not in qr_svg(url)
    show = client.get(f"/training-days/{day}")
    assert show.status_code == 200 and qr_svg(url) in show.get_data(as_text=True)
    assert "script-src 'self'" in show.headers["Content-Security-Policy"]


# --- the scan page ------------------------------------------------------------------------------


def test_cadet_scans_confirms_and_is_present_with_time_in_once(client):
    cadet = make_user("cadet")
    day = make_day_today(title="Morning drill")
    token = code_for(day)
    login(client, cadet)
    opened = client.get(scan_url(day, token))
    assert opened.status_code == 200 and "Check me in" in opened.get_data(as_text=True)
    assert records(day) == {}  # opening the page writes nothing
    before = utcnow()
    done = client.post(f"/check-in/{day}", data={"t": token}, follow_redirects=True)
    assert done.status_code == 200 and "Checked in: present at" in done.get_data(as_text=True)
    assert "You are checked in: <strong>present" in done.get_data(as_text=True)
    status, time_in = records(day)[cadet.cadet_id]
    assert status == "present" and before - timedelta(seconds=1) <= time_in <= utcnow()
    assert present_count(cadet.cadet_id) == 1
    [audit] = check_in_audits()
    assert audit.user_id == cadet.id and audit.operation == "CREATE"
    assert audit.payload["cadet_id"] == cadet.cadet_id and audit.payload["via"] == "self"
    assert audit.payload["student_id"] == db.session.get(Cadet, cadet.cadet_id).student_id

    again = client.get(scan_url(day, token))  # a second scan
    assert "Already checked in" in again.get_data(as_text=True) and "Check me in" not in again.get_data(as_text=True)
    twice = client.post(f"/check-in/{day}", data={"t": token}, follow_redirects=True)
    assert "You were already checked in" in twice.get_data(as_text=True)
    assert len(records(day)) == 1 and len(check_in_audits()) == 1 and present_count(cadet.cadet_id) == 1


def test_signed_out_scan_goes_to_sign_in_and_back_to_the_same_code(client):
    day = make_day_today()
    token = code_for(day)
    res = client.get(scan_url(day, token))
    assert res.status_code == 302 and res.headers["Location"].startswith("/login?next=")
    cadet = make_user("cadet")
    back = client.post(res.headers["Location"], data={"username": cadet.username, "password": "correct-horse-battery"})
    assert back.status_code == 302
    assert client.get(back.headers["Location"]).status_code == 200
    assert f"/check-in/{day}" in back.headers["Location"] and quote(token) in back.headers["Location"]


def test_scans_after_the_cut_off_count_as_late(client):
    """The cut-off is typed as the unit's wall-clock time (17:30 in Manila is 09:30 UTC, the same date)."""
    staff = make_user("training_staff")
    login(client, staff)
    day = make_day_today()
    saved = client.post(f"/training-days/{day}/qr/cutoff", data={"checkin_cutoff": "17:30"})
    assert saved.status_code == 303
    early, late, on_time = make_user("cadet"), make_user("cadet"), make_user("cadet")
    token = code_for(day)
    assert check_in(early, {"token": token}, now=_unit_clock(day, 17, 29))["status"] == "present"
    assert check_in(on_time, {"token": token}, now=_unit_clock(day, 17, 30))["status"] == "present"
    assert check_in(late, {"token": token}, now=_unit_clock(day, 17, 31))["status"] == "late"
    assert {k: v[0] for k, v in records(day).items()} == {
        early.cadet_id: "present", on_time.cadet_id: "present", late.cadet_id: "late"}
    assert present_count(late.cadet_id) == 1  # late still counts as attended
    cleared = client.post(f"/training-days/{day}/qr/cutoff", data={"checkin_cutoff": ""})
    assert cleared.status_code == 303
    another = make_user("cadet")
    assert check_in(another, {"token": token}, now=on_day(day, 23, 59))["status"] == "present"
    audits = [a.payload for a in db.session.scalars(select(AuditLog).where(AuditLog.table_name == "training_days")
                                                    .order_by(AuditLog.id))
              if a.payload.get("action") == "set_checkin_cutoff"]
    assert [(a["before"], a["after"]) for a in audits] == [(None, "17:30"), ("17:30", None)]


def test_a_bad_cut_off_is_a_form_error_beside_the_field(client):
    login(client, make_user("training_staff"))
    day = make_day_today()
    for bad in ("25:00", "7.30", "noon", "07:30:99"):
        res = client.post(f"/training-days/{day}/qr/cutoff", data={"checkin_cutoff": bad})
        html = res.get_data(as_text=True)
        assert res.status_code == 422 and 'id="e-checkin_cutoff"' in html and "must be a time" in html, bad
    assert db.session.get(TrainingDay, day).checkin_cutoff is None


# --- refusals -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("days", "says"), [(-1, "This code has expired"), (1, "Check-in for this day opens on")])
def test_a_code_outside_its_day_is_refused_with_a_clear_page(client, days, says):
    cadet = make_user("cadet")
    day = make_day_today(days)
    token = code_for(day)
    login(client, cadet)
    for res in (client.get(scan_url(day, token)), client.post(f"/check-in/{day}", data={"t": token})):
        assert res.status_code == 422 and says in res.get_data(as_text=True)
        assert "Check-in refused" in res.get_data(as_text=True)
    assert records(day) == {} and check_in_audits() == []


def test_a_code_expires_at_the_end_of_its_day(app):
    cadet = make_user("cadet")
    day = make_day_today()
    token = code_for(day)
    with pytest.raises(CheckInRefused, match="expired"):
        check_in(cadet, {"token": token}, now=on_day(day, 0, 0) + timedelta(days=1))
    assert check_in(cadet, {"token": token}, now=on_day(day, 23, 59))["already_checked_in"] is False


GENUINE = "not a genuine Muster check-in code"


@pytest.mark.parametrize(("forge", "says"), [
    (lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"), GENUINE),  # signature altered
    (lambda t: "x" + t, GENUINE),  # payload altered
    (lambda t: "not-a-code", GENUINE),
    (lambda t: "", "No check-in code was given"),
])
def test_a_forged_code_is_refused(client, forge, says):
    cadet = make_user("cadet")
    day = make_day_today()
    token = forge(code_for(day))
    login(client, cadet)
    for res in (client.get(scan_url(day, token)), client.post(f"/check-in/{day}", data={"t": token})):
        assert res.status_code == 422 and says in res.get_data(as_text=True)
    assert records(day) == {}


def test_a_code_signed_with_another_secret_is_refused(app, client):
    cadet = make_user("cadet")
    day = make_day_today()
    secret = app.config["SECRET_KEY"]
    app.config["SECRET_KEY"] = "someone-elses-secret-key"
    try:
        token = code_for(day)
    finally:
        app.config["SECRET_KEY"] = secret
    login(client, cadet)
    assert client.post(f"/check-in/{day}", data={"t": token}).status_code == 422
    assert records(day) == {}


def test_the_code_of_another_day_is_refused(client):
    cadet = make_user("cadet")
    day, other = make_day_today(title="A"), make_day_today(title="B")
    login(client, cadet)
    token = code_for(day)
    for res in (client.get(scan_url(other, token)), client.post(f"/check-in/{other}", data={"t": token})):
        assert res.status_code == 422 and "This code is for another training day" in res.get_data(as_text=True)
    assert records(day) == {} and records(other) == {}


def test_a_rotated_code_stops_working_and_the_rotation_is_audited(client):
    staff, cadet = make_user("training_staff"), make_user("cadet")
    day = make_day_today()
    old = code_for(day)
    login(client, staff)
    assert client.post(f"/training-days/{day}/qr/rotate").status_code == 303
    new = code_for(day)
    assert new != old
    [audit] = [a for a in db.session.scalars(select(AuditLog).where(AuditLog.table_name == "training_days"))
               if a.payload.get("action") == "rotate_checkin_code"]
    assert audit.user_id == staff.id and audit.record_id == day
    with pytest.raises(CheckInRefused, match="replaced"):
        check_in(cadet, {"token": old})
    assert check_in(cadet, {"token": new})["status"] == "present"


# --- roles ------------------------------------------------------------------------------------------


def test_only_cadets_use_the_scan_page_and_only_staff_manage_the_code(client):
    day = make_day_today()
    token = code_for(day)
    staff_pages = [("GET", f"/training-days/{day}/qr"), ("POST", f"/training-days/{day}/qr/rotate"),
                   ("POST", f"/training-days/{day}/qr/cutoff")]
    cadet_pages = [("GET", scan_url(day, token)), ("POST", f"/check-in/{day}")]
    for role, allowed, denied in (("cadet", cadet_pages, staff_pages), ("training_staff", staff_pages, cadet_pages),
                                  ("admin", staff_pages, cadet_pages)):
        client.post("/logout")
        login(client, make_user(role))
        for method, url in denied:
            assert client.open(url, method=method, data={"t": token}).status_code == 403, (role, method, url)
        for method, url in allowed:
            assert client.open(url, method=method, data={"t": token}).status_code in (200, 303), (role, method, url)
    client.post("/logout")
    for method, url in staff_pages + cadet_pages:
        res = client.open(url, method=method, data={"t": token})
        assert res.status_code == 302 and res.headers["Location"].startswith("/login"), (method, url)


def test_a_cadet_can_only_check_themselves_in(app):
    cadet, other = make_user("cadet"), make_cadet()
    day = make_day_today()
    other_sid = db.session.get(Cadet, other).student_id
    with pytest.raises(Forbidden):
        check_in(cadet, {"token": code_for(day), "student_id": other_sid})
    assert records(day) == {}
    own_sid = db.session.get(Cadet, cadet.cadet_id).student_id
    assert check_in(cadet, {"token": code_for(day), "student_id": own_sid})["cadet_id"] == cadet.cadet_id


# --- the kiosk API -----------------------------------------------------------------------------------


def test_api_kiosk_checks_in_the_named_cadet_once(client):
    staff = make_user("training_staff")
    cadet = make_cadet(last_name="Kiosk")
    sid = db.session.get(Cadet, cadet).student_id
    day = make_day_today()
    token = make_token(staff)
    first = call(client, "POST", "/api/attendance/check-in", token, {"token": code_for(day), "student_id": sid})
    assert first.status_code == 200, first.data
    data = first.get_json()["data"]
    assert (data["cadet_id"], data["status"], data["already_checked_in"]) == (cadet, "present", False)
    assert data["time_in"] and data["training_day_id"] == day
    second = call(client, "POST", "/api/attendance/check-in", token, {"token": code_for(day), "student_id": sid})
    assert second.get_json()["data"]["already_checked_in"] is True
    assert second.get_json()["data"]["record_id"] == data["record_id"]
    [audit] = check_in_audits()
    assert audit.user_id == staff.id and audit.payload["cadet_id"] == cadet and audit.payload["via"] == "staff"
    assert audit.payload["cadet_name"].startswith("Kiosk, ")


def test_api_cadet_token_checks_in_only_its_own_cadet(client):
    cadet = make_user("cadet")
    other_sid = db.session.get(Cadet, make_cadet()).student_id
    day = make_day_today()
    token = make_token(cadet)
    denied = call(client, "POST", "/api/attendance/check-in", token, {"token": code_for(day), "student_id": other_sid})
    assert_error(denied, 403, "FORBIDDEN")
    assert records(day) == {}
    own = call(client, "POST", "/api/attendance/check-in", token, {"token": code_for(day)})
    assert own.status_code == 200 and own.get_json()["data"]["cadet_id"] == cadet.cadet_id


def test_api_refuses_bad_check_ins_with_4xx_and_writes_nothing(client):
    staff = make_user("training_staff")
    token = make_token(staff)
    day = make_day_today()
    sid = db.session.get(Cadet, make_cadet()).student_id
    archived_sid = db.session.get(Cadet, make_cadet()).student_id
    db.session.execute(Cadet.__table__.update().where(Cadet.student_id == archived_sid).values(is_archived=True))
    db.session.commit()
    cases = [
        ({}, "token"), ({"token": 5, "student_id": sid}, "token"), ({"token": None, "student_id": sid}, "token"),
        ({"token": "x" * 500, "student_id": sid}, "token"), ({"token": "forged.code", "student_id": sid}, "token"),
        ({"token": code_for(day)}, "student_id"), ({"token": code_for(day), "student_id": "nobody"}, "student_id"),
        ({"token": code_for(day), "student_id": ["a"]}, "student_id"),
        ({"token": code_for(day), "student_id": archived_sid}, "student_id"),
    ]
    for body, field in cases:
        payload = assert_error(call(client, "POST", "/api/attendance/check-in", token, body), 422, "VALIDATION_ERROR")
        assert field in payload["details"], (body, payload)
    assert_error(call(client, "POST", "/api/attendance/check-in", token, raw=b"{not json"), 400)
    assert_error(call(client, "POST", "/api/attendance/check-in", None, {"token": code_for(day)}), 401)
    assert records(day) == {} and check_in_audits() == []


# --- the sheet shows who checked in and when --------------------------------------------------------


def test_the_sheet_and_day_page_show_who_checked_in_and_when(client):
    cadet = make_user("cadet")
    day = make_day_today()
    staff = make_user("training_staff")
    login(client, staff)
    assert client.get(f"/training-days/{day}/sheet?company=all").status_code == 200  # warm any cache first
    assert client.get(f"/training-days/{day}").status_code == 200
    done = check_in(cadet, {"token": code_for(day)}, now=on_day(day, 6, 42))
    assert done["status"] == "present"
    shown = on_day(day, 6, 42).astimezone(ZoneInfo(current_app.config["UNIT_TIMEZONE"])).strftime("%H:%M")
    sheet = client.get(f"/training-days/{day}/sheet?company=all").get_data(as_text=True)
    assert re.search(rf'id="status-{cadet.cadet_id}".*?<option value="present" selected>.*?{shown}', sheet, re.S)
    show = client.get(f"/training-days/{day}").get_data(as_text=True)
    assert re.search(rf'<td class="nowrap time-in">{shown}</td>', show)
    assert "1 checked in so far" in show


# --- a race of two scans ------------------------------------------------------------------------------


def test_two_simultaneous_scans_make_one_record_on_postgres(app):
    if not is_postgres():
        pytest.skip("concurrency is tested against PostgreSQL")
    cadet = make_user("cadet")
    kiosk = make_user("training_staff")
    day = make_day_today()
    token, sid = code_for(day), db.session.get(Cadet, cadet.cadet_id).student_id
    cadet_id, kiosk_id = cadet.id, kiosk.id
    for _ in range(3):  # a few rounds: the race must never produce two records
        db.session.execute(AttendanceRecord.__table__.delete())
        db.session.commit()
        results = run_together(app, [
            lambda: check_in(db.session.get(User, cadet_id), {"token": token}),
            lambda: check_in(db.session.get(User, kiosk_id), {"token": token, "student_id": sid}),
            lambda: check_in(db.session.get(User, cadet_id), {"token": token}),
        ])
        assert all(isinstance(r, dict) for r in results), results
        assert sorted(r["already_checked_in"] for r in results) == [False, True, True]
        assert len({r["record_id"] for r in results}) == 1
        assert len(records(day)) == 1 and present_count(cadet.cadet_id) == 1
    assert db.session.scalar(select(func.count()).select_from(AuditLog).where(
        AuditLog.table_name == "attendance_records")) == 3  # one per round


# --- in a browser: from scanning to present on the sheet -----------------------------------------------


@pytest.mark.browser
def test_a_cadet_scans_on_a_phone_and_is_present_on_the_sheet(app, page):
    staff, cadet = make_user("training_staff"), make_user("cadet")
    day = make_day_today(title="Morning drill")
    _sign_in(page, staff, f"/training-days/{day}/qr")
    assert page.locator(".qr-big svg.qr").is_visible()
    scanned = page.get_attribute("#checkin-url", "href")  # what the phone's camera reads from the code
    page.click("form.signout button")

    page.set_viewport_size({"width": 390, "height": 844})
    page.goto(scanned)
    assert "/login" in page.url
    page.fill("#username", cadet.username)
    page.fill("#password", "correct-horse-battery")
    page.click("form button[type=submit]")
    page.wait_for_url(re.compile(rf"/check-in/{day}\?t="))
    page.click("#checkin-button")
    page.wait_for_load_state()
    assert "Checked in: present at" in page.inner_text(".flash")
    assert "You are checked in: present" in page.inner_text("#checkin-state")
    if shot := os.environ.get("CHECKIN_SCREENSHOT"):
        page.screenshot(path=shot, full_page=True)
    page.click("form.signout button")

    page.set_viewport_size({"width": 1366, "height": 900})
    _sign_in(page, staff, f"/training-days/{day}/sheet?company=all")
    status, time_in = records(day)[cadet.cadet_id]
    assert page.input_value(f"#status-{cadet.cadet_id}") == "present" == status
    row = page.locator(f"tr:has(#status-{cadet.cadet_id})")
    assert time_in.astimezone(unit_zone()).strftime("%H:%M") in row.inner_text()  # on the unit's clock


def test_codes_open_and_expire_by_the_units_time_zone_not_utc(app):
    """Manila is UTC+8: 07:00 on the day in Manila is 23:00 UTC the day before; 00:30 the next day in
    Manila is still the day's date in UTC."""
    app.config["UNIT_TIMEZONE"] = "Asia/Manila"
    cadet = make_user("cadet")
    day = make_training_day(date="2026-09-10")
    seven_manila = datetime(2026, 9, 9, 23, 0, tzinfo=UTC)
    done = check_in(cadet, {"token": code_for(day)}, now=seven_manila)
    assert done["status"] == "present" and not done["already_checked_in"]
    other = make_user("cadet")
    with pytest.raises(CheckInRefused, match="expired"):
        check_in(other, {"token": code_for(day)}, now=datetime(2026, 9, 10, 16, 30, tzinfo=UTC))
    with pytest.raises(CheckInRefused, match="opens on"):
        check_in(other, {"token": code_for(day)}, now=datetime(2026, 9, 9, 15, 59, tzinfo=UTC))
