"""Print-ready pages: a company's grade sheet in pages of exactly 40 cadets, and a cadet's one-page record."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest
from sqlalchemy import select

from blueprints.core.operations.attendance import mark_attendance
from blueprints.core.operations.cadets import archive_cadets
from blueprints.core.operations.merits import record_merit
from blueprints.core.operations.settings import update_settings
from blueprints.core.reads import printing
from models import Cadet, db, utcnow
from tests import test_browser
from tests.factories import login, make_cadet, make_cadets, make_training_day, make_user

# The browser test's `server` and `page` fixtures, registered in this module too.
server, page = test_browser.server, test_browser.page

UNIT = {"unit_name": "1st Test ROTC Battalion", "school_year": "2026-2027", "semester": "2nd"}


def sheet_pages(html: str) -> list[str]:
    return re.findall(r'<section class="sheet-page[^"]*"[^>]*>(.*?)</section>', html, re.S)


def row_numbers(page_html: str) -> list[int]:
    return [int(n) for n in re.findall(r'<tr data-id="\d+"><td class="num">(\d+)</td>', page_html)]


def staff_client(client):
    admin = make_user("admin")
    update_settings(admin, UNIT)
    login(client, make_user("training_staff"))
    return client


def test_a_company_of_120_prints_as_three_pages_of_40_each_with_header_and_signatures(client):
    staff_client(client)
    make_cadets(120, company="Alpha", platoon="1st")
    make_cadets(5, company="Bravo", platoon="1st")
    res = client.get("/print/grades?company=Alpha")
    assert res.status_code == 200
    html = res.get_data(as_text=True)
    pages = sheet_pages(html)
    assert len(pages) == 3
    assert [row_numbers(p) for p in pages] == [list(range(1, 41)), list(range(41, 81)), list(range(81, 121))]
    today = utcnow().date().strftime("%-d %B %Y")
    for number, p in enumerate(pages, 1):
        assert p.count("<thead>") == 1 and "<th scope=\"col\">Student ID</th>" in p
        assert UNIT["unit_name"] in p and "School year 2026-2027" in p and "2nd semester" in p
        assert "Alpha Company" in p and f"Page {number} of 3" in p
        assert "Certified correct" in p and "Prepared by" in p and f"Printed {today}" in p
    assert 'href="/static/css/print-sheet.css?v=' in html  # fingerprinted (blueprints/core/assets.py)


def test_a_short_last_page_and_a_platoon_sheet(client):
    staff_client(client)
    make_cadets(85, company="Alpha", platoon="1st")
    make_cadets(3, company="Alpha", platoon="2nd")
    pages = sheet_pages(client.get("/print/grades?company=Alpha&platoon=1st").get_data(as_text=True))
    assert [len(row_numbers(p)) for p in pages] == [40, 40, 5]
    assert all("Alpha Company, 1st Platoon" in p for p in pages)
    whole = sheet_pages(client.get("/print/grades?company=Alpha").get_data(as_text=True))
    assert [len(row_numbers(p)) for p in whole] == [40, 40, 8]


def test_archived_cadets_are_left_off_and_an_empty_choice_is_not_an_error(client):
    staff_client(client)
    kept, gone = make_cadet(last_name="Kept"), make_cadet(last_name="Gone")
    archive_cadets(make_user("admin"), [gone])
    html = client.get("/print/grades?company=Alpha").get_data(as_text=True)
    assert "Kept," in html and "Gone," not in html and kept
    nothing = client.get("/print/grades")
    assert nothing.status_code == 200 and "Choose a company" in nothing.get_data(as_text=True)
    assert sheet_pages(nothing.get_data(as_text=True)) == []
    unknown = client.get("/print/grades?company=Nowhere")
    assert unknown.status_code == 200 and "No active cadets in this company" in unknown.get_data(as_text=True)


def test_a_sheet_too_big_to_print_is_refused_plainly(client, monkeypatch):
    staff_client(client)
    monkeypatch.setattr(printing, "MAX_PRINTED_CADETS", 3)
    make_cadets(4, company="Alpha")
    res = client.get("/print/grades?company=Alpha")
    assert res.status_code == 422 and "Too many cadets for one print job" in res.get_data(as_text=True)
    assert sheet_pages(res.get_data(as_text=True)) == []


def test_a_cadets_record_prints_on_one_sheet_with_the_latest_merits(client):
    staff = make_user("training_staff")
    update_settings(make_user("admin"), UNIT)
    cadet = make_cadet(last_name="Record", first_name="Rita")
    for i in range(15):
        record_merit(staff, {"cadet_id": cadet, "type": "merit", "points": 1, "reason": f"reason {i:02d}"})
    day = make_training_day(title="Drill")
    mark_attendance(staff, day, {cadet: "late"})
    login(client, staff)
    html = client.get(f"/print/cadets/{cadet}").get_data(as_text=True)
    [sheet] = sheet_pages(html)
    assert "Cadet record · Record, Rita" in sheet and UNIT["unit_name"] in sheet and "2nd semester" in sheet
    assert sheet.count("reason ") == printing.RECORD_MERITS and "reason 14" in sheet and "reason 00" not in sheet
    assert "The latest 12, and 3 earlier entries (counted in the totals above)" in sheet
    assert "15 merit, 0 demerit points" in sheet and "late" in sheet and "Certified correct" in sheet


def test_print_roles(client):
    cadet_user, other = make_user("cadet"), make_cadet()
    make_cadets(2, company="Alpha")
    own = cadet_user.cadet_id
    assert client.get("/print/grades?company=Alpha").headers["Location"].startswith("/login")
    assert client.get(f"/print/cadets/{own}").headers["Location"].startswith("/login")
    login(client, cadet_user)
    assert client.get("/print/grades?company=Alpha").status_code == 403
    assert client.get(f"/print/cadets/{other}").status_code == 403
    assert client.get(f"/print/cadets/{own}").status_code == 200
    for role in ("training_staff", "admin"):
        client.post("/logout")
        login(client, make_user(role))
        assert client.get("/print/grades?company=Alpha").status_code == 200
        assert client.get(f"/print/cadets/{other}").status_code == 200
        assert client.get("/print/cadets/999999").status_code == 404


def test_the_print_stylesheet_pages_every_40_rows_with_repeated_headers(client):
    css = client.get("/static/css/print-sheet.css").get_data(as_text=True)
    assert re.search(r"@page\s*{\s*size:\s*A4", css)
    assert "thead { display: table-header-group; }" in css
    assert "break-inside: avoid" in css and "break-after: page" in css


# --- rendered by Chromium to PDF: count the pages --------------------------------------------------


def pdf_page_count(pdf: bytes) -> int:
    """Pages of a PDF, by pdfinfo (poppler-utils) when installed, else by its page objects."""
    if shutil.which("pdfinfo"):
        info = subprocess.run(["pdfinfo", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
        return int(re.search(r"^Pages:\s+(\d+)", info, re.M)[1])
    return len(re.findall(rb"/Type\s*/Page(?!s)", pdf))


@pytest.mark.browser
def test_chromium_prints_120_cadets_on_3_pages_and_a_record_on_1(app, page):
    update_settings(make_user("admin"), UNIT)
    staff = make_user("training_staff")
    make_cadets(119, company="Alpha", platoon="1st")
    # A name that wraps onto three lines must still leave 40 rows and the signatures on the page.
    make_cadet(company="Alpha", platoon="1st", last_name="Dela Cruz-Villanueva y Montemayor",
               first_name="Maria Concepcion Esperanza", middle_name="Bautista")
    cadet = db.session.scalar(select(Cadet.id).order_by(Cadet.id).limit(1))
    for i in range(printing.RECORD_MERITS + 3):
        record_merit(staff, {"cadet_id": cadet, "type": "demerit" if i % 4 else "merit", "points": 1,
                             "reason": f"A fairly long reason for entry {i} so that the column has to wrap"})
    for offset in range(40):
        mark_attendance(staff, make_training_day(offset=offset), {cadet: "present"})
    test_browser._sign_in(page, staff, "/print/grades?company=Alpha")
    assert page.locator("section.sheet-page").count() == 3
    assert pdf_page_count(page.pdf(format="A4", prefer_css_page_size=True)) == 3
    assert pdf_page_count(page.pdf(format="Letter", prefer_css_page_size=False)) == 3
    page.goto(page.base + f"/print/cadets/{cadet}")
    assert pdf_page_count(page.pdf(format="A4", prefer_css_page_size=True)) == 1
    assert pdf_page_count(page.pdf(format="Letter", prefer_css_page_size=False)) == 1
