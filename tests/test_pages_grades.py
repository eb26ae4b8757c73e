"""The grades table: every component sortable in the database, remarks filter, search, CSV export; merits log."""

from __future__ import annotations

import csv
import io

import pytest
from sqlalchemy import select

from blueprints.core.operations.attendance import mark_attendance
from blueprints.core.operations.grades import update_grade
from blueprints.core.operations.merits import record_merit
from models import User, db
from tests.factories import make_cadet, make_training_day, row_ids, signed_in


@pytest.fixture
def graded(app):
    """a: passed; b: failed; c: incomplete (INC); d: passed with demerits."""
    ids = {k: make_cadet(last_name=f"Grade{k.upper()}", company=company)
           for k, company in (("a", "Alpha"), ("b", "Alpha"), ("c", "Bravo"), ("d", "Bravo"))}
    admin = db.session.scalar(select(User).where(User.username == "factory-admin"))
    day1, day2 = make_training_day(admin, 0), make_training_day(admin, 7)
    mark_attendance(admin, day1, {ids["a"]: "present", ids["b"]: "absent", ids["c"]: "present", ids["d"]: "late"})
    mark_attendance(admin, day2, {ids["a"]: "present", ids["b"]: "present", ids["c"]: "absent", ids["d"]: "present"})
    scores = {"a": 95.0, "b": 40.0, "c": 80.0, "d": 99.0}
    for key, score in scores.items():
        update_grade(admin, ids[key], {"prelim_score": score, "midterm_score": score, "final_score": score})
    update_grade(admin, ids["c"], {"status": "INC"})
    record_merit(admin, {"cadet_id": ids["d"], "type": "demerit", "points": 20, "reason": "Late"})
    record_merit(admin, {"cadet_id": ids["b"], "type": "merit", "points": 3, "reason": "Helped"})
    return ids


@pytest.mark.parametrize(("sort", "expected"), [
    ("attendance_score", ["b", "c", "a", "d"]),     # 15, 15, 30, 30
    ("-aptitude_score", ["c", "b", "a", "d"]),      # 30, 30, 30, 24 (ties by id, descending)
    ("subject_score", ["b", "c", "a", "d"]),
    ("-final_grade", ["a", "d", "c", "b"]),          # 98, 93.6, 77, 61.33
    ("remarks", ["b", "c", "a", "d"]),               # Failed, Incomplete, Passed, Passed
    ("-merit_points", ["b", "d", "c", "a"]),
    ("demerit_points", ["a", "b", "c", "d"]),
    ("attendance_present", ["b", "c", "a", "d"]),
])
def test_grades_sort_by_each_component(client, graded, sort, expected):
    signed_in(client, "training_staff")
    assert row_ids(client.get(f"/grades/?sort={sort}").text) == [graded[k] for k in expected]


@pytest.mark.parametrize(("query", "expected"), [
    ("remarks=Passed", {"a", "d"}),
    ("remarks=Failed", {"b"}),
    ("remarks=Incomplete", {"c"}),
    ("remarks=Bogus", {"a", "b", "c", "d"}),  # not allow-listed: ignored on pages
    ("company=Bravo&remarks=Passed", {"d"}),
    ("search=gradec", {"c"}),
])
def test_grades_filters(client, graded, query, expected):
    signed_in(client)
    assert set(row_ids(client.get(f"/grades/?{query}").text)) == {graded[k] for k in expected}


def test_grades_page_shows_components_and_print_stylesheet(client, graded):
    signed_in(client)
    html = client.get("/grades/?search=GradeA").text
    assert ">30.00<" in html and ">38.00<" in html and ">98.00<" in html and ">1.00<" in html
    assert 'media="print"' in html and "remarks-passed" in html


def test_grades_csv_export_is_filtered_and_sorted(client, graded):
    signed_in(client, "training_staff")
    response = client.get("/grades/export.csv?company=Bravo&sort=-final_grade")
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0][0:2] == ["student_id", "name"] and "transmuted_grade" in rows[0]
    names = [r[1] for r in rows[1:]]
    assert names == ["GradeD, " + names[0].split(", ")[1], "GradeC, " + names[1].split(", ")[1]]
    header = rows[0]
    c_row = rows[2]
    assert c_row[header.index("remarks")] == "Incomplete" and c_row[header.index("transmuted_grade")] == ""
    assert rows[1][header.index("final_grade")] == "93.60"  # two decimals, truncated, as the pages show


# --- merit/demerit log -----------------------------------------------------------------------


def test_merit_log_filters_sort_search_and_admin_delete(client, graded):
    signed_in(client, "training_staff")
    html = client.get("/merits/").text
    assert "Late" in html and "Helped" in html
    assert "Late" not in client.get("/merits/?type=merit").text
    assert "Helped" not in client.get("/merits/?company=Bravo").text
    assert "Late" not in client.get("/merits/?search=help").text
    by_points = client.get("/merits/?sort=-points").text
    assert by_points.index("Late") < by_points.index("Helped")
    only_d = client.get(f"/merits/?cadet_id={graded['d']}").text
    assert "Late" in only_d and "Helped" not in only_d
    log_id = row_ids(only_d)[0]
    assert client.post(f"/merits/{log_id}/delete").status_code == 403
    signed_in(client, "admin")
    gone = client.post(f"/merits/{log_id}/delete", data={"next": "/merits/?type=demerit"}, follow_redirects=True)
    assert "Entry deleted" in gone.text and "Late" not in gone.text
