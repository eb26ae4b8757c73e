"""What the pages share (blueprints/pages: tables.py, forms.py, csv_export.py): list-state parsing from
the URL (clamping, allow-lists, malformed values), the pager window, "Showing" text, safe redirects and
CSV cells."""

from __future__ import annotations

import pytest

from blueprints.core.liststate import ListState
from blueprints.core.operations.users import update_preferences
from blueprints.core.reads import ESTIMATE_CAP
from blueprints.core.reads.audit import AUDIT_SPEC
from blueprints.pages.csv_export import csv_cell
from blueprints.pages.forms import safe_next
from blueprints.pages.tables import TablePage, pager_window
from tests.factories import make_cadets, row_ids, signed_in


@pytest.mark.parametrize(("current", "last", "expected"), [
    (1, 1, [1]),
    (1, 3, [1, 2, 3]),
    (1, 10, [1, 2, 3, None, 10]),
    (5, 10, [1, 2, 3, 4, 5, 6, 7, None, 10]),
    (6, 20, [1, None, 4, 5, 6, 7, 8, None, 20]),
    (20, 20, [1, None, 18, 19, 20]),
    (4, 9, [1, 2, 3, 4, 5, 6, None, 9]),
    (1, 0, []),
])
def test_pager_window_elides_with_first_last_and_current_plus_minus_two(current, last, expected):
    assert pager_window(current, last) == expected


@pytest.mark.parametrize(("target", "ok"), [
    ("/cadets/?page=2&sort=-name", True),
    ("/", True),
    ("//evil.example/x", False),
    ("https://evil.example/", False),
    ("/\\evil.example", False),
    ("javascript:alert(1)", False),
    ("", False),
    (None, False),
])
def test_safe_next_allows_only_same_site_paths(target, ok):
    assert safe_next(target, "/fallback") == (target if ok else "/fallback")


@pytest.mark.parametrize(("value", "expected"), [
    ("=HYPERLINK(\"x\")", "'=HYPERLINK(\"x\")"), ("+1", "'+1"), ("-2+3", "'-2+3"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\tx", "'\tx"), ("Santos", "Santos"), ("2026-0001", "2026-0001"), (-2.5, -2.5), (None, ""), (0, 0),
])
def test_csv_cell_neutralises_formulas(value, expected):
    assert csv_cell(value) == expected


def _page(app, result: dict, **state) -> TablePage:
    st = ListState(AUDIT_SPEC, sort="created_at", desc=True, **state)
    with app.test_request_context("/admin/audit"):
        page = TablePage(st, result, "admin.audit")
        return page, page.showing, page.window, page.next_url


def test_showing_text_exact_estimated_and_capped(app):
    rows = [{}] * 50
    _, text, window, nxt = _page(app, {"data": rows, "page": 2, "total": 1234}, page=2, per_page=50)
    assert text == "Showing 51\u2013100 of 1,234"
    assert [n for n, _ in window] == [1, 2, 3, 4, None, 25]
    assert "page=3" in nxt
    _, text, window, nxt = _page(app, {"data": rows, "page": 3, "total": 2_500_000, "total_is_estimate": True},
                                 page=3, per_page=50)
    assert text == "Showing 101\u2013150 of about 2,500,000"
    assert [n for n, _ in window] == [1, 2, 3, 4]  # the end is unknown: only up to the next page
    _, text, _, nxt = _page(app, {"data": rows[:7], "page": 1, "total": ESTIMATE_CAP + 1, "total_is_estimate": True},
                            per_page=50)
    assert text == "Showing 1\u20137 of 10,000+" and nxt is None
    _, text, window, _ = _page(app, {"data": [], "page": 1, "total": 0})
    assert text == "No rows match." and [n for n, _ in window] == [1]


# --- parsing through a real table page ---------------------------------------------------------


@pytest.fixture
def cadets_120(app):
    make_cadets(120)


def test_malformed_and_out_of_range_pages_land_on_a_valid_page(client, cadets_120):
    signed_in(client)
    for query in ("page=abc", "page=-3", "page=0", "page=1.5", "page=", "per_page=x", "sort=%00", "year_level=abc",
                  "status=Nonsense", "archived=maybe", "page=99999999999999"):
        response = client.get(f"/cadets/?{query}")
        assert response.status_code == 200, query
        assert "Showing 1\u201350 of 120" in response.text, query
    last = client.get("/cadets/?page=999")
    assert last.status_code == 200
    assert "Showing 101\u2013120 of 120" in last.text
    assert 'aria-current="page">3<' in last.text


def test_per_page_is_clamped_to_100_and_defaults_to_the_users_setting(client, cadets_120):
    user = signed_in(client)
    assert len(row_ids(client.get("/cadets/?per_page=5000").text)) == 100
    assert len(row_ids(client.get("/cadets/?per_page=25").text)) == 25
    update_preferences(user, {"page_size": "10"})
    page = client.get("/cadets/").text
    assert len(row_ids(page)) == 10 and "Showing 1\u201310 of 120" in page


def test_sort_is_allow_listed_and_headers_toggle_direction(client, cadets_120):
    signed_in(client)
    default = row_ids(client.get("/cadets/").text)
    assert row_ids(client.get("/cadets/?sort=password_hash").text) == default
    assert row_ids(client.get("/cadets/?sort=-id;drop").text) == default
    by_id_desc = row_ids(client.get("/cadets/?sort=-id&per_page=100").text)
    assert by_id_desc == sorted(by_id_desc, reverse=True)
    ascending = client.get("/cadets/?sort=student_id").text
    assert 'href="/cadets/?per_page=50&amp;sort=-student_id"' in ascending  # click again: descending
    assert 'aria-sort="ascending"' in ascending
    descending = client.get("/cadets/?sort=-student_id&page=2").text
    assert 'href="/cadets/?per_page=50&amp;sort=student_id"' in descending  # back to page 1, ascending
    assert 'aria-sort="descending"' in descending


def test_pager_links_keep_filters_search_and_sort(client, cadets_120):
    signed_in(client)
    html = client.get("/cadets/?search=L00&sort=-name&per_page=10&page=2").text
    assert "Showing 11\u201320 of 100" in html
    assert 'href="/cadets/?page=3&amp;per_page=10&amp;search=L00&amp;sort=-name"' in html
    assert 'href="/cadets/?page=10&amp;per_page=10&amp;search=L00&amp;sort=-name"' in html
    assert 'href="/cadets/?per_page=25&amp;search=L00&amp;sort=-name"' in html  # page-size menu resets the page
