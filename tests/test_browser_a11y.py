"""Accessibility in Chromium: axe-core (with `target-size`) on every page staff, admins and cadets use, at a
phone's 390x844 and a laptop's 1366x900; the attendance sheet walked by keyboard with the focus never
covered and Save a few key presses away.

One browser for the module's tests; each page is loaded once and checked at both widths.
"""

from __future__ import annotations

import os

import pytest
from sqlalchemy import select

from blueprints.core.operations.attendance import save_sheet
from blueprints.core.operations.merits import record_merit
from models import Cadet, db
from tests.factories import make_cadet, make_cadets, make_token, make_training_day, make_user
from tests.test_browser import ARGS, CHROMIUM, _sign_in, server  # noqa: F401 (server is a fixture)

pytestmark = pytest.mark.browser
PHONE = (390, 844)
DESKTOP = (1366, 900)
# axe's default rules (WCAG A/AA and best practices) plus target-size (WCAG 2.2 2.5.8, off by default).
AXE_OPTIONS = {"rules": {"target-size": {"enabled": True}}, "resultTypes": ["violations"]}


@pytest.fixture
def tab(server):  # noqa: F811
    """A tab in a fresh context; tab.as_role(user) signs that user in (a new context each time)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        holder = {}

        def as_user(user, path="/"):
            if "context" in holder:
                holder["context"].close()
            context = browser.new_context(viewport=dict(zip(("width", "height"), DESKTOP, strict=True)))
            context.set_default_timeout(15_000)
            page = context.new_page()
            page.base = server
            holder["context"] = context
            if user is not None:
                _sign_in(page, user, path)
            return page

        yield as_user
        browser.close()


def _axe(page) -> list[dict]:
    from axe_playwright_python.base import AXE_SCRIPT

    if not page.evaluate("typeof window.axe !== 'undefined'"):
        page.evaluate(AXE_SCRIPT)
    return page.evaluate("options => axe.run(document, options).then(r => r.violations)", AXE_OPTIONS)


def _check_both_widths(page, path: str, found: list[str]) -> None:
    """Load path once; axe at the laptop width, then at the phone width (media queries apply at once)."""
    page.set_viewport_size(dict(zip(("width", "height"), DESKTOP, strict=True)))
    response = page.goto(page.base + path)
    assert response.status < 400, (path, response.status)
    _check_here(page, path, found)


# Controls (not links inside a sentence) smaller than `least` px either way; on phones the primary ones
# (row ticks, pager, rows per page, sort, sign out, the sheet's statuses, filter toggles) need about 44.
_SMALL = """([least, primary]) => {
  const controls = 'button, input:not([type=hidden]), select, textarea, summary, .nav a, .pager a, .pager span, '
    + '.sizes a, .sizes strong, thead a, .actions a, .crumbs a, label.tick';
  const big = 'label.tick, .pager a, .pager span, .sizes a, .sizes strong, thead a.sort, .signout button, '
    + 'select.status-select, .filter-fold > summary, .filters select, .filters input, .nav a';
  return [...document.querySelectorAll(controls)].filter(el => el.checkVisibility() && !el.closest('label.tick'))
    .map(el => [el, el.getBoundingClientRect(), primary && el.matches(big) ? 43.5 : least])
    .filter(([el, box, need]) => box.width < need - 0.5 || box.height < need - 0.5)
    .map(([el, box, need]) =>
      `${el.outerHTML.slice(0, 60)} ${Math.round(box.width)}x${Math.round(box.height)} < ${need}`);
}"""


def _check_here(page, path: str, found: list[str]) -> None:
    """axe on the page as it is now, at both widths, and the size of its controls."""
    for width, height in (DESKTOP, PHONE):
        page.set_viewport_size({"width": width, "height": height})
        page.wait_for_timeout(50)  # let the resize listeners run
        for v in _axe(page):
            nodes = "; ".join(" ".join(n["target"]) for n in v["nodes"][:4])
            found.append(f"{path} @{width}: {v['id']} ({len(v['nodes'])}) {nodes}")
        found += [f"{path} @{width}: small target {s}" for s in page.evaluate(_SMALL, [24, width == PHONE[0]])]
        assert "UTC" not in page.inner_text("body"), path  # every time is the unit's


def _seed() -> dict:
    admin, staff = make_user("admin"), make_user("training_staff")
    cadet_user = make_user("cadet")
    make_cadets(12, company="Alpha")
    one = make_cadet(last_name="Dela Cruz", first_name="Juan", company="Bravo")
    day = make_training_day(title="Morning drill")
    make_training_day(offset=7, title="Range day")
    ids = db.session.scalars(select(Cadet.id).order_by(Cadet.id)).all()
    save_sheet(admin, day, {f"status-{ids[0]}": "present", f"status-{ids[1]}": "late",
                            f"status-{cadet_user.cadet_id}": "absent"})
    record_merit(admin, {"cadet_id": one, "type": "merit", "points": 3, "reason": "Led the colour guard"})
    record_merit(admin, {"cadet_id": cadet_user.cadet_id, "type": "demerit", "points": 2, "reason": "Late twice"})
    make_token(staff)
    return {"admin": admin, "staff": staff, "cadet": cadet_user, "one": one, "day": day}


def test_every_page_has_no_axe_violations_at_phone_and_laptop_widths(app, tab):
    s = _seed()
    day, one = s["day"], s["one"]
    found: list[str] = []
    staff_pages = ["/", "/cadets/", "/grades/", "/training-days/", f"/training-days/{day}",
                   f"/training-days/{day}/sheet", f"/training-days/{day}/sheet?company=all",
                   f"/training-days/{day}/qr", f"/training-days/{day}/edit", "/training-days/new",
                   "/merits/", f"/cadets/{one}", "/account", "/account/tokens", "/api/docs",
                   "/print/grades", "/print/grades?company=Bravo", f"/print/cadets/{one}"]
    admin_pages = ["/cadets/?per_page=10", "/cadets/new", f"/cadets/{one}/edit", "/cadets/import",
                   f"/training-days/{day}/delete",
                   "/admin/users", "/admin/users/new", f"/admin/users/{s['staff'].id}", "/admin/audit",
                   "/admin/settings", "/admin/performance"]
    page = tab(None)
    _check_both_widths(page, "/login", found)
    page = tab(s["staff"], "/")
    for path in staff_pages:
        _check_both_widths(page, path, found)
    # A failed submit: the error summary and the fields in error are checked too.
    page.goto(page.base + f"/cadets/{one}")
    page.fill("#f-points", "0")
    page.click("#merit-form button[type=submit]")
    page.wait_for_load_state()
    assert page.evaluate("document.activeElement.matches('.error-summary')")  # the summary took focus
    _check_here(page, "merit form with errors", found)
    page = tab(s["admin"], "/")
    for path in admin_pages:
        _check_both_widths(page, path, found)
    page = tab(s["cadet"], "/me")
    for path in ["/me", "/account", "/account/tokens"]:
        _check_both_widths(page, path, found)
    assert found == [], "\n".join(found)


@pytest.mark.skipif(not os.environ.get("MUSTER_SCREENSHOTS"), reason="set MUSTER_SCREENSHOTS=<dir> to draw them")
def test_phone_screenshots(app, server):  # noqa: F811
    """The first screen of the pages staff and cadets use most, at 390 px (docs/phone-*.png)."""
    from playwright.sync_api import sync_playwright

    out = os.environ["MUSTER_SCREENSHOTS"]
    s = _seed()
    make_cadets(20, company="Alpha")
    ids = db.session.scalars(select(Cadet.id).order_by(Cadet.id)).all()
    save_sheet(s["admin"], s["day"], {f"status-{i}": "present" for i in ids[2:9]})
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for user, shots in ((s["admin"], [("cadets", "/cadets/"), ("grades", "/grades/"), ("merits", "/merits/"),
                                          ("sheet", f"/training-days/{s['day']}/sheet?company=Alpha")]),
                            (s["cadet"], [("my-record", "/me")])):
            context = browser.new_context(viewport={"width": 390, "height": 844}, device_scale_factor=1,
                                          is_mobile=True, has_touch=True)
            page = context.new_page()
            page.base = server
            _sign_in(page, user, shots[0][1])
            for name, path in shots:
                page.goto(server + path)
                page.screenshot(path=os.path.join(out, f"phone-{name}.png"))
            context.close()
        browser.close()


_COVERED = """() => {
  const el = document.activeElement, box = el.getBoundingClientRect();
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  if (y < 0 || y > innerHeight || x < 0 || x > innerWidth) return 'off screen: ' + el.outerHTML.slice(0, 80);
  const hit = document.elementFromPoint(x, y);
  return hit && (hit === el || el.contains(hit) || (el.labels && [...el.labels].includes(hit))) ? ''
    : el.outerHTML.slice(0, 80) + ' is under ' + (hit ? hit.outerHTML.slice(0, 80) : 'nothing');
}"""


def test_tabbing_through_the_sheet_never_hides_the_focus_and_save_is_near(app, server):  # noqa: F811
    from playwright.sync_api import sync_playwright

    staff = make_user("training_staff")
    make_cadets(50, company="Alpha")
    day = make_training_day(title="Long drill")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for (width, height), status in ((DESKTOP, "late"), (PHONE, "absent")):
            context = browser.new_context(viewport={"width": width, "height": height})
            page = context.new_page()
            page.base = server
            _sign_in(page, staff, f"/training-days/{day}/sheet?company=Alpha")
            page.focus("#quick-student-id")
            hidden, selects = [], 0
            for _ in range(80):  # forwards through every row to the Save bar...
                page.keyboard.press("Tab")
                hidden.append(page.evaluate(_COVERED))
                selects += page.evaluate("document.activeElement.matches('select.status-select')")
                if page.evaluate("document.activeElement.id") == "sheet-save":
                    break
            assert selects == 50 and page.evaluate("document.activeElement.id") == "sheet-save", width
            for _ in range(30):  # ...and back up under the sticky header
                page.keyboard.press("Shift+Tab")
                hidden.append(page.evaluate(_COVERED))
            assert [h for h in hidden if h] == [], width
            # From the third row, Save is one key chord away (and in sight).
            third = page.locator("select.status-select").nth(2)
            third.focus()
            third.select_option(status)
            page.keyboard.press("Control+Enter")
            assert page.evaluate("document.activeElement.id") == "sheet-save" and page.evaluate(_COVERED) == ""
            page.keyboard.press("Enter")
            page.wait_for_load_state()
            assert page.locator("select.status-select").nth(2).input_value() == status, width  # saved
            context.close()
        browser.close()
