"""Browser tests: Debian's Chromium drives the pages served by waitress on loopback.

Sign in, filter and page the cadets table, edit a grade and see it on the next page, take attendance.
"""

from __future__ import annotations

import os
import re
import threading

import pytest
from sqlalchemy import select

from models import AttendanceRecord, Cadet, db
from tests.factories import PASSWORD, make_cadet, make_cadets, make_training_day, make_user

pytestmark = pytest.mark.browser
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]


@pytest.fixture
def server(app):
    """The test app served by waitress in a background thread on a free loopback port."""
    if not os.path.exists(CHROMIUM):
        pytest.skip("Chromium is not installed at /usr/bin/chromium")
    from waitress.server import create_server

    srv = create_server(app, host="127.0.0.1", port=0, threads=4)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{srv.effective_port}"
    srv.close()
    thread.join(timeout=5)


@pytest.fixture
def page(server):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1366, "height": 900})
        context.set_default_timeout(15_000)
        tab = context.new_page()
        tab.base = server
        yield tab
        context.close()
        browser.close()


def _sign_in(page, user, path: str) -> None:
    page.goto(page.base + path)
    assert "/login" in page.url  # signed out: sent to the login page...
    page.fill("#username", user.username)
    page.fill("#password", PASSWORD)
    page.click("form button[type=submit]")
    page.wait_for_load_state()


def _row_count(page) -> int:
    return page.locator("table.data tbody tr[data-id]").count()


def test_sign_in_filter_and_page_the_cadets_table(app, page):
    admin = make_user("admin")
    make_cadets(60, company="Alpha", platoon="1st")
    make_cadets(7, company="Bravo", platoon="2nd")
    _sign_in(page, admin, "/cadets/?per_page=25")
    assert page.url.endswith("/cadets/?per_page=25")  # ...and back after signing in
    assert "Showing 1\u201325 of 67" in page.inner_text(".showing")

    page.select_option("#flt-company", "Bravo")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"company=Bravo"))
    assert _row_count(page) == 7 and "of 7" in page.inner_text(".showing")

    page.click("form.filters a:has-text('Clear')")
    page.wait_for_url(re.compile(r"/cadets/$"))
    page.click(".sizes a:has-text('25')")
    page.click("nav.pager a.next")
    page.wait_for_url(re.compile(r"page=2"))
    assert "Showing 26\u201350 of 67" in page.inner_text(".showing")
    page.click("nav.pager a.page:has-text('3')")
    page.wait_for_url(re.compile(r"page=3"))
    assert _row_count(page) == 17
    assert page.locator("nav.pager .current").inner_text() == "3"

    page.click("th a:has-text('Student ID')")  # sort ascending, then descending
    page.click("th a:has-text('Student ID')")
    page.wait_for_url(re.compile(r"sort=-student_id"))
    ids = page.locator("table.data tbody tr td:nth-child(2)").all_inner_texts()
    assert ids == sorted(ids, reverse=True)


def test_edit_a_grade_and_see_it_on_the_next_page(app, page):
    admin = make_user("admin")
    cadet_id = make_cadet(last_name="Grademe", first_name="Ana", company="Alpha")
    make_cadet(last_name="Other", company="Alpha")
    _sign_in(page, admin, "/grades/?search=grademe")
    page.click("table.data a:has-text('Grademe')")
    page.wait_for_url(re.compile(rf"/cadets/{cadet_id}\?next="))
    page.fill("#f-prelim_score", "90")
    page.fill("#f-midterm_score", "90")
    page.fill("#f-final_score", "90")
    page.click("#grades-form button[type=submit]")
    page.wait_for_load_state()
    assert "Grades saved." in page.inner_text(".flash")
    assert page.input_value("#f-prelim_score") == "90.0"
    page.click("a:has-text('Back to the list')")
    page.wait_for_url(re.compile(r"/grades/\?"))
    row = page.locator(f"tr[data-id='{cadet_id}']")
    assert "66.00" in row.inner_text()  # 0 attendance + 30 aptitude + 36 subject


def test_take_attendance_for_a_day(app, page):
    staff = make_user("training_staff")
    alpha = [make_cadet(last_name=f"Alpha{i}", company="Alpha") for i in range(3)]
    bravo = make_cadet(last_name="Bravo0", company="Bravo")
    day = make_training_day(title="Morning drill")
    _sign_in(page, staff, f"/training-days/{day}/sheet")
    page.select_option("#sheet-company", "Alpha")
    page.click("form.filters button[type=submit]")
    page.wait_for_url(re.compile(r"company=Alpha"))
    assert page.locator("select.status-select").count() == 3
    with page.expect_navigation():  # the post, its redirect and the sheet again (wait_for_load_state
        page.click("button[name=mark_all]")  # could return before the post had left)
    assert "3 new records" in page.inner_text(".flash")
    page.select_option(f"#status-{alpha[1]}", "late")
    page.click(".sheet-bar button.primary")
    page.wait_for_load_state()
    assert "0 new records, 1 changed" in page.inner_text(".flash")
    db.session.expire_all()
    records = dict(db.session.execute(select(AttendanceRecord.cadet_id, AttendanceRecord.status)
                                      .where(AttendanceRecord.training_day_id == day)).all())
    assert records == {alpha[0]: "present", alpha[1]: "late", alpha[2]: "present"}
    assert bravo not in records and db.session.get(Cadet, bravo) is not None
    page.goto(page.base + f"/training-days/{day}?status=late")
    assert _row_count(page) == 1 and "Alpha1" in page.inner_text("table.data")
