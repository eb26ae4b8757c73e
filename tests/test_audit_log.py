"""The audit log page: one line per write (a bulk write too, ids folded away), filters by user name and
by table from menus."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from blueprints.core.errors import NotFound
from blueprints.core.operations.attendance import mark_attendance, update_attendance
from blueprints.core.operations.cadets import archive_cadets, update_cadet
from blueprints.core.operations.grades import bulk_update_grades
from blueprints.core.operations.training import update_training_day
from blueprints.core.operations.users import update_user
from models import AttendanceRecord, AuditLog, Cadet, TrainingDay, db
from tests.factories import make_cadet, make_cadets, make_training_day, make_user, row_ids, signed_in


def _summaries(html: str) -> list[str]:
    return re.findall(r'<td class="payload wrap"><details><summary>(.*?)</summary>', html)  # not the filters' toggle


def test_a_bulk_attendance_write_is_one_line_with_its_ids_folded(client):
    admin = signed_in(client)
    make_cadets(25)
    day = make_training_day(admin, title="UX Drill")
    ids = list(db.session.scalars(db.select(Cadet.id)))
    mark_attendance(admin, day, dict.fromkeys(ids, "present"))
    html = client.get("/admin/audit?table=attendance_records").get_data(as_text=True)
    assert _summaries(html) == ["Marked 25 cadets present on UX Drill"]
    folded = html.split("<summary>", 1)[1]
    assert re.search(r"</summary><code>.*cadet_ids", folded)  # the ids only inside the details


def test_mixed_sheets_archives_and_grade_updates_read_as_sentences(client):
    admin = signed_in(client)
    a, b, c = make_cadet(admin), make_cadet(admin), make_cadet(admin)
    day = make_training_day(admin, title="Field Day")
    mark_attendance(admin, day, {a: "present", b: "present", c: "late"}, action="sheet")
    archive_cadets(admin, [a, b])
    bulk_update_grades(admin, [{"cadet_id": c, "prelim_score": 80.0}])
    html = client.get(f"/admin/audit?user_id={admin.id}").get_data(as_text=True)
    lines = _summaries(html)
    assert "Marked 3 cadets on Field Day: 2 present, 1 late" in lines
    assert "Archived 2 cadets" in lines
    assert "Updated the grades of 1 cadet" in lines
    assert "Created training day Field Day on 2026-09-01" in lines
    assert any(line.startswith("Created cadet Last") for line in lines)


def test_filter_by_user_name_and_table_from_menus(client):
    admin = signed_in(client)
    other = make_user("admin", username="zelda")
    make_cadet(admin)
    make_training_day(other)
    html = client.get("/admin/audit").get_data(as_text=True)
    users = re.search(r'<select id="flt-user_id" name="user_id">(.*?)</select>', html, re.S).group(1)
    assert f'<option value="{other.id}">zelda</option>' in users
    assert f'<option value="{admin.id}">{admin.username}</option>' in users
    tables = re.search(r'<select id="flt-table" name="table">(.*?)</select>', html, re.S).group(1)
    assert '<option value="training_days">training_days</option>' in tables
    assert '<option value="cadets">cadets</option>' in tables
    zelda_rows = row_ids(client.get(f"/admin/audit?user_id={other.id}").get_data(as_text=True))
    days = row_ids(client.get(f"/admin/audit?user_id={other.id}&table=training_days").get_data(as_text=True))
    assert len(days) == 1 and set(days) <= set(zelda_rows)
    chosen = client.get(f"/admin/audit?user_id={other.id}").get_data(as_text=True)
    assert f'<option value="{other.id}" selected>zelda</option>' in chosen


# --- one edit, one UPDATE row: before and after of what changed (operations.apply_changes) ---------------


def _last_update(table: str) -> AuditLog:
    return db.session.scalars(select(AuditLog).where(AuditLog.table_name == table, AuditLog.operation == "UPDATE")
                              .order_by(AuditLog.id.desc())).first()


def test_edits_audit_the_before_and_after_of_what_changed(app):
    admin, staff = make_user("admin"), make_user("training_staff")
    cadet = make_cadet(admin, company="Alpha", platoon="1st")
    day = make_training_day(admin, title="Drill")
    mark_attendance(admin, day, {cadet: "present"})
    record = db.session.scalar(select(AttendanceRecord.id))

    update_cadet(admin, cadet, {"company": "Zulu", "platoon": "1st"})  # platoon unchanged: not in the row
    update_training_day(admin, day, {"title": "Field Day", "date": "2026-09-02"})
    update_user(admin, staff.id, {"role": "admin", "email": staff.email})
    update_attendance(admin, record, {"status": "late", "remarks": None})  # a correction: every field sent

    rows = {t: _last_update(t) for t in ("cadets", "training_days", "users", "attendance_records")}
    assert {t: (a.user_id, a.record_id, a.payload) for t, a in rows.items()} == {
        "cadets": (admin.id, cadet, {"before": {"company": "Alpha"}, "after": {"company": "Zulu"}}),
        "training_days": (admin.id, day, {"before": {"title": "Drill", "date": "2026-09-01"},
                                          "after": {"title": "Field Day", "date": "2026-09-02"}}),
        "users": (admin.id, staff.id, {"before": {"role": "training_staff"}, "after": {"role": "admin"},
                                       "sessions_ended": True}),
        "attendance_records": (admin.id, record, {"before": {"status": "present", "remarks": None},
                                                  "after": {"status": "late", "remarks": None}}),
    }
    assert db.session.get(Cadet, cadet).company == "Zulu" and db.session.get(TrainingDay, day).title == "Field Day"


def test_an_edit_that_changes_nothing_writes_no_audit_row_and_an_unknown_id_is_404(app):
    admin = make_user("admin")
    cadet = make_cadet(admin, company="Alpha")
    day = make_training_day(admin, title="Drill")
    before = db.session.scalar(select(func.count(AuditLog.id)))
    update_cadet(admin, cadet, {"company": "Alpha"})
    update_training_day(admin, day, {"title": "Drill"})
    update_user(admin, admin.id, {"role": "admin"})
    assert db.session.scalar(select(func.count(AuditLog.id))) == before
    for edit, message in ((lambda: update_cadet(admin, 999, {"company": "X"}), "No cadet with that id."),
                          (lambda: update_training_day(admin, 999, {"title": "X"}), "No training day with that id."),
                          (lambda: update_user(admin, 999, {"role": "admin"}), "No user with that id."),
                          (lambda: update_attendance(admin, 999, {"status": "late"}),
                           "No attendance record with that id.")):
        with pytest.raises(NotFound, match=message):
            edit()
