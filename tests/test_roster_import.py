"""Roster import on the pages: upload a .xlsx or .csv, review the column mapping and every row, import all
or nothing through import_cadets (skip or update existing student ids); the .csv/.xlsx export imports back."""

from __future__ import annotations

import csv
import html
import io
import random
import re
from datetime import date
from pathlib import Path

import openpyxl
import pytest
from sqlalchemy import delete, func, select

from blueprints.core.errors import Conflict, ValidationError
from blueprints.core.operations.cadets import archive_cadets, import_cadets
from blueprints.core.roster import field_for, read_roster
from models import AuditLog, Cadet, Grade, User, db
from tests.conftest import is_postgres
from tests.factories import make_cadet, make_user, signed_in
from tests.test_browser import _sign_in, page, server  # noqa: F401  (fixtures of the live-server browser test)
from tests.test_concurrency import run_together
from tests.test_operations import fail_on

HEADINGS = ["Student No.", "Last Name", "First Name", "Middle Name", "Company", "Platoon", "Year Level",
            "E-mail", "Contact #"]
PROFILE = ("student_id", "last_name", "first_name", "middle_name", "suffix", "company", "platoon", "course",
           "year_level", "status", "email", "contact_number")


def _roster(count: int = 3, start: int = 1) -> list[list]:
    return [[f"2026-{i:05d}", f"Last{i}", f"First{i}", "", "Alpha", "1st", 1, f"c{i}@example.test",
             "0917 000 0000"] for i in range(start, start + count)]


def _csv(rows: list[list], headings: list[str] = HEADINGS, delimiter: str = ",", encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(headings)
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def _xlsx(rows: list[list], headings: list[str] = HEADINGS, above: list[list] = (), setup=None) -> bytes:
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.title = "Roster"
    for row in [*above, headings, *rows]:
        sheet.append(row)
    if setup:
        setup(sheet)
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _upload(client, name: str, data: bytes):
    return client.post("/cadets/import", data={"file": (io.BytesIO(data), name)},
                       content_type="multipart/form-data")


def _sealed(page_html: str) -> str:
    return re.search(r'name="sheet" value="([^"]+)"', page_html).group(1)


def _chosen(page_html: str) -> dict[str, str]:
    """field -> the column index the review page selected for it."""
    chosen = {}
    for name, body in re.findall(r'<select id="map-(\w+)"[^>]*>(.*?)</select>', page_html, re.S):
        picked = re.search(r'<option value="(\d+)" selected>', body)
        if picked:
            chosen[name] = picked.group(1)
    return chosen


def _review(client, page_html: str, action: str = "import", on_existing: str = "skip", **remap: str):
    mapping = {**_chosen(page_html), **remap}
    form = {"sheet": _sealed(page_html), "action": action, "on_existing": on_existing,
            **{f"map-{name}": column for name, column in mapping.items()}}
    return client.post("/cadets/import/review", data=form)


def _import(client, name: str, data: bytes, on_existing: str = "skip", **remap: str):
    preview = _upload(client, name, data)
    assert preview.status_code == 200, preview.text
    return _review(client, preview.text, on_existing=on_existing, **remap)


def _count(model) -> int:
    return db.session.scalar(select(func.count()).select_from(model))


def _profiles() -> dict[str, dict]:
    db.session.expire_all()
    return {c.student_id: {k: getattr(c, k) for k in PROFILE} for c in db.session.scalars(select(Cadet))}


def _flash(client) -> str:
    with client.session_transaction() as session:
        return " ".join(message for _, message in session.get("_flashes", []))


# --- header mapping ---------------------------------------------------------------------------


@pytest.mark.parametrize(("heading", "field"), [
    ("Student No.", "student_id"), ("student_id", "student_id"), ("STUDENT NUMBER", "student_id"),
    ("ID Number", "student_id"), ("Last Name", "last_name"), ("Surname", "last_name"), ("last_name", "last_name"),
    ("Given name", "first_name"), ("Frist Name", "first_name"), ("M.I.", "middle_name"), ("Ext.", "suffix"),
    ("Coy", "company"), ("Program", "course"), ("Yr. Level", "year_level"), ("E-mail Address", "email"),
    ("Contact #", "contact_number"), ("Mobile No.", "contact_number"), ("Birthday", None), ("", None),
    ("No.", None),
])
def test_headings_are_matched_forgivingly(heading, field):
    assert field_for(heading) == field


def test_the_review_page_shows_the_mapping_it_chose_below_a_title_row(app, client):
    signed_in(client)
    rows = [["2026-1", "Cruz", "Ana", date(2005, 3, 4), "Alpha"], ["2026-2", "Reyes", "Jose", "", "Bravo"]]
    data = _xlsx(rows, headings=["Student No.", "Surname", "Given name", "Birthday", "Coy"],
                 above=[["ROTC ROSTER, FIRST SEMESTER"], []])
    response = _upload(client, "roster.xlsx", data)
    assert response.status_code == 200
    assert _chosen(response.text) == {"student_id": "0", "last_name": "1", "first_name": "2", "company": "4"}
    assert "Not imported: D: Birthday." in html.unescape(response.text)
    assert 'id="row-4"' in response.text and 'id="row-5"' in response.text  # spreadsheet row numbers


def test_the_admin_corrects_the_mapping_and_the_import_uses_it(app, client):
    signed_in(client)
    data = _csv([["S-1", "Cruz", "Ana", "Bravo"]], headings=["Student No.", "Last Name", "First Name", "Section"])
    preview = _upload(client, "roster.csv", data)
    assert "company" not in _chosen(preview.text)  # "Section" names no field...
    checked = _review(client, preview.text, action="check", company="3")  # ...so the admin picks it
    assert checked.status_code == 200 and _chosen(checked.text)["company"] == "3"
    assert ">Bravo</td>" in checked.text
    assert _review(client, checked.text).status_code == 303
    assert _profiles()["S-1"]["company"] == "Bravo"


def test_a_required_field_without_a_column_is_shown_and_nothing_is_imported(app, client):
    signed_in(client)
    preview = _upload(client, "roster.csv", _csv([["S-1", "Cruz"]], headings=["Student No.", "Last Name"]))
    assert 'id="e-map-first_name"' in preview.text and "disabled" in preview.text
    twice = _review(client, preview.text, action="check", first_name="1")
    assert "B: Last Name is also chosen for Last name" in html.unescape(twice.text)
    response = _review(client, preview.text)
    assert response.status_code == 422 and "nothing was imported" in response.text
    assert _count(Cadet) == 0


# --- the preview and all or nothing ------------------------------------------------------------


def test_every_row_is_listed_with_its_errors_beside_it_and_nothing_is_imported(app, client):
    signed_in(client)
    rows = _roster(3)
    rows[1][2] = ""  # no first name
    rows[1][7] = "not-an-email"
    rows[2][0] = rows[0][0]  # the same student id twice
    audits = _count(AuditLog)
    preview = _upload(client, "roster.csv", _csv(rows))
    text = html.unescape(preview.text)
    assert preview.status_code == 200 and text.count('class="has-error"') == 2
    row3 = re.search(r'<tr id="row-3".*?</tr>', text, re.S).group(0)
    assert "First name: is required" in row3 and "Email: must be a valid email address" in row3
    row4 = re.search(r'<tr id="row-4".*?</tr>', text, re.S).group(0)
    assert "Student ID: duplicates row 2" in row4
    assert 'id="row-2"' in text and "disabled" in text
    response = _review(client, preview.text)
    assert response.status_code == 422 and "Some rows are invalid; nothing was imported." in response.text
    assert _count(Cadet) == 0 and _count(Grade) == 0 and _count(AuditLog) == audits


def test_a_failure_midway_through_an_update_import_leaves_nothing(app, client):
    admin = signed_in(client)
    make_cadet(admin, student_id="2026-00001", company="Bravo")
    before = _profiles()
    preview = _upload(client, "roster.csv", _csv(_roster(3)))
    audits = _count(AuditLog)
    with fail_on("INSERT INTO GRADES"), pytest.raises(RuntimeError):
        _review(client, preview.text, on_existing="update")
    db.session.rollback()
    assert _profiles() == before and _count(AuditLog) == audits


# --- skip and update ---------------------------------------------------------------------------


def test_skip_leaves_existing_cadets_alone_and_creates_the_rest(app, client):
    admin = signed_in(client)
    make_cadet(admin, student_id="2026-00001", last_name="Kept", company="Bravo")
    preview = _upload(client, "roster.csv", _csv(_roster(3)))
    assert "2 new, 1 already in Muster" in preview.text
    response = _review(client, preview.text, on_existing="skip")
    assert response.status_code == 303 and response.headers["Location"].endswith("/cadets/")
    assert "Imported roster.csv: 2 added, 1 skipped (already in Muster)." in _flash(client)
    profiles = _profiles()
    assert profiles["2026-00001"]["last_name"] == "Kept" and profiles["2026-00001"]["company"] == "Bravo"
    assert profiles["2026-00003"]["email"] == "c3@example.test" and _count(Grade) == 3
    audit = db.session.scalars(select(AuditLog).order_by(AuditLog.id.desc())).first()
    assert audit.user_id == admin.id and audit.payload["action"] == "import"
    assert audit.payload["created"] == 2 and audit.payload["on_existing"] == "skip"


def test_update_overwrites_non_empty_cells_audits_each_change_and_clears_the_cache(app, client):
    admin = signed_in(client)
    cadet_id = make_cadet(admin, student_id="2026-00001", middle_name="Reyes", company="Bravo", year_level=3)
    make_cadet(admin, student_id="2026-00002", last_name="Last2", first_name="First2", middle_name=None,
               company="Alpha", platoon="1st", year_level=1, email="c2@example.test", contact_number="0917 000 0000")
    assert "Bravo" in client.get("/cadets/?company=Bravo").text  # cached list, before
    response = _import(client, "roster.csv", _csv(_roster(3)), on_existing="update")
    assert response.status_code == 303
    assert "1 added, 1 updated, 1 already up to date" in _flash(client)
    cadet = _profiles()["2026-00001"]
    assert (cadet["company"], cadet["year_level"], cadet["last_name"]) == ("Alpha", 1, "Last1")
    assert cadet["middle_name"] == "Reyes"  # an empty cell keeps the current value
    change = db.session.scalar(select(AuditLog).where(AuditLog.record_id == cadet_id, AuditLog.operation == "UPDATE"))
    assert change.user_id == admin.id
    assert change.payload["before"]["company"] == "Bravo" and change.payload["after"]["company"] == "Alpha"
    assert "2026-00001" not in client.get("/cadets/?company=Bravo").text  # fresh after the import
    assert "2026-00001" in client.get("/cadets/?company=Alpha").text


def test_a_cadet_created_between_preview_and_import_is_skipped_not_duplicated(app, client):
    admin = signed_in(client)
    preview = _upload(client, "roster.csv", _csv(_roster(2)))
    assert "2 new, 0 already in Muster" in preview.text
    make_cadet(admin, student_id="2026-00002", last_name="Meanwhile")
    assert _review(client, preview.text).status_code == 303
    assert _profiles()["2026-00002"]["last_name"] == "Meanwhile" and _count(Cadet) == 2


def test_import_cadets_modes(app):
    admin = make_user("admin")
    make_cadet(admin, student_id="E-1", last_name="Old")
    rows = [{"student_id": "E-1", "first_name": "A", "last_name": "New"},
            {"student_id": "E-2", "first_name": "B", "last_name": "C"}]
    with pytest.raises(Conflict):
        import_cadets(admin, rows)  # the API's default: an existing id refuses the whole import
    assert _count(Cadet) == 1
    assert import_cadets(admin, rows, on_existing="skip") == (1, 0, 0, 1)
    assert import_cadets(admin, rows, on_existing="update") == (0, 1, 1, 0)
    assert _profiles()["E-1"]["last_name"] == "New"


@pytest.mark.postgres
def test_two_concurrent_imports_of_the_same_roster_create_each_cadet_once(app):
    if not is_postgres():
        pytest.skip("concurrency is tested against PostgreSQL")
    admin_id = make_user("admin").id
    rows = [{"student_id": f"R-{i}", "first_name": "A", "last_name": "B"} for i in range(200)]
    results = run_together(app, [lambda: import_cadets(db.session.get(User, admin_id), rows, "skip")] * 2)
    created = [r.created for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert all(isinstance(r, Conflict) for r in refused)
    assert sum(created) == 200 and _count(Cadet) == 200 and _count(Grade) == 200


# --- bad files -----------------------------------------------------------------------------------

# A real Excel-encrypted workbook (password "secret"), made once with msoffcrypto-tool.
_ENCRYPTED = (Path(__file__).parent / "fixtures" / "roster-password-secret.xlsx").read_bytes()


@pytest.mark.parametrize(("name", "data", "message"), [
    ("roster.pdf", b"%PDF-1.7 ...", "upload an Excel workbook (.xlsx) or a CSV file (.csv)"),
    ("roster", b"a,b", "upload an Excel workbook (.xlsx) or a CSV file (.csv)"),
    ("roster.csv", b"", "is empty"),
    ("roster.xlsx", b"", "is empty"),
    ("roster.csv", b"\n\n  \n", "is empty"),
    ("roster.csv", b"Student No.,Last Name,First Name\n\n", "has a heading row but no cadets under it"),
    ("roster.xlsx", _ENCRYPTED, "The file is password-protected."),
    ("roster.xlsx", bytes.fromhex("D0CF11E0A1B11AE1") + bytes(2000), "old Excel 97"),
    ("roster.xlsx", b"Student No.,Last Name\n1,2\n", "is not an Excel workbook"),
    ("roster.xlsx", b"PK\x03\x04 damaged beyond repair", "could not be read as an Excel workbook"),
    ("roster.csv", b"Student\x00No\x00\n\x01\x02\x00", "not a text CSV file"),
])
def test_bad_files_get_a_clear_message_beside_the_file_field(app, client, name, data, message):
    signed_in(client)
    response = _upload(client, name, data)
    assert response.status_code == 422
    assert 'id="e-file"' in response.text and message in html.unescape(response.text)
    assert _count(Cadet) == 0


@pytest.mark.parametrize("seed", range(40))
def test_a_damaged_workbook_is_a_bad_file_never_a_crash(seed):
    data = bytearray(_xlsx(_roster(3), setup=lambda sheet: sheet.merge_cells("A6:B6")))
    rng = random.Random(seed)
    for _ in range(rng.choice((1, 5, 50))):
        data[rng.randrange(len(data))] = rng.randrange(256)
    try:
        read_roster("roster.xlsx", bytes(data))
    except ValidationError as exc:
        assert exc.details["file"]


def test_no_file_chosen(app, client):
    signed_in(client)
    response = client.post("/cadets/import", data={}, content_type="multipart/form-data")
    assert response.status_code == 422 and "Choose a file to upload." in response.text


def test_a_20_mb_file_gets_a_413_page_that_says_so(app, client):
    signed_in(client)
    response = _upload(client, "roster.csv", b"x" * (20 * 1024 * 1024))
    assert response.status_code == 413
    text = html.unescape(response.text)
    assert "The file is too large (20.0 MB); the limit is 2 MB." in text and 'id="f-file"' in text


def test_more_than_5000_cadets_are_refused(app, client):
    signed_in(client)
    response = _upload(client, "roster.csv", _csv(_roster(5001)))
    assert response.status_code == 422 and "more than 5,000 cadets" in response.text


def test_merged_heading_cells_are_refused_with_their_address(app, client):
    signed_in(client)
    data = _xlsx(_roster(1), headings=["Student No.", "Name", "", "Company"],
                 setup=lambda sheet: sheet.merge_cells("B1:C1"))
    response = _upload(client, "roster.xlsx", data)
    assert response.status_code == 422
    assert "The heading row has merged cells (B1:C1)" in response.text


def test_merged_title_cells_above_the_headings_are_fine(app, client):
    signed_in(client)
    data = _xlsx(_roster(1), above=[["ROSTER"]], setup=lambda sheet: sheet.merge_cells("A1:I1"))
    assert _upload(client, "roster.xlsx", data).status_code == 200


def test_formulas_use_their_saved_value_and_one_without_is_an_error_beside_its_row(app, client):
    signed_in(client)

    def formulas(sheet):
        sheet["C2"] = "=B2&\"x\""  # openpyxl saves no result: there is nothing to import

    preview = _upload(client, "roster.xlsx", _xlsx(_roster(2), setup=formulas))
    text = html.unescape(preview.text)
    row2 = re.search(r'<tr id="row-2".*?</tr>', text, re.S).group(0)
    assert "First name: holds a formula with no saved result" in row2 and "disabled" in text
    assert _review(client, preview.text).status_code == 422 and _count(Cadet) == 0


def test_a_formula_with_a_saved_result_imports_that_result(app, client):
    signed_in(client)
    data = _with_saved_formula(_xlsx(_roster(1)), cell="C2", formula="UPPER(&quot;x&quot;)", result="Ana")
    preview = _upload(client, "roster.xlsx", data)
    assert "1 cells hold formulas; Muster imports the values they showed" in html.unescape(preview.text)
    assert _review(client, preview.text).status_code == 303
    assert _profiles()["2026-00001"]["first_name"] == "Ana"


def _with_saved_formula(data: bytes, cell: str, formula: str, result: str) -> bytes:
    """The workbook with one cell turned into a formula and its saved result, as Excel writes it."""
    import zipfile

    source = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as target:
        for item in source.infolist():
            body = source.read(item)
            if item.filename == "xl/worksheets/sheet1.xml":
                body = re.sub(rf'<c r="{cell}"[^>]*>.*?</c>'.encode(),
                              f'<c r="{cell}" t="str"><f>{formula}</f><v>{result}</v></c>'.encode(), body, flags=re.S)
            target.writestr(item, body)
    return out.getvalue()


def test_a_csv_cell_holding_formula_text_is_an_error_beside_its_row(app, client):
    signed_in(client)
    rows = _roster(1)
    rows[0][4] = "=VLOOKUP(A2,Sheet2!A:B,2)"
    preview = _upload(client, "roster.csv", _csv(rows))
    assert "Company: looks like a spreadsheet formula" in html.unescape(preview.text)


def test_dates_stored_as_numbers_are_named_not_imported_as_serial_numbers(app, client):
    signed_in(client)

    def as_date(sheet):
        sheet["A2"] = 45000
        sheet["A2"].number_format = "yyyy-mm-dd"  # Excel turned "2023-03-15" into a date serial

    preview = _upload(client, "roster.xlsx", _xlsx(_roster(1), setup=as_date))
    text = html.unescape(preview.text)
    assert "Student ID: is a date or time in the file (2023-03-15)" in text and "45000" not in text
    assert _review(client, preview.text).status_code == 422 and _count(Cadet) == 0


def test_unmapped_date_columns_and_numeric_cells_import(app, client):
    signed_in(client)
    rows = [[2026000001, "Cruz", "Ana", date(2005, 3, 4), 2.0, 639171234567]]
    data = _xlsx(rows, headings=["Student No.", "Last Name", "First Name", "Birthday", "Year", "Mobile"])
    assert _import(client, "roster.xlsx", data).status_code == 303
    cadet = _profiles()["2026000001"]
    assert cadet["year_level"] == 2 and cadet["contact_number"] == "639171234567"


@pytest.mark.parametrize(("encoding", "delimiter"), [("utf-8-sig", ","), ("cp1252", ";"), ("utf-16", "\t"),
                                                     ("utf-8", "|")])
def test_csv_encodings_and_delimiters_are_sniffed(app, client, encoding, delimiter):
    signed_in(client)
    rows = [["2026-00001", "Peña", "José", "", "Alpha", "1st", "1", "", ""]]
    assert _import(client, "roster.csv", _csv(rows, delimiter=delimiter, encoding=encoding)).status_code == 303
    assert _profiles()["2026-00001"]["last_name"] == "Peña"


# --- the form itself ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["training_staff", "cadet"])
def test_only_admins_may_import(app, client, role):
    signed_in(client, role)
    cadets = _count(Cadet)
    assert client.get("/cadets/import").status_code == 403
    assert _upload(client, "roster.csv", _csv(_roster(1))).status_code == 403
    assert client.post("/cadets/import/review", data={"sheet": "x", "action": "import"}).status_code == 403
    assert _count(Cadet) == cadets


def test_signed_out_users_are_sent_to_sign_in(app, client):
    assert "/login" in client.get("/cadets/import").headers["Location"]


def test_the_forms_carry_a_csrf_token_and_a_post_without_one_is_refused(app, client):
    signed_in(client)
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        page_html = client.get("/cadets/import").text
        assert 'name="csrf_token"' in page_html and 'enctype="multipart/form-data"' in page_html
        assert _upload(client, "roster.csv", _csv(_roster(1))).status_code == 400
        too_large = _upload(client, "roster.csv", b"x" * (20 * 1024 * 1024))  # CSRF reads the form first
        assert too_large.status_code == 413 and "The file is too large" in too_large.text
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


def test_an_altered_or_borrowed_preview_is_refused(app, client):
    signed_in(client)
    preview = _upload(client, "roster.csv", _csv(_roster(1)))
    sealed = _sealed(preview.text)
    altered = client.post("/cadets/import/review", data={"sheet": sealed[:-4] + "AAAA", "action": "import",
                                                         "map-student_id": "0"})
    assert altered.status_code == 400 and "could not be verified" in altered.text
    signed_in(client)  # another admin replays the first one's preview
    assert _review(client, preview.text).status_code == 400
    assert _count(Cadet) == 0


def test_the_cadets_list_links_admins_to_the_import(app, client):
    signed_in(client)
    assert 'href="/cadets/import"' in client.get("/cadets/").text


# --- export and round trip -----------------------------------------------------------------------


@pytest.fixture
def varied(app):
    """Cadets whose values test a round trip: formula-like text, unicode, empty fields, every status."""
    admin = make_user("admin")
    make_cadet(admin, student_id="2026-00001", last_name="Dela Cruz", first_name="José", middle_name="Peña",
               suffix="Jr.", contact_number="+63 917 123 4567", email="Jose@Example.test", status="Completed")
    make_cadet(admin, student_id="2026-00002", last_name="=Santos", first_name="-Ana", middle_name=None,
               company=None, platoon=None, course=None, year_level=None, contact_number="(02) 123-4567")
    archived = make_cadet(admin, student_id="2026-00003", last_name="Old", status="Drop")
    archive_cadets(admin, [archived])
    return admin


@pytest.mark.parametrize("kind", ["csv", "xlsx"])
def test_an_export_imports_back_unchanged(app, client, varied, kind):
    signed_in(client)
    before = _profiles()
    path = "/cadets/export.csv?archived=all" if kind == "csv" else "/cadets/export.xlsx?archived=all"
    exported = client.get(path)
    assert exported.status_code == 200
    response = _import(client, f"cadets.{kind}", exported.data, on_existing="update")
    assert response.status_code == 303
    assert "0 added, 0 updated, 3 already up to date" in _flash(client)
    assert _profiles() == before
    db.session.execute(delete(Grade))
    db.session.execute(delete(Cadet))
    db.session.commit()
    assert _import(client, f"cadets.{kind}", exported.data).status_code == 303  # into an empty roster
    assert _profiles() == before


def test_the_xlsx_export_has_the_csv_columns_and_keeps_text_as_text(app, client, varied):
    signed_in(client)
    exported = client.get("/cadets/export.xlsx")
    assert exported.headers["Content-Type"].startswith("application/vnd.openxmlformats")
    csv_header = next(csv.reader(io.StringIO(client.get("/cadets/export.csv").text)))
    sheet = read_roster("cadets.xlsx", exported.data)
    assert sheet.headers == csv_header and not sheet.flags
    assert [row[1] for row in sheet.rows] == ["=Santos", "Dela Cruz"]  # active cadets, by name
    book = openpyxl.load_workbook(io.BytesIO(exported.data))
    assert book.active["B2"].value == "=Santos" and book.active["B2"].data_type == "s"  # text, not a formula


def test_5000_rows_import_through_the_page(app, client):
    signed_in(client)
    preview = _upload(client, "roster.xlsx", _xlsx(_roster(5000)))
    assert preview.status_code == 200 and "5,000 new" in preview.text
    assert _review(client, preview.text).status_code == 303
    assert _count(Cadet) == 5000 and _count(Grade) == 5000


# --- in a browser ----------------------------------------------------------------------------------


@pytest.mark.browser
def test_upload_a_csv_see_the_preview_and_import_in_a_browser(app, page, tmp_path):  # noqa: F811
    admin = make_user("admin")
    path = tmp_path / "roster.csv"
    path.write_bytes(_csv(_roster(3)))
    _sign_in(page, admin, "/cadets/")
    page.click("a:has-text('Import roster')")
    page.set_input_files("#f-file", str(path))
    page.click("button:has-text('Upload and preview')")
    page.wait_for_url(re.compile(r"/cadets/import$"))
    assert page.locator("table.import-preview tbody tr").count() == 3
    assert page.input_value("#map-student_id") == "0"
    page.click("button:has-text('Import 3 rows')")
    page.wait_for_url(re.compile(r"/cadets/$"))
    assert "Imported roster.csv: 3 added." in page.inner_text(".flash")
    assert page.locator("table.data tbody tr[data-id]").count() == 3


def test_odd_form_values_are_refused_cleanly(app, client):
    signed_in(client)
    preview = _upload(client, "roster.csv", _csv(_roster(1)))
    checked = _review(client, preview.text, action="check", company="²", platoon="99999")
    assert checked.status_code == 200 and {"company", "platoon"}.isdisjoint(_chosen(checked.text))
    refused = _review(client, preview.text, on_existing="error")
    assert refused.status_code == 422 and "Choose skip or update" in refused.text
    assert _count(Cadet) == 0
