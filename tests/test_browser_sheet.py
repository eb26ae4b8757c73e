"""Browser tests (Chromium) for the attendance sheet and where forms land: the safe "mark the rest present",
quick entry by student id on a phone-sized screen, sticky headers and Save, going to the new record after
create, and pages that fit a phone without sideways scrolling."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from blueprints.core.operations.attendance import save_sheet
from models import AttendanceRecord, Cadet, TrainingDay, User, db
from tests.factories import make_cadet, make_cadets, make_training_day, make_user
from tests.test_browser import ARGS, CHROMIUM, _sign_in, server  # noqa: F401 (server is a fixture)

pytestmark = pytest.mark.browser
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True, "device_scale_factor": 2}
DESKTOP = {"viewport": {"width": 1366, "height": 900}}


@pytest.fixture
def browser_at(server):  # noqa: F811
    """browser_at(size) opens a tab in a fresh context of that size (DESKTOP or PHONE)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)

        def open_tab(size):
            context = browser.new_context(**size)
            context.set_default_timeout(15_000)
            tab = context.new_page()
            tab.base = server
            return tab

        yield open_tab
        browser.close()


def _records(day_id: int) -> dict[int, str]:
    db.session.expire_all()
    return dict(db.session.execute(select(AttendanceRecord.cadet_id, AttendanceRecord.status)
                                   .where(AttendanceRecord.training_day_id == day_id)).all())


def _admin() -> User:
    return db.session.scalar(select(User).where(User.username == "factory-admin"))


def _fits_the_screen(page) -> bool:
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


def test_mark_the_rest_present_keeps_the_saved_marks(app, browser_at):
    page = browser_at(DESKTOP)
    staff = make_user("training_staff")
    alpha = [make_cadet(last_name=f"Alpha{i}", company="Alpha") for i in range(4)]
    bravo = make_cadet(last_name="Bravo0", company="Bravo")
    day = make_training_day(title="UX Drill")
    save_sheet(_admin(), day, {f"status-{alpha[0]}": "late", f"status-{alpha[1]}": "absent"})

    _sign_in(page, staff, f"/training-days/{day}/sheet")
    assert page.locator("select.status-select").count() == 0  # a picker first, not every cadet
    page.select_option("#sheet-company", "Alpha")
    page.click("form.sheet-picker button[type=submit]")
    page.wait_for_url(re.compile(r"company=Alpha"))
    button = page.locator("button[name=mark_all]")
    assert button.inner_text() == "Mark the 2 not yet recorded present and save"
    button.click()
    page.wait_for_load_state()
    assert "2 new records, 0 changed" in page.inner_text(".flash")
    assert _records(day) == {alpha[0]: "late", alpha[1]: "absent", alpha[2]: "present", alpha[3]: "present"}
    assert page.input_value(f"#status-{alpha[0]}") == "late" and bravo not in _records(day)
    assert page.locator("button[name=mark_all]").count() == 0  # nothing left to fill

    page.goto(page.base + f"/training-days/{make_training_day(offset=7)}/sheet")  # the choice is remembered
    assert "company=Alpha" in page.url and page.locator("select.status-select").count() == 4


def test_quick_entry_by_student_id_on_a_phone(app, browser_at):
    page = browser_at(PHONE)
    staff = make_user("training_staff")
    castro = make_cadet(last_name="Castro", first_name="Liza", student_id="2026-00101", company="Alpha")
    cruz = make_cadet(last_name="Cruz", first_name="Ana", student_id="2026-00102", company="Bravo")
    day = make_training_day(title="Scan day")
    _sign_in(page, staff, f"/training-days/{day}/sheet?company=Alpha")
    box = page.locator("#quick-student-id")
    assert box.is_visible() and _fits_the_screen(page)

    box.fill("2026-00101")
    box.press("Enter")  # what a USB scanner sends after the digits
    first = page.locator(".quick-log li").first
    first.wait_for()
    assert first.inner_text() == "Castro, Liza (2026-00101) marked present."
    assert box.input_value() == "" and page.evaluate("document.activeElement.id") == "quick-student-id"
    assert page.input_value(f"#status-{castro}") == "present"  # the row on the sheet shows it too

    box.type("2026-00102\n")
    page.locator(".quick-log li").nth(1).wait_for()
    assert page.locator(".quick-log li").first.inner_text() == "Cruz, Ana (2026-00102) marked present."
    box.type("2026-99999\n")
    page.locator(".quick-log li").nth(2).wait_for()
    assert "no active cadet" in page.locator(".quick-log li.bad").first.inner_text()
    assert "/quick" not in page.url  # no reload: still on the sheet
    assert _records(day) == {castro: "present", cruz: "present"}


def test_creating_goes_to_the_new_record(app, browser_at):
    page = browser_at(DESKTOP)
    admin = make_user("admin")
    make_cadet(last_name="Existing")
    _sign_in(page, admin, "/cadets/")
    page.click("a:has-text('New cadet')")
    page.fill("#f-student_id", "2026-04242")
    page.fill("#f-last_name", "Newcomer")
    page.fill("#f-first_name", "Nia")
    page.click("form.card button[type=submit]")
    page.wait_for_load_state()
    new_id = db.session.scalar(select(Cadet.id).where(Cadet.student_id == "2026-04242"))
    assert re.search(rf"/cadets/{new_id}\?next=", page.url)
    assert "Cadet created." in page.inner_text(".flash") and "Newcomer" in page.inner_text("h1")

    page.goto(page.base + "/training-days/")
    page.click("a:has-text('New training day')")
    page.fill("#f-date", "2026-10-05")
    page.fill("#f-title", "Range day")
    page.click("form.card button[type=submit]")
    page.wait_for_load_state()
    day_id = db.session.scalar(select(TrainingDay.id).where(TrainingDay.title == "Range day"))
    assert page.url.endswith(f"/training-days/{day_id}/sheet")
    assert "Range day" in page.inner_text("h1")


def test_headers_and_save_stay_in_reach_on_long_tables(app, browser_at):
    page = browser_at(DESKTOP)
    staff = make_user("training_staff")
    make_cadets(120, company="Alpha")
    day = make_training_day(title="Long sheet")
    _sign_in(page, staff, "/cadets/?per_page=100")
    page.mouse.move(600, 500)
    for _ in range(12):
        page.mouse.wheel(0, 600)
    page.wait_for_timeout(200)
    header = page.locator("table.data thead th").first.bounding_box()
    assert 0 <= header["y"] < 900, header  # still on screen after scrolling far down the table

    page.goto(page.base + f"/training-days/{day}/sheet?company=Alpha")
    page.mouse.move(600, 500)
    for _ in range(8):
        page.mouse.wheel(0, 600)
    page.wait_for_timeout(200)
    save = page.locator("form.sheet > .form-buttons button").bounding_box()
    assert 0 <= save["y"] and save["y"] + save["height"] <= 900, save


def test_pages_fit_a_phone(app, browser_at):
    page = browser_at(PHONE)
    admin = make_user("admin")
    make_cadets(30, company="Alpha")
    day = make_training_day(title="Morning drill with a long title")
    _sign_in(page, admin, f"/training-days/{day}/sheet?company=Alpha")
    assert _fits_the_screen(page)
    page_end, sheet_end = page.evaluate(
        "[document.documentElement.scrollHeight, document.querySelector('form.sheet').getBoundingClientRect().bottom"
        " + scrollY]")
    assert page_end <= sheet_end + 40  # nothing hangs below the page
    assert page.evaluate("[...document.querySelectorAll('.table-wrap')].every(w => w.scrollHeight <= w.clientHeight"
                         " && getComputedStyle(w).overflowY !== 'auto')")  # and no scroll box inside it
    page.goto(page.base + "/training-days/")
    link = page.locator("a:has-text('Take attendance')").first
    assert _fits_the_screen(page)
    box = link.bounding_box()
    assert box["x"] + box["width"] <= 390, box
    page.goto(page.base + "/cadets/")
    final = page.locator("table.data tbody tr:first-child td[data-label='Transmuted']").bounding_box()
    assert final["x"] + final["width"] <= 390, final  # each row is a card: its figures are on screen
    page.goto(page.base + "/admin/performance")
    assert _fits_the_screen(page)
    sign_in_row = page.locator("#endpoints tr:has(code:text-is('POST auth.login'))")
    assert "slow on purpose: password hashing" in sign_in_row.inner_text()
    p99, errors = (page.evaluate(f"getComputedStyle(document.querySelector('.swatch.{name}')).backgroundImage"
                                 f" + getComputedStyle(document.querySelector('.swatch.{name}')).backgroundColor")
                   for name in ("series-2", "bar-error"))
    assert p99 != errors and "163, 32, 32" not in p99  # p99 is not drawn in the errors' red
    for chart in page.locator("svg.chart").all():
        box = chart.bounding_box()
        assert box["x"] + box["width"] <= 390, box
