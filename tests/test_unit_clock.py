"""The unit's clock: every time shown to people is in UNIT_TIMEZONE, stored values stay UTC, and a time
or date typed into a form means the unit's."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select, update

from blueprints.core.operations.attendance import save_sheet
from models import AttendanceRecord, AuditLog, db
from tests.factories import login, make_cadet, make_training_day, make_user

ZONE = "Asia/Kathmandu"  # +05:45: no whole-hour slip can pass for it


@pytest.fixture
def unit_zone(app):
    before = app.config["UNIT_TIMEZONE"]
    app.config["UNIT_TIMEZONE"] = ZONE
    yield ZoneInfo(ZONE)
    app.config["UNIT_TIMEZONE"] = before


def test_the_sheet_and_the_audit_log_show_the_units_time(client, unit_zone):
    admin = make_user("admin")
    cadet = make_cadet(last_name="Clock", company="Alpha")
    day = make_training_day(title="Clock drill")
    save_sheet(admin, day, {f"status-{cadet}": "present"})
    stored = datetime(2026, 9, 1, 23, 20, tzinfo=UTC)  # 05:05 on 2 September in Kathmandu
    db.session.execute(update(AttendanceRecord).values(time_in=stored))
    db.session.execute(update(AuditLog).values(created_at=stored))
    db.session.commit()
    assert db.session.scalar(select(AttendanceRecord.time_in)) == stored  # stored in UTC, unchanged
    login(client, admin)

    sheet = client.get(f"/training-days/{day}/sheet?company=Alpha").get_data(as_text=True)
    assert re.search(r'<td class="nowrap time-in">05:05</td>', sheet) and "23:20" not in sheet
    show = client.get(f"/training-days/{day}").get_data(as_text=True)
    assert '<td class="nowrap time-in">05:05</td>' in show
    audit = client.get("/admin/audit").get_data(as_text=True)
    assert "2026-09-02 05:05:00" in audit and "2026-09-01 23:20" not in audit
    for page in (sheet, show, audit):
        assert "UTC" not in page


def test_the_audit_date_filter_means_the_units_day(client, unit_zone):
    admin = make_user("admin")
    make_cadet(last_name="Late")
    late = datetime(2026, 9, 1, 20, 0, tzinfo=UTC)  # 1 September in UTC, 2 September in Kathmandu
    db.session.execute(update(AuditLog).values(created_at=late))
    db.session.commit()
    login(client, admin)
    on_the_2nd = client.get("/admin/audit?date_from=2026-09-02&date_to=2026-09-02").get_data(as_text=True)
    on_the_1st = client.get("/admin/audit?date_from=2026-09-01&date_to=2026-09-01").get_data(as_text=True)
    assert "2026-09-02 01:45:00" in on_the_2nd and "No audit entries match" in on_the_1st
