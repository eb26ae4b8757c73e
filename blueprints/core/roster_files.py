"""Roster spreadsheet formats: the cells of an uploaded .xlsx or .csv as a Grid, and the .xlsx export.

What changes with the file formats (calamine, openpyxl, CSV dialects, zip bombs, formulas) lives here;
finding the headings and turning a Grid into a Sheet of text rows is blueprints/core/roster.py.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from blueprints.core.errors import ValidationError
from blueprints.core.validation import MAX_BULK

log = logging.getLogger(__name__)
MAX_COLUMNS = 100
MAX_UNPACKED = 64 * 1024 * 1024  # an .xlsx is a zip: refuse one that inflates past this (a zip bomb)
OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")  # Compound File: an encrypted .xlsx or an old .xls
ZIP = b"PK\x03\x04"


def bad_file(message: str) -> ValidationError:
    return ValidationError(message, {"file": [message]})


@dataclass
class Grid:
    """A sheet's cells at their positions in the file, before the heading row is found."""

    cells: list[list[Any]]
    sheet_name: str = ""
    flags: dict[tuple[int, int], str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)


def read_grid(name: str, extension: str, data: bytes) -> Grid:
    """The cells of a non-empty .xlsx or .csv upload; ValidationError("file") when the format is wrong."""
    if data.startswith(OLE2):
        raise bad_file(_ole2_message(data))
    if data.startswith(ZIP):
        return _xlsx_grid(data)
    if extension == "xlsx":
        raise bad_file(f"“{name}” is not an Excel workbook, although its name ends in .xlsx.")
    return _csv_grid(data)


def _ole2_message(data: bytes) -> str:
    if "EncryptedPackage".encode("utf-16-le") in data:
        return ("The file is password-protected. Open it in Excel, remove the password "
                "(File › Info › Protect Workbook), save it and upload it again.")
    return "This is an old Excel 97–2003 (.xls) file. Save it as .xlsx or CSV and upload it again."


def _xlsx_grid(data: bytes) -> Grid:
    """The first visible worksheet: its cells, merged ranges and formula cells."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_UNPACKED:
            raise bad_file("The workbook is too large once unpacked; keep only the roster sheet and try again.")
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        index, sheet_name = _first_worksheet(book)
        sheet = book.get_sheet_by_index(index)
        if sheet.total_height > MAX_BULK + 1000 or sheet.total_width > MAX_COLUMNS:
            raise bad_file(f"The sheet “{sheet_name}” is too big: at most {MAX_BULK:,} cadets and "
                            f"{MAX_COLUMNS} columns can be read.")
        cells = sheet.to_python(skip_empty_area=False)
        merged = sheet.merged_cell_ranges or []
        formulas = _formula_cells(data, index)
    except ValidationError:
        raise
    except Exception as exc:  # an untrusted file can break a reader in many ways; each is a bad file
        log.info("unreadable .xlsx upload: %r", exc)
        raise bad_file("The file could not be read as an Excel workbook; it may be damaged. "
                        "Open it in Excel, save it as .xlsx and upload it again.") from exc
    no_result = "holds a formula with no saved result; open the file in Excel, save it and upload it again"
    flags = {cell: no_result for cell, has_result in formulas.items() if not has_result}
    with_result = sum(formulas.values())
    notices = [f"{with_result:,} cells hold formulas; Muster imports the values they showed when the file "
               "was last saved."] if with_result else []
    return Grid(cells, sheet_name, flags, notices, merged)


def _first_worksheet(book: CalamineWorkbook) -> tuple[int, str]:
    for index, meta in enumerate(book.sheets_metadata):
        if meta.typ == SheetTypeEnum.WorkSheet and meta.visible == SheetVisibleEnum.Visible:
            return index, meta.name
    raise bad_file("The workbook has no visible worksheet.")


_CELL = re.compile(rb"<(?:\w+:)?c\b([^>]*?)(?:/>|>(.*?)</(?:\w+:)?c>)", re.S)
_REF = re.compile(rb'\br="([A-Z]+)(\d+)"')
_VALUE = re.compile(rb"<(?:\w+:)?v>[^<]+</(?:\w+:)?v>")


def _formula_cells(data: bytes, index: int) -> dict[tuple[int, int], bool]:
    """Formula cells of the index-th sheet, by (row, col) from 0, and whether each has a saved result.

    calamine returns a formula's saved result but not that it was a formula, so the sheet's XML is
    scanned for <f> elements (cheap: skipped when the sheet has none).
    """
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        xml = archive.read(_sheet_path(archive, index))
    if b"<f" not in xml and b":f" not in xml:
        return {}
    found = {}
    for match in _CELL.finditer(xml):
        inner = match.group(2) or b""
        ref = _REF.search(match.group(1))
        if ref and re.search(rb"<(?:\w+:)?f[\s>/]", inner):
            found[(int(ref.group(2)) - 1, _column_index(ref.group(1).decode()))] = bool(_VALUE.search(inner))
    return found


def _sheet_path(archive: zipfile.ZipFile, index: int) -> str:
    """The zip member of the index-th sheet, following xl/workbook.xml and its relationships."""
    workbook = archive.read("xl/workbook.xml")
    rels = archive.read("xl/_rels/workbook.xml.rels")
    ids = re.findall(rb"<(?:\w+:)?sheet\b[^>]*?\br:id=\"([^\"]+)\"", workbook)
    targets = {m.group(1): m.group(2) for m in re.finditer(
        rb"<Relationship\b(?=[^>]*\bId=\"([^\"]+)\")(?=[^>]*\bTarget=\"([^\"]+)\")[^>]*>", rels)}
    target = targets[ids[index]].decode()
    return target.lstrip("/") if target.startswith("/") else "xl/" + target


def _column_index(letters: str) -> int:
    number = 0
    for letter in letters:
        number = number * 26 + ord(letter) - 64
    return number - 1


def column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _csv_grid(data: bytes) -> Grid:
    """CSV cells; a cell starting with "=" is a formula a spreadsheet wrote out as text, not a value."""
    cells = _csv_cells(data)
    formula = "looks like a spreadsheet formula, not a value; paste values only and export again"
    flags = {(r, c): formula for r, row in enumerate(cells) for c, value in enumerate(row) if value.startswith("=")}
    return Grid(cells, flags=flags)


def _csv_cells(data: bytes) -> list[list[str]]:
    text = _decode(data)
    if "\x00" in text:
        raise bad_file("The file is not a text CSV file. Upload an Excel workbook (.xlsx) or a CSV file.")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(",;\t|", key=first_line.count) if first_line else ","
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise bad_file(f"The CSV file could not be read: {exc}.") from exc


def _decode(data: bytes) -> str:
    """UTF-8 (with or without BOM) or UTF-16 with a BOM; else Windows-1252, which Excel writes for "CSV"."""
    if data.startswith(codecs.BOM_UTF8):
        return data[len(codecs.BOM_UTF8):].decode("utf-8", errors="replace")
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return data.decode("utf-16", errors="replace")
    for encoding in ("utf-8", "cp1252"):
        try:
            return data.decode(encoding)
        except UnicodeDecodeError:
            continue
    return data.decode("latin-1")


# --- writing ---------------------------------------------------------------------------------------


def write_xlsx(header: list[str], rows: Iterable[list[Any]], sheet_name: str = "Cadets") -> bytes:
    """An .xlsx workbook of one sheet: a bold heading row, then the rows (numbers stay numbers)."""
    book = Workbook(write_only=True)
    sheet = book.create_sheet(sheet_name)
    sheet.freeze_panes = "A2"
    bold = Font(bold=True)
    sheet.append([_heading_cell(sheet, name, bold) for name in header])
    for row in rows:
        sheet.append([_text_cell(sheet, value) for value in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def _heading_cell(sheet: Any, name: str, font: Font) -> WriteOnlyCell:
    cell = WriteOnlyCell(sheet, name)
    cell.font = font
    return cell


def _text_cell(sheet: Any, value: Any) -> Any:
    if not isinstance(value, str):
        return value
    cell = WriteOnlyCell(sheet, value)
    cell.data_type = "s"  # text, never a formula, even when it starts with "="
    return cell
