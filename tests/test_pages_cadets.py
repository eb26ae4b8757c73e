"""The cadets table (filters, search, sort), CSV export, cadet forms, bulk archive/restore, and the cadet page."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from blueprints.core.operations.attendance import mark_attendance
from blueprints.core.operations.cadets import archive_cadets
from blueprints.core.operations.grades import update_grade
from models import Cadet, Grade, MeritDemeritLog, User, db
from tests.factories import make_cadet, make_training_day, row_ids, signed_in


@pytest.fixture
def unit(app):
    """A small unit with distinct companies, platoons, courses, years, statuses and grades."""
    ids = {
        "santos": make_cadet(student_id="2026-00001", last_name="Santos", first_name="Maria", company="Alpha",
                             platoon="1st", course="BS Nursing", year_level=1),
        "reyes": make_cadet(student_id="2026-00002", last_name="Reyes", first_name="Jose", company="Alpha",
                            platoon="2nd", course="BS Criminology", year_level=2),
        "cruz": make_cadet(student_id="2025-00003", last_name="Cruz", first_name="Ana", company="Bravo",
                           platoon="1st", course="BS Nursing", year_level=2, status="Completed"),
        "dela": make_cadet(student_id="2025-00004", last_name="Dela Cruz", first_name="Juan", company="Bravo",
                           platoon="2nd", course="BS Education", year_level=3),
        "old": make_cadet(student_id="2020-00005", last_name="Old", first_name="Timer", company="Alpha",
                          platoon="1st", course="BS Nursing", year_level=4),
    }
    admin = db.session.scalar(select(User).where(User.username == "factory-admin"))
    archive_cadets(admin, [ids["old"]])
    mark_attendance(admin, make_training_day(admin), {i: "present" for i in ids.values()})
    for name, score in (("santos", 90.0), ("reyes", 60.0), ("cruz", 75.0), ("dela", 100.0)):
        update_grade(admin, ids[name], {"prelim_score": score, "midterm_score": score, "final_score": score})
    return ids


@pytest.mark.parametrize(("query", "expected"), [
    ("", {"santos", "reyes", "cruz", "dela"}),
    ("company=Alpha", {"santos", "reyes"}),
    ("platoon=1st", {"santos", "cruz"}),
    ("course=BS+Nursing", {"santos", "cruz"}),
    ("year_level=2", {"reyes", "cruz"}),
    ("status=Completed", {"cruz"}),
    ("archived=archived", {"old"}),
    ("archived=all", {"santos", "reyes", "cruz", "dela", "old"}),
    ("archived=all&company=Alpha&platoon=1st", {"santos", "old"}),
    ("search=cruz", {"cruz", "dela"}),
    ("search=CRUZ", {"cruz", "dela"}),
    ("search=2025-", {"cruz", "dela"}),
    ("search=aria", {"santos"}),
    ("search=%25", set()),
    ("company=Charlie", set()),
])
def test_cadets_table_filters_and_search(client, unit, query, expected):
    signed_in(client, "training_staff")
    response = client.get(f"/cadets/?{query}")
    assert response.status_code == 200
    assert set(row_ids(response.text)) == {unit[n] for n in expected}
    assert f"of {len(expected)}" in response.text or (not expected and "No rows match." in response.text)


@pytest.mark.parametrize(("sort", "expected"), [
    ("name", ["cruz", "dela", "reyes", "santos"]),
    ("-name", ["santos", "reyes", "dela", "cruz"]),
    ("-final_grade", ["dela", "santos", "cruz", "reyes"]),
    ("transmuted_grade", ["santos", "dela", "cruz", "reyes"]),
    ("student_id", ["cruz", "dela", "santos", "reyes"]),
    ("-year_level", ["dela", "cruz", "reyes", "santos"]),  # ties: id, same direction
])
def test_cadets_table_sorts_in_the_database(client, unit, sort, expected):
    signed_in(client)
    assert row_ids(client.get(f"/cadets/?sort={sort}").text) == [unit[n] for n in expected]


def _csv(response) -> list[list[str]]:
    return list(csv.reader(io.StringIO(response.get_data(as_text=True))))


def test_csv_export_streams_the_whole_filtered_set_in_list_order(client, unit):
    signed_in(client, "training_staff")
    response = client.get("/cadets/export.csv?company=Bravo&sort=-final_grade&per_page=1&page=2")
    assert response.status_code == 200
    assert response.mimetype == "text/csv" and "attachment" in response.headers["Content-Disposition"]
    assert response.is_streamed
    rows = _csv(response)
    assert rows[0][:3] == ["student_id", "last_name", "first_name"]
    assert [r[0] for r in rows[1:]] == ["2025-00004", "2025-00003"]  # both rows, not one page; sorted


def test_csv_export_neutralises_formula_injection(client, unit):
    signed_in(client)
    make_cadet(student_id="X-1", last_name="=HYPERLINK(\"http://evil\")", first_name="+cmd", company="@Alpha",
               course="-2+3")
    rows = _csv(client.get("/cadets/export.csv?search=X-1"))
    assert rows[1][1:4] == ["'=HYPERLINK(\"http://evil\")", "'+cmd", ""]
    assert rows[1][5] == "'@Alpha" and rows[1][7] == "'-2+3"


# --- forms --------------------------------------------------------------------------------------


def test_create_cadet_shows_each_error_beside_its_field_and_keeps_values(client, unit):
    signed_in(client)
    response = client.post("/cadets/new", data={"student_id": "bad id!", "first_name": "Keep Me", "last_name": "",
                                                 "year_level": "9", "email": "nope", "status": "Ongoing"})
    assert response.status_code == 422
    html = response.text
    assert 'id="e-student_id"' in html and "may contain only letters, digits and hyphens" in html
    assert 'id="e-last_name"' in html and "is required" in html
    assert 'id="e-year_level"' in html and "must be between 1 and 6" in html
    assert 'id="e-email"' in html and "valid email" in html
    assert 'value="Keep Me"' in html and 'value="bad id!"' in html
    assert db.session.scalar(select(Cadet).where(Cadet.first_name == "Keep Me")) is None


def test_duplicate_student_id_is_a_field_error_not_a_crash(client, unit):
    signed_in(client)
    response = client.post("/cadets/new", data={"student_id": "2026-00001", "first_name": "A", "last_name": "B"})
    assert response.status_code == 409
    assert 'id="e-student_id"' in response.text and "already taken" in response.text
    edit = client.post(f"/cadets/{unit['reyes']}/edit", data={"student_id": "2026-00001", "first_name": "Jose",
                                                              "last_name": "Reyes"})
    assert edit.status_code == 409 and 'id="e-student_id"' in edit.text


def test_create_then_edit_cadet_returns_to_the_list_view(client, unit):
    signed_in(client)
    created = client.post("/cadets/new?next=/cadets/%3Fcompany%3DAlpha",
                          data={"student_id": "2026-00099", "first_name": "New", "last_name": "Cadet",
                                "company": "Alpha", "year_level": "1", "next": "/cadets/?company=Alpha"})
    assert created.status_code == 303
    new_id = db.session.scalar(select(Cadet.id).where(Cadet.student_id == "2026-00099"))
    assert db.session.get(Grade, new_id) is not None or db.session.scalar(
        select(Grade.id).where(Grade.cadet_id == new_id)) is not None
    edited = client.post(f"/cadets/{new_id}/edit", data={"student_id": "2026-00099", "first_name": "Renamed",
                                                         "last_name": "Cadet", "company": "Alpha",
                                                         "next": "/cadets/?company=Alpha&page=1"})
    assert edited.status_code == 303 and edited.headers["Location"] == "/cadets/?company=Alpha&page=1"
    assert "Renamed" in client.get("/cadets/?company=Alpha").text  # no stale cache
    unsafe = client.post(f"/cadets/{new_id}/edit", data={"student_id": "2026-00099", "first_name": "X",
                                                         "last_name": "Y", "next": "https://evil.example/"})
    assert unsafe.headers["Location"] == f"/cadets/{new_id}"
    invalid = client.post(f"/cadets/{new_id}/edit", data={"student_id": "2026-00099", "first_name": "X",
                                                          "last_name": "Y", "contact_number": "call me"})
    assert invalid.status_code == 422 and 'id="e-contact_number"' in invalid.text


def test_bulk_archive_and_restore_confirm_first_and_flash_the_count(client, unit):
    signed_in(client)
    ids = [unit["santos"], unit["reyes"]]
    ask = client.post("/cadets/bulk", data={"action": "archive", "ids": [str(i) for i in ids] + ["junk"],
                                            "next": "/cadets/?company=Alpha"})
    assert ask.status_code == 200 and "Archive 2 cadets?" in ask.text
    assert db.session.scalar(select(Cadet.is_archived).where(Cadet.id == ids[0])) is False  # nothing yet
    done = client.post("/cadets/bulk", data={"action": "archive", "ids": [str(i) for i in ids], "confirm": "yes",
                                             "next": "/cadets/?company=Alpha"}, follow_redirects=True)
    assert "Archived 2 cadets." in done.text
    assert row_ids(done.text) == []  # back on the Alpha view, which now has no active cadets
    again = client.post("/cadets/bulk", data={"action": "restore", "confirm": "yes",
                                              "ids": [str(unit["santos"]), str(unit["cruz"])]},
                        follow_redirects=True)
    assert "Restored 1 cadet (1 already active)." in again.text
    assert set(row_ids(client.get("/cadets/?company=Alpha").text)) == {unit["santos"]}
    nothing = client.post("/cadets/bulk", data={"action": "archive"}, follow_redirects=True)
    assert "Tick at least one cadet first." in nothing.text
    assert client.post("/cadets/bulk", data={"action": "explode", "ids": "1"}).status_code == 400


# --- the cadet page ---------------------------------------------------------------------------


def test_cadet_page_shows_profile_breakdown_history(client, unit):
    signed_in(client, "training_staff")
    client.post(f"/cadets/{unit['santos']}/merits", data={"type": "merit", "points": "5", "reason": "Drill"})
    html = client.get(f"/cadets/{unit['santos']}?next=/cadets/%3Fpage%3D2").text
    assert "Santos, Maria" in html and "2026-00001" in html
    assert "Grade breakdown" in html and "Drill" in html
    assert 'href="/cadets/?page=2"' in html  # back to the list view it came from
    assert 'id="grades-form"' not in html  # training staff do not edit exam scores


def test_grade_edit_shows_on_the_next_page_and_stale_saves_conflict(client, unit):
    signed_in(client)
    cid = unit["reyes"]
    version = db.session.scalar(select(Grade.version).where(Grade.cadet_id == cid))
    saved = client.post(f"/cadets/{cid}/grades?next=/grades/", data={
        "prelim_score": "100", "midterm_score": "100", "final_score": "100", "status": "active",
        "version": str(version), "next": f"/cadets/{cid}?next=/grades/"})
    assert saved.status_code == 303 and saved.headers["Location"] == f"/cadets/{cid}?next=/grades/"
    grades_page = client.get("/grades/?search=Reyes").text
    assert ">100.00<" in grades_page  # 30 attendance + 30 aptitude + 40 subject
    stale = client.post(f"/cadets/{cid}/grades", data={"prelim_score": "10", "midterm_score": "10",
                                                       "final_score": "10", "status": "active",
                                                       "version": str(version)})
    assert stale.status_code == 409
    assert "changed by someone else" in stale.text
    assert "You entered: prelim 10" in stale.text
    assert 'name="prelim_score" type="number" value="100.0"' in stale.text  # the newer values
    assert f'name="version" value="{version + 1}"' in stale.text
    invalid = client.post(f"/cadets/{cid}/grades", data={"prelim_score": "101", "status": "active",
                                                         "version": str(version + 1)})
    assert invalid.status_code == 422 and 'id="e-prelim_score"' in invalid.text and 'value="101"' in invalid.text


def test_staff_record_merits_with_validation(client, unit):
    signed_in(client, "training_staff")
    cid = unit["cruz"]
    bad = client.post(f"/cadets/{cid}/merits", data={"type": "bonus", "points": "0", "reason": ""})
    assert bad.status_code == 422
    assert 'id="e-points"' in bad.text and 'id="e-reason"' in bad.text and 'id="e-type"' in bad.text
    ok = client.post(f"/cadets/{cid}/merits", data={"type": "demerit", "points": "7", "reason": "Late",
                                                    "next": f"/cadets/{cid}"})
    assert ok.status_code == 303
    assert db.session.scalar(select(MeritDemeritLog.points).where(MeritDemeritLog.cadet_id == cid)) == 7
    assert db.session.scalar(select(Grade.demerit_points).where(Grade.cadet_id == cid)) == 7
    assert client.post(f"/cadets/{cid}/grades", data={"prelim_score": "1"}).status_code == 403
