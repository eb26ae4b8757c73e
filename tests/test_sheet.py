"""The attendance sheet: opens on a choice (remembered per user), searches within, "mark the rest present"
never overwrites a saved mark, quick entry by student id (with and without JavaScript); and where the
create forms and bulk restore land."""

from __future__ import annotations

import re

import pytest
from flask import g
from sqlalchemy import func, select

from blueprints.core.liststate import ListState
from blueprints.core.operations.attendance import save_sheet
from blueprints.core.operations.cadets import archive_cadets
from blueprints.core.reads.cadets import CADET_SPEC, list_cadets
from models import AttendanceRecord, AuditLog, Cadet, TrainingDay, User, db
from tests.factories import login, make_cadet, make_training_day, signed_in


@pytest.fixture
def unit(app):
    ids = {"a1": make_cadet(last_name="Castro", first_name="Liza", student_id="2026-00101", company="Alpha",
                            platoon="1st"),
           "a2": make_cadet(last_name="Baker", first_name="Ben", student_id="2026-00102", company="Alpha",
                            platoon="1st"),
           "a3": make_cadet(last_name="Cruz", first_name="Ana", student_id="2026-00103", company="Alpha",
                            platoon="2nd"),
           "b1": make_cadet(last_name="Dela Cruz", first_name="Jo", student_id="2026-00201", company="Bravo",
                            platoon="1st"),
           "gone": make_cadet(last_name="Gone", student_id="2026-00999", company="Alpha", platoon="1st")}
    admin = db.session.scalar(select(User).where(User.username == "factory-admin"))
    archive_cadets(admin, [ids["gone"]])
    ids["day"] = make_training_day(admin, 0, title="Drill one")
    ids["admin"] = admin
    return ids


def _records(day_id: int) -> dict[int, str]:
    db.session.expire_all()
    return dict(db.session.execute(select(AttendanceRecord.cadet_id, AttendanceRecord.status)
                                   .where(AttendanceRecord.training_day_id == day_id)).all())


def _sheet_ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'name="status-(\d+)"', html)}


# --- opening the sheet on a choice ------------------------------------------------------------


def test_the_sheet_opens_on_a_picker_not_on_every_cadet(client, unit):
    signed_in(client, "training_staff")
    page = client.get(f"/training-days/{unit['day']}/sheet")
    assert page.status_code == 200
    assert _sheet_ids(page.text) == set()
    assert "Choose a company" in page.text and 'id="sheet-company"' in page.text


def test_the_sheet_remembers_each_users_last_company_and_platoon(client, unit):
    staff = signed_in(client, "training_staff")
    chosen = client.get(f"/training-days/{unit['day']}/sheet?company=Alpha&platoon=1st")
    assert _sheet_ids(chosen.text) == {unit["a1"], unit["a2"]}
    other_day = make_training_day(unit["admin"], 3, title="Drill two")
    reopened = client.get(f"/training-days/{other_day}/sheet")
    assert reopened.status_code == 303
    assert reopened.headers["Location"] == f"/training-days/{other_day}/sheet?company=Alpha&platoon=1st"
    everyone = client.get(f"/training-days/{other_day}/sheet?company=all")
    assert _sheet_ids(everyone.text) == {unit["a1"], unit["a2"], unit["a3"], unit["b1"]}
    assert client.get(f"/training-days/{other_day}/sheet").headers["Location"].endswith("?company=all")

    client.post("/logout")
    signed_in(client, "training_staff")  # another user on the same browser starts from the picker
    assert client.get(f"/training-days/{unit['day']}/sheet").status_code == 200
    g.pop("_login_user", None)
    login(client, staff)  # and the first user's choice is kept for them
    assert client.get(f"/training-days/{unit['day']}/sheet").status_code == 303


def test_search_within_the_sheet_matches_every_word(client, unit):
    signed_in(client, "training_staff")
    url = f"/training-days/{unit['day']}/sheet"
    assert _sheet_ids(client.get(url + "?search=cruz").text) == {unit["a3"], unit["b1"]}
    assert _sheet_ids(client.get(url + "?search=Cruz,+Ana").text) == {unit["a3"]}
    assert _sheet_ids(client.get(url + "?company=Alpha&search=cruz").text) == {unit["a3"]}
    assert _sheet_ids(client.get(url + "?search=2026-00201").text) == {unit["b1"]}
    assert _sheet_ids(client.get(url + "?search=gone").text) == set()  # archived cadets are not on sheets


@pytest.mark.parametrize("term", ["cruz", "Cruz, Ana", "dela cruz jo", "2026-001", "reyes", "jr", "a%", "liza_",
                                  "castro  liza", "..,"])
def test_the_sheet_searches_as_the_cadets_table_does(client, unit, term):
    """One rule (reads/cadets.py cadet_search, its trigram index on PostgreSQL): the middle name and
    suffix count, and LIKE wildcards are plain characters, on the sheet as on the cadets list."""
    extra = make_cadet(last_name="Santos", first_name="Mara", middle_name="Reyes", suffix="Jr", company="Alpha",
                       student_id="2026-00301")
    signed_in(client, "training_staff")
    listed = {row["id"] for row in list_cadets(ListState.from_args({"search": term, "per_page": "100"},
                                                                   CADET_SPEC))["data"]}
    on_sheet = _sheet_ids(client.get(f"/training-days/{unit['day']}/sheet", query_string={"search": term,
                                                                                          "company": "all"}).text)
    assert on_sheet == listed
    if term in ("reyes", "jr"):
        assert on_sheet == {extra}


# --- "mark the rest present" ------------------------------------------------------------------


def test_mark_the_rest_present_keeps_saved_marks(client, unit):
    signed_in(client, "training_staff")
    day = unit["day"]
    url = f"/training-days/{day}/sheet?company=Alpha"
    client.post(url, data={f"status-{unit['a1']}": "late", f"status-{unit['a2']}": "absent"})
    page = client.get(url).text
    assert "Mark the 1 not yet recorded present and save" in page
    done = client.post(url, data={"mark_all": "present", f"status-{unit['a1']}": "late",
                                  f"status-{unit['a2']}": "absent", f"status-{unit['a3']}": ""},
                       follow_redirects=True)
    assert "1 new record, 0 changed" in done.text
    assert _records(day) == {unit["a1"]: "late", unit["a2"]: "absent", unit["a3"]: "present"}


def test_mark_the_rest_present_never_overwrites_a_mark_saved_since_the_sheet_was_drawn(client, unit):
    signed_in(client, "training_staff")
    day = unit["day"]
    save_sheet(unit["admin"], day, {f"status-{unit['a2']}": "excused"})  # someone else, meanwhile
    client.post(f"/training-days/{day}/sheet?company=Alpha", data={
        "mark_all": "present", f"status-{unit['a1']}": "late", f"status-{unit['a2']}": "",
        f"status-{unit['a3']}": ""})
    assert _records(day) == {unit["a1"]: "late", unit["a2"]: "excused", unit["a3"]: "present"}


# --- quick entry by student id ----------------------------------------------------------------


def test_quick_entry_without_javascript_marks_present_and_names_the_cadet(client, unit):
    signed_in(client, "training_staff")
    day = unit["day"]
    back = f"/training-days/{day}/sheet?company=Alpha"
    response = client.post(f"/training-days/{day}/sheet/quick", data={"student_id": " 2026-00101 ", "next": back})
    assert response.status_code == 303
    assert response.headers["Location"] == back + "&quick=1"
    assert _records(day) == {unit["a1"]: "present"}
    page = client.get(response.headers["Location"]).text
    assert "Castro, Liza (2026-00101) marked present." in page
    assert re.search(r'<input[^>]*id="quick-student-id"[^>]*autofocus', page)
    assert f'name="next" value="/training-days/{day}/sheet?company=Alpha"' in page  # quick=1 is not kept
    audit = db.session.scalars(select(AuditLog).where(AuditLog.table_name == "attendance_records")).all()
    assert [a.payload["action"] for a in audit] == ["quick_entry"]


def test_quick_entry_answers_json_for_scripts(client, unit):
    signed_in(client, "training_staff")
    day = unit["day"]
    url, json_headers = f"/training-days/{day}/sheet/quick", {"Accept": "application/json"}
    ok = client.post(url, data={"student_id": "2026-00201"}, headers=json_headers)
    assert ok.status_code == 200
    assert ok.json["data"] == {"cadet_id": unit["b1"], "student_id": "2026-00201", "name": "Dela Cruz, Jo",
                               "status": "present", "created": True,
                               "message": "Dela Cruz, Jo (2026-00201) marked present."}
    again = client.post(url, data={"student_id": "2026-00201"}, headers=json_headers)
    assert again.json["data"]["created"] is False and "already marked present" in again.json["data"]["message"]
    for bad, reason in (("", "type or scan"), ("9999-99999", "no active cadet"), ("2026-00999", "archived"),
                        ("x" * 60, "at most 50")):
        refused = client.post(url, data={"student_id": bad}, headers=json_headers)
        assert refused.status_code == 422, bad
        assert refused.json["error"] is True and refused.json["code"] == "VALIDATION_ERROR"
        assert reason in refused.json["details"]["student_id"][0]
    assert _records(day) == {unit["b1"]: "present"}


def test_quick_entry_keeps_a_mark_already_taken(client, unit):
    signed_in(client, "training_staff")
    day = unit["day"]
    save_sheet(unit["admin"], day, {f"status-{unit['a1']}": "late"})
    done = client.post(f"/training-days/{day}/sheet/quick", data={"student_id": "2026-00101"},
                       headers={"Accept": "application/json"})
    assert done.status_code == 200 and done.json["data"]["status"] == "late"
    assert "already marked late" in done.json["data"]["message"]
    assert _records(day) == {unit["a1"]: "late"}


def test_quick_entry_error_without_javascript_is_shown_beside_the_field(client, unit):
    signed_in(client, "training_staff")
    day = unit["day"]
    response = client.post(f"/training-days/{day}/sheet/quick", data={"student_id": "nobody"})
    assert response.status_code == 422
    assert 'id="e-quick-student-id"' in response.text and "no active cadet" in response.text
    assert 'value="nobody"' in response.text
    assert client.post("/training-days/999999/sheet/quick", data={"student_id": "2026-00101"}).status_code == 404
    assert _records(day) == {}


# --- where the create forms and bulk restore land ---------------------------------------------


def test_creating_a_cadet_goes_to_the_new_cadet(client, unit):
    signed_in(client, "admin")
    created = client.post("/cadets/new", data={"student_id": "2026-07777", "last_name": "New", "first_name": "Nia",
                                               "status": "Ongoing", "next": "/cadets/?company=Alpha"})
    new_id = db.session.scalar(select(Cadet.id).where(Cadet.student_id == "2026-07777"))
    assert created.status_code == 303
    assert created.headers["Location"] == f"/cadets/{new_id}?next=/cadets/?company%3DAlpha"


def test_creating_a_training_day_goes_to_its_sheet(client, unit):
    signed_in(client, "training_staff")
    created = client.post("/training-days/new", data={"date": "2026-10-03", "title": "Field day",
                                                      "next": "/training-days/?sort=title"})
    new_id = db.session.scalar(select(TrainingDay.id).where(TrainingDay.title == "Field day"))
    assert created.status_code == 303 and created.headers["Location"] == f"/training-days/{new_id}/sheet"


def test_bulk_restore_returns_to_the_list_without_the_archived_filter(client, unit):
    signed_in(client, "admin")
    done = client.post("/cadets/bulk", data={"action": "restore", "confirm": "yes", "ids": [unit["gone"]],
                                             "next": "/cadets/?archived=archived&company=Alpha&page=2&sort=name"})
    assert done.status_code == 303 and done.headers["Location"] == "/cadets/?company=Alpha&sort=name"
    assert db.session.scalar(select(func.count()).where(Cadet.is_archived.is_(True))) == 0
    archived = client.post("/cadets/bulk", data={"action": "archive", "confirm": "yes", "ids": [unit["a1"]],
                                                 "next": "/cadets/?company=Alpha"})
    assert archived.headers["Location"] == "/cadets/?company=Alpha"
