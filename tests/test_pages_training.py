"""Training days (list, forms, delete) and the attendance sheet, saved in one transaction."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from blueprints.core.operations.cadets import archive_cadets
from models import AttendanceRecord, Grade, TrainingDay, User, db
from tests.factories import make_cadet, make_training_day, row_ids, signed_in


@pytest.fixture
def squad(app):
    ids = {"a1": make_cadet(last_name="Able", company="Alpha", platoon="1st"),
           "a2": make_cadet(last_name="Baker", company="Alpha", platoon="2nd"),
           "b1": make_cadet(last_name="Charlie", company="Bravo", platoon="1st"),
           "gone": make_cadet(last_name="Gone", company="Alpha", platoon="1st")}
    admin = db.session.scalar(select(User).where(User.username == "factory-admin"))
    archive_cadets(admin, [ids["gone"]])
    ids["day"] = make_training_day(admin, 0, title="Drill one", location="Field B")
    return ids


def _records(day_id: int) -> dict[int, str]:
    return dict(db.session.execute(select(AttendanceRecord.cadet_id, AttendanceRecord.status)
                                   .where(AttendanceRecord.training_day_id == day_id)).all())


def _sheet_ids(html: str) -> set[int]:
    return {int(i) for i in re.findall(r'name="status-(\d+)"', html)}


def test_sheet_lists_active_cadets_filtered_by_company_and_platoon(client, squad):
    signed_in(client, "training_staff")
    day = squad["day"]
    assert _sheet_ids(client.get(f"/training-days/{day}/sheet?company=all").text) == {
        squad["a1"], squad["a2"], squad["b1"]}
    assert _sheet_ids(client.get(f"/training-days/{day}/sheet?company=Alpha").text) == {squad["a1"], squad["a2"]}
    assert _sheet_ids(client.get(f"/training-days/{day}/sheet?company=Alpha&platoon=1st").text) == {squad["a1"]}


def test_sheet_saves_every_row_in_one_submit_and_returns_to_the_same_view(client, squad):
    signed_in(client, "training_staff")
    day = squad["day"]
    url = f"/training-days/{day}/sheet?company=Alpha"
    saved = client.post(url, data={f"status-{squad['a1']}": "present", f"status-{squad['a2']}": "late",
                                   "next": url})
    assert saved.status_code == 303 and saved.headers["Location"] == url
    assert _records(day) == {squad["a1"]: "present", squad["a2"]: "late"}
    page = client.get(url).text
    assert "Attendance saved: 2 new records, 0 changed." in page
    assert re.search(rf'name="status-{squad["a2"]}".*?<option value="late" selected>', page, re.S)
    changed = client.post(url, data={f"status-{squad['a2']}": "excused", f"status-{squad['a1']}": "present"},
                          follow_redirects=True)
    assert "0 new records, 1 changed." in changed.text
    assert db.session.scalar(select(Grade.attendance_present).where(Grade.cadet_id == squad["a2"])) == 1


def test_mark_all_present_works_without_javascript(client, squad):
    signed_in(client, "training_staff")
    day = squad["day"]
    ids = [squad["a1"], squad["a2"], squad["b1"]]
    client.post(f"/training-days/{day}/sheet", data={
        "mark_all": "present", f"status-{ids[0]}": "absent", f"status-{ids[1]}": "", f"status-{ids[2]}": ""})
    assert _records(day) == {ids[0]: "absent", ids[1]: "present", ids[2]: "present"}  # a chosen mark is kept


def test_invalid_sheet_saves_nothing_and_shows_the_rows(client, squad):
    signed_in(client, "training_staff")
    day = squad["day"]
    response = client.post(f"/training-days/{day}/sheet", data={f"status-{squad['a1']}": "present",
                                                                f"status-{squad['a2']}": "asleep"})
    assert response.status_code == 422
    assert "nothing was saved" in response.text and 'class="has-error"' in response.text
    assert _records(day) == {}
    unknown = client.post(f"/training-days/{day}/sheet", data={"status-999999": "present"})
    assert unknown.status_code == 422 and _records(day) == {}
    empty = client.post(f"/training-days/{day}/sheet", data={f"status-{squad['a1']}": ""})
    assert empty.status_code == 422 and "No cadets given." in empty.text


def test_training_day_forms_validate_and_save(client, squad):
    signed_in(client, "training_staff")
    bad = client.post("/training-days/new", data={"date": "2026-13-40", "title": "", "location": "Gym"})
    assert bad.status_code == 422
    assert 'id="e-date"' in bad.text and 'id="e-title"' in bad.text and 'value="Gym"' in bad.text
    created = client.post("/training-days/new", data={"date": "2026-10-03", "title": "Field day",
                                                      "location": "Gym"})
    assert created.status_code == 303
    new_id = db.session.scalar(select(TrainingDay.id).where(TrainingDay.title == "Field day"))
    assert created.headers["Location"] == f"/training-days/{new_id}/sheet"
    edit = client.post(f"/training-days/{new_id}/edit", data={"date": "2026-10-03", "title": "Field day 2",
                                                              "next": "/training-days/?sort=title"})
    assert edit.headers["Location"] == "/training-days/?sort=title"
    assert "Field day 2" in client.get("/training-days/?sort=title").text
    assert client.post(f"/training-days/{new_id}/edit", data={"title": "x" * 201}).status_code == 422
    assert client.post(f"/training-days/{new_id}/delete").status_code == 403  # staff do not delete


def test_training_days_table_filters_search_and_counts(client, squad):
    signed_in(client, "training_staff")
    other = make_training_day(None, 30, title="Range day", location="Gym")
    client.post(f"/training-days/{squad['day']}/sheet", data={f"status-{squad['a1']}": "present",
                                                             f"status-{squad['b1']}": "absent"})
    assert row_ids(client.get("/training-days/").text) == [other, squad["day"]]  # newest first
    assert row_ids(client.get("/training-days/?sort=date").text) == [squad["day"], other]
    assert row_ids(client.get("/training-days/?search=field").text) == [squad["day"]]
    assert row_ids(client.get("/training-days/?date_from=2026-09-15").text) == [other]
    assert row_ids(client.get("/training-days/?date_to=2026-09-15").text) == [squad["day"]]


def test_attendance_of_a_day_table_filters(client, squad):
    signed_in(client, "training_staff")
    day = squad["day"]
    client.post(f"/training-days/{day}/sheet", data={f"status-{squad['a1']}": "present",
                                                    f"status-{squad['a2']}": "late", f"status-{squad['b1']}": "absent"})
    html = client.get(f"/training-days/{day}").text
    assert len(row_ids(html)) == 3 and "Showing 1\u20133 of 3" in html
    assert "training_day_id" not in html  # fixed by the path, kept out of links
    assert len(row_ids(client.get(f"/training-days/{day}?status=late").text)) == 1
    assert len(row_ids(client.get(f"/training-days/{day}?company=Alpha").text)) == 2
    assert len(row_ids(client.get(f"/training-days/{day}?search=charl").text)) == 1
    assert len(row_ids(client.get(f"/training-days/{day}?training_day_id=999").text)) == 3  # cannot be overridden
    by_status = client.get(f"/training-days/{day}?sort=-status").text
    assert by_status.index("present") < by_status.index("absent")


def test_admin_deletes_a_day_after_confirming(client, squad):
    signed_in(client, "admin")
    day = squad["day"]
    client.post(f"/training-days/{day}/sheet", data={f"status-{squad['a1']}": "present"})
    confirm = client.get(f"/training-days/{day}/delete")
    assert confirm.status_code == 200 and "1 attendance records" in confirm.text
    done = client.post(f"/training-days/{day}/delete", follow_redirects=True)
    assert "Training day deleted" in done.text
    assert db.session.scalar(select(func.count(TrainingDay.id))) == 0
    assert client.get(f"/training-days/{day}").status_code == 404


def test_changing_a_training_days_date(client, squad):
    signed_in(client, "training_staff")
    edit = client.post(f"/training-days/{squad['day']}/edit", data={"date": "2026-10-04", "title": "Drill one"})
    assert edit.status_code == 303
    assert "2026-10-04" in client.get("/training-days/").text
