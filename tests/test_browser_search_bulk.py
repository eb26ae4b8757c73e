"""Browser tests (Chromium) for issue 12: full-name search, and a bulk action on "all N matching"."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import func, select

from models import Cadet, db
from tests.factories import make_cadet, make_cadets, make_user
from tests.test_browser import _row_count, _sign_in, page, server  # noqa: F401 (fixtures)

pytestmark = pytest.mark.browser


def test_search_by_full_name_the_way_the_list_shows_it(app, page):  # noqa: F811
    admin = make_user("admin")
    liza = make_cadet(last_name="Castro", first_name="Liza", middle_name="Reyes")
    make_cadet(last_name="Castro", first_name="Lito")
    make_cadet(last_name="Santos", first_name="Liza")
    _sign_in(page, admin, "/cadets/")
    shown = page.locator(f"tr[data-id='{liza}'] td:nth-child(3) a").inner_text()
    assert shown == "Castro, Liza R."
    for term in (shown, "Liza Castro", "castro liza"):
        page.fill("#flt-search", term)
        page.click("form.filters button[type=submit]")
        page.wait_for_url(re.compile(r"search="))
        assert _row_count(page) == 1, term
        assert page.locator(f"tr[data-id='{liza}']").count() == 1
        assert "Showing 1\u20131 of 1" in page.inner_text(".showing")


def test_archive_all_matching_this_filter_from_page_one(app, page):  # noqa: F811
    admin = make_user("admin")
    make_cadets(45, company="Alpha")
    make_cadets(6, company="Bravo")
    _sign_in(page, admin, "/cadets/?company=Alpha&per_page=10")
    assert _row_count(page) == 10
    page.check("#bulk-all-matching")
    page.click(".bulk-actions button[value=archive]")
    page.wait_for_load_state()
    assert page.inner_text("h1") == "Archive 45 cadets?"
    assert page.locator("ul.bulk-names li").count() == 20
    assert "and 25 more." in page.inner_text("section.card")
    page.click("button:has-text('Yes, archive 45')")
    page.wait_for_url(re.compile(r"/cadets/\?company=Alpha"))
    assert "Archived 45 cadets." in page.inner_text(".flash")
    assert "No rows match." in page.inner_text(".showing")
    db.session.expire_all()
    archived = dict(db.session.execute(select(Cadet.company, func.count()).where(Cadet.is_archived.is_(True))
                                       .group_by(Cadet.company)).all())
    assert archived == {"Alpha": 45}
