"""Roster files: read an uploaded .xlsx or .csv into plain text rows, guess which column is which field,
and write the .xlsx export.

No database and no request here: the import page turns a Sheet into rows for the import operation
(blueprints/core/roster_import.py). Every problem with the file itself is a ValidationError on "file",
worded for the person who made the spreadsheet.
"""

from __future__ import annotations

import codecs
import csv
import difflib
import io
import logging
import re
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font
from python_calamine import CalamineWorkbook, SheetTypeEnum, SheetVisibleEnum

from blueprints.core.errors import ValidationError
from blueprints.core.validation import MAX_BULK

log = logging.getLogger(__name__)
MAX_COLUMNS = 100
MAX_CELL = 256  # longer than any field allows, so a cut cell still fails validation exactly like the whole one
MAX_UNPACKED = 64 * 1024 * 1024  # an .xlsx is a zip: refuse one that inflates past this (a zip bomb)
HEADER_SCAN = 10  # title rows above the headings are common; look this far down for them
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # what the CSV export quotes with a leading '
OLE2 = bytes.fromhex("D0CF11E0A1B11AE1")  # Compound File: an encrypted .xlsx or an old .xls
ZIP = b"PK\x03\x04"

FIELD_LABELS = {
    "student_id": "Student ID", "last_name": "Last name", "first_name": "First name",
    "middle_name": "Middle name", "suffix": "Suffix", "company": "Company", "platoon": "Platoon",
    "course": "Course", "year_level": "Year level", "status": "Status", "email": "Email",
    "contact_number": "Contact number",
}
REQUIRED = ("student_id", "last_name", "first_name")
_ALIASES = {
    "student_id": ("studentid", "studentno", "studentnumber", "studentnum", "studno", "studid", "studentidno",
                   "studentidnumber", "idno", "idnumber", "id", "sid", "srcode"),
    "last_name": ("lastname", "surname", "familyname", "lname", "last"),
    "first_name": ("firstname", "givenname", "givennames", "fname", "first"),
    "middle_name": ("middlename", "middle", "mname", "mi", "middleinitial"),
    "suffix": ("suffix", "namesuffix", "ext", "extension", "nameext", "nameextension"),
    "company": ("company", "coy"),
    "platoon": ("platoon", "plt", "pltn"),
    "course": ("course", "program", "degree", "degreeprogram", "courseprogram", "programcourse"),
    "year_level": ("yearlevel", "year", "yr", "yrlevel", "yearlvl", "yrlvl", "level"),
    "status": ("status", "cadetstatus"),
    "email": ("email", "emailaddress", "mail"),
    "contact_number": ("contactnumber", "contactno", "contact", "mobile", "mobileno", "mobilenumber", "phone",
                       "phoneno", "phonenumber", "cellphone", "cellphoneno", "cpno", "telephone", "tel"),
}
_ALIAS_TO_FIELD = {alias: name for name, aliases in _ALIASES.items() for alias in aliases}


@dataclass
class Sheet:
    """An uploaded roster as text: the headings, the non-blank data rows and their row numbers in the file."""

    filename: str
    sheet_name: str
    headers: list[str]
    rows: list[list[str]]
    row_numbers: list[int]
    flags: dict[str, str] = field(default_factory=dict)  # "row:col" -> why that cell cannot be imported
    notices: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dict(vars(self))  # shallow: asdict() would deep-copy 60,000 cells for nothing

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sheet:
        return cls(**data)


def _bad_file(message: str) -> ValidationError:
    return ValidationError(message, {"file": [message]})


# --- reading -------------------------------------------------------------------------------------


@dataclass
class _Grid:
    """A sheet's cells at their positions in the file, before the heading row is found."""

    cells: list[list[Any]]
    sheet_name: str = ""
    flags: dict[tuple[int, int], str] = field(default_factory=dict)
    notices: list[str] = field(default_factory=list)
    merged: list[tuple[tuple[int, int], tuple[int, int]]] = field(default_factory=list)


def read_roster(filename: str, data: bytes) -> Sheet:
    """Read a .xlsx or .csv upload into a Sheet; raise ValidationError("file") with a clear message."""
    name = (filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] or "upload")[-100:]  # it ends up in a flash message
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ("xlsx", "csv"):
        raise _bad_file(f"“{name}” is not a roster file: upload an Excel workbook (.xlsx) or a CSV file (.csv).")
    if not data.strip():
        raise _bad_file(f"“{name}” is empty.")
    if data.startswith(OLE2):
        raise _bad_file(_ole2_message(data))
    if data.startswith(ZIP):
        grid = _xlsx_grid(data)
    elif extension == "xlsx":
        raise _bad_file(f"“{name}” is not an Excel workbook, although its name ends in .xlsx.")
    else:
        grid = _csv_grid(data)
    return _sheet(name, grid)


def _ole2_message(data: bytes) -> str:
    if "EncryptedPackage".encode("utf-16-le") in data:
        return ("The file is password-protected. Open it in Excel, remove the password "
                "(File › Info › Protect Workbook), save it and upload it again.")
    return "This is an old Excel 97–2003 (.xls) file. Save it as .xlsx or CSV and upload it again."


def _xlsx_grid(data: bytes) -> _Grid:
    """The first visible worksheet: its cells, merged ranges and formula cells."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            unpacked = sum(info.file_size for info in archive.infolist())
        if unpacked > MAX_UNPACKED:
            raise _bad_file("The workbook is too large once unpacked; keep only the roster sheet and try again.")
        book = CalamineWorkbook.from_filelike(io.BytesIO(data))
        index, sheet_name = _first_worksheet(book)
        sheet = book.get_sheet_by_index(index)
        if sheet.total_height > MAX_BULK + 1000 or sheet.total_width > MAX_COLUMNS:
            raise _bad_file(f"The sheet “{sheet_name}” is too big: at most {MAX_BULK:,} cadets and "
                            f"{MAX_COLUMNS} columns can be read.")
        cells = sheet.to_python(skip_empty_area=False)
        merged = sheet.merged_cell_ranges or []
        formulas = _formula_cells(data, index)
    except ValidationError:
        raise
    except Exception as exc:  # an untrusted file can break a reader in many ways; each is a bad file
        log.info("unreadable .xlsx upload: %r", exc)
        raise _bad_file("The file could not be read as an Excel workbook; it may be damaged. "
                        "Open it in Excel, save it as .xlsx and upload it again.") from exc
    no_result = "holds a formula with no saved result; open the file in Excel, save it and upload it again"
    flags = {cell: no_result for cell, has_result in formulas.items() if not has_result}
    with_result = sum(formulas.values())
    notices = [f"{with_result:,} cells hold formulas; Muster imports the values they showed when the file "
               "was last saved."] if with_result else []
    return _Grid(cells, sheet_name, flags, notices, merged)


def _first_worksheet(book: CalamineWorkbook) -> tuple[int, str]:
    for index, meta in enumerate(book.sheets_metadata):
        if meta.typ == SheetTypeEnum.WorkSheet and meta.visible == SheetVisibleEnum.Visible:
            return index, meta.name
    raise _bad_file("The workbook has no visible worksheet.")


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


def _column_letter(index: int) -> str:
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = chr(65 + rest) + letters
    return letters


def _csv_grid(data: bytes) -> _Grid:
    """CSV cells; a cell starting with "=" is a formula a spreadsheet wrote out as text, not a value."""
    cells = _csv_cells(data)
    formula = "looks like a spreadsheet formula, not a value; paste values only and export again"
    flags = {(r, c): formula for r, row in enumerate(cells) for c, value in enumerate(row) if value.startswith("=")}
    return _Grid(cells, flags=flags)


def _csv_cells(data: bytes) -> list[list[str]]:
    text = _decode(data)
    if "\x00" in text:
        raise _bad_file("The file is not a text CSV file. Upload an Excel workbook (.xlsx) or a CSV file.")
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max(",;\t|", key=first_line.count) if first_line else ","
    try:
        return list(csv.reader(io.StringIO(text, newline=""), delimiter=delimiter))
    except csv.Error as exc:
        raise _bad_file(f"The CSV file could not be read: {exc}.") from exc


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


# --- from a grid of cells to a Sheet -------------------------------------------------------------


def _sheet(filename: str, grid: _Grid) -> Sheet:
    cells = grid.cells
    header_at = _header_row(cells)
    if header_at is None:
        raise _bad_file(f"“{filename}” has no rows.")
    _refuse_merged_heading(grid.merged, header_at)
    width = _width(cells)
    if width > MAX_COLUMNS:
        raise _bad_file(f"The file has {width} columns; at most {MAX_COLUMNS} can be read.")
    headers = [_text(v) for v in _padded(cells[header_at], width)]
    rows, numbers, flags = [], [], {}
    for r in range(header_at + 1, len(cells)):
        row = _padded(cells[r], width)
        texts = [_text(v) for v in row]
        if not any(t.strip() for t in texts):
            continue  # blank rows are not data
        for c, value in enumerate(row):
            problem = grid.flags.get((r, c)) or (None if isinstance(value, str) else _date_problem(value))
            if problem:
                flags[f"{len(rows)}:{c}"] = problem
        rows.append(texts)
        numbers.append(r + 1)
        if len(rows) > MAX_BULK:
            raise _bad_file(f"“{filename}” has more than {MAX_BULK:,} cadets; import at most {MAX_BULK:,} "
                            "at a time.")
    if not rows:
        raise _bad_file(f"“{filename}” has a heading row but no cadets under it.")
    return Sheet(filename, grid.sheet_name, headers, rows, numbers, flags, grid.notices)


def _header_row(grid: list[list[Any]]) -> int | None:
    """The row among the first few non-blank ones with the most recognised headings (else the first)."""
    candidates = [r for r, row in enumerate(grid) if any(_text(v).strip() for v in row)][:HEADER_SCAN]
    if not candidates:
        return None
    return max(candidates, key=lambda r: (sum(1 for v in grid[r] if field_for(_text(v))), -r))


def _refuse_merged_heading(merged: list, header_at: int) -> None:
    for (r1, c1), (r2, c2) in merged:
        if r1 <= header_at <= r2:
            cells = f"{_column_letter(c1)}{r1 + 1}:{_column_letter(c2)}{r2 + 1}"
            raise _bad_file(f"The heading row has merged cells ({cells}). Unmerge them so every column has its "
                            "own heading, then upload the file again.")


def _width(grid: list[list[Any]]) -> int:
    """Columns up to the last one holding anything."""
    width = 0
    for row in grid:
        for c in range(len(row) - 1, width - 1, -1):
            if _text(row[c]).strip():
                width = c + 1
                break
    return width


def _padded(row: list[Any], width: int) -> list[Any]:
    return list(row[:width]) + [""] * (width - len(row))


def _date_problem(value: Any) -> str | None:
    """No cadet field is a date: a date cell is a value Excel converted (an ID like 03-15) or a wrong column."""
    if isinstance(value, datetime | date | time | timedelta):
        return (f"is a date or time in the file ({_text(value)}), not text; format the column as Text, "
                "retype the values and upload again")
    return None


def _text(value: Any) -> str:
    """A cell as the text a person sees: whole numbers without ".0", dates as YYYY-MM-DD."""
    if value is None:
        return ""
    if isinstance(value, str) and not value.startswith("'"):
        return value[:MAX_CELL]
    if isinstance(value, bool):
        return "TRUE" if value else "FALSE"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == time() else value.isoformat(sep=" ")
    if isinstance(value, date | time):
        return value.isoformat()
    text = str(value)[:MAX_CELL]
    if text.startswith("'") and text[1:2] and text[1] in FORMULA_PREFIXES[:4]:
        return text[1:]  # the CSV export's guard against formulas: undo it so an export imports back unchanged
    return text


# --- headings ------------------------------------------------------------------------------------


def _normalise(heading: str) -> str:
    return re.sub(r"[^a-z0-9]", "", heading.lower())


def field_for(heading: str) -> str | None:
    """The cadet field a column heading names ("Student No." -> student_id), forgiving small typos."""
    key = _normalise(heading)
    if not key:
        return None
    if key in _ALIAS_TO_FIELD:
        return _ALIAS_TO_FIELD[key]
    close = difflib.get_close_matches(key, _ALIAS_TO_FIELD, n=1, cutoff=0.85) if len(key) > 4 else []
    return _ALIAS_TO_FIELD[close[0]] if close else None


def guess_mapping(headers: list[str]) -> dict[str, int]:
    """field -> column index; the first column naming a field wins."""
    mapping: dict[str, int] = {}
    for index, heading in enumerate(headers):
        name = field_for(heading)
        if name and name not in mapping:
            mapping[name] = index
    return mapping


def column_label(headers: list[str], index: int) -> str:
    heading = headers[index].strip() if index < len(headers) else ""
    return f"{_column_letter(index)}: {heading}" if heading else f"Column {_column_letter(index)}"


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
