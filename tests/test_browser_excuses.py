"""Browser test (Chromium at phone width): staff mark a cadet absent on the sheet; the cadet sends a photo
of the excuse letter from My record; staff approve it in the queue; the sheet row says excused and the
grade rose; the cadet sees the notification (its count in the navigation) and marks it read."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from models import Grade, db
from tests.factories import make_training_day, make_user
from tests.test_browser import _sign_in
from tests.test_browser_sheet import PHONE, _fits_the_screen, browser_at, server  # noqa: F401 (fixtures)
from tests.test_excuses import photo

pytestmark = pytest.mark.browser


def _final_grade(cadet_id: int) -> float:
    db.session.expire_all()
    return db.session.scalar(select(Grade.final_grade).where(Grade.cadet_id == cadet_id))


def test_absent_cadet_sends_a_photo_staff_approve_sheet_says_excused(app, browser_at, tmp_path):  # noqa: F811
    staff = make_user("training_staff")
    cadet = make_user("cadet")  # the factory's cadet is in company Alpha
    day = make_training_day(title="Field drill")
    make_training_day(offset=1, title="Another day")  # two held days: one excused absence shows in the grade
    staff_tab, cadet_tab = browser_at(PHONE), browser_at(PHONE)

    # Staff mark the cadet absent on the sheet.
    _sign_in(staff_tab, staff, f"/training-days/{day}/sheet?company=Alpha")
    staff_tab.select_option(f"#status-{cadet.cadet_id}", "absent")
    with staff_tab.expect_navigation():
        staff_tab.locator("button.primary:has-text('Save sheet'):visible").first.click()
    before = _final_grade(cadet.cadet_id)

    # The cadet sees the notification and sends a photo of the letter from My record.
    _sign_in(cadet_tab, cadet, "/me")
    assert "Notifications (1)" in cadet_tab.inner_text("nav")
    assert _fits_the_screen(cadet_tab)
    letter = tmp_path / "letter.jpg"
    letter.write_bytes(photo((2400, 3200)))
    cadet_tab.select_option("#f-training_day_id", str(day))
    cadet_tab.fill("#f-reason", "Fever; the doctor's note is attached.")
    cadet_tab.set_input_files("#f-file", str(letter))
    with cadet_tab.expect_navigation():
        cadet_tab.click("#excuse-letters button.primary")
    assert cadet_tab.url.endswith("/me")
    assert "pending" in cadet_tab.inner_text("#excuse-letters")

    # Staff open the queue (pending first), the letter beside the day's attendance, and approve.
    staff_tab.goto(staff_tab.base + "/excuse-letters/?status=pending")
    with staff_tab.expect_navigation():
        staff_tab.click("table.data tbody tr[data-id] a >> nth=0")
    assert re.search(r"/excuse-letters/\d+", staff_tab.url)
    assert "absent" in staff_tab.inner_text(".profile")
    assert staff_tab.locator(".letter-file img").evaluate("img => img.naturalWidth") == 1200  # the shrunk copy
    staff_tab.fill("#f-note", "Doctor's note seen.")
    with staff_tab.expect_navigation():
        staff_tab.click("#decide button:has-text('Approve')")
    assert "Approved" in staff_tab.inner_text("body")

    # The sheet row now says excused, and the grade rose.
    staff_tab.goto(staff_tab.base + f"/training-days/{day}/sheet?company=Alpha")
    assert staff_tab.locator(f"#status-{cadet.cadet_id}").input_value() == "excused"
    assert _final_grade(cadet.cadet_id) > before

    # The cadet sees the decision, its count in the navigation, and marks everything read.
    cadet_tab.goto(cadet_tab.base + "/me")
    assert "approved" in cadet_tab.inner_text("#excuse-letters")
    with cadet_tab.expect_navigation():
        cadet_tab.click("nav a:has-text('Notifications (2)')")
    assert "Your excuse letter for" in cadet_tab.inner_text("table.data")
    assert "was approved: Doctor's note seen." in cadet_tab.inner_text("table.data")
    with cadet_tab.expect_navigation():
        cadet_tab.click("#read-all")
    assert "Notifications (" not in cadet_tab.inner_text("nav")
