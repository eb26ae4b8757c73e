"""Roster files: read an uploaded .xlsx or .csv into plain text rows and guess which column is which field.

No database and no request here: the import page turns a Sheet into rows for the import operation
(blueprints/core/roster_import.py). The file formats themselves (and the .xlsx export) are
blueprints/core/roster_files.py. Every problem with the file itself is a ValidationError on "file",
worded for the person who made the spreadsheet.
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any

from blueprints.core.roster_files import MAX_COLUMNS, Grid, bad_file, column_letter, read_grid
from blueprints.core.validation import MAX_BULK

MAX_CELL = 256  # longer than any field allows, so a cut cell still fails validation exactly like the whole one
HEADER_SCAN = 10  # title rows above the headings are common; look this far down for them
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")  # what the CSV export quotes with a leading '

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


def read_roster(filename: str, data: bytes) -> Sheet:
    """Read a .xlsx or .csv upload into a Sheet; raise ValidationError("file") with a clear message."""
    name = (filename.rsplit("/", 1)[-1].rsplit("\\", 1)[-1] or "upload")[-100:]  # it ends up in a flash message
    extension = name.rsplit(".", 1)[-1].lower() if "." in name else ""
    if extension not in ("xlsx", "csv"):
        raise bad_file(f"“{name}” is not a roster file: upload an Excel workbook (.xlsx) or a CSV file (.csv).")
    if not data.strip():
        raise bad_file(f"“{name}” is empty.")
    return _sheet(name, read_grid(name, extension, data))


# --- from a grid of cells to a Sheet -------------------------------------------------------------


def _sheet(filename: str, grid: Grid) -> Sheet:
    cells = grid.cells
    header_at = _header_row(cells)
    if header_at is None:
        raise bad_file(f"“{filename}” has no rows.")
    _refuse_merged_heading(grid.merged, header_at)
    width = _width(cells)
    if width > MAX_COLUMNS:
        raise bad_file(f"The file has {width} columns; at most {MAX_COLUMNS} can be read.")
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
            raise bad_file(f"“{filename}” has more than {MAX_BULK:,} cadets; import at most {MAX_BULK:,} "
                            "at a time.")
    if not rows:
        raise bad_file(f"“{filename}” has a heading row but no cadets under it.")
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
            cells = f"{column_letter(c1)}{r1 + 1}:{column_letter(c2)}{r2 + 1}"
            raise bad_file(f"The heading row has merged cells ({cells}). Unmerge them so every column has its "
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
    return f"{column_letter(index)}: {heading}" if heading else f"Column {column_letter(index)}"
