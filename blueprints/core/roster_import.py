"""The roster import flow: upload -> preview -> commit, all or nothing, through import_cadets.

Between requests the parsed file travels in the review form itself, signed and compressed (several
processes serve the app, so nothing is kept in one process's memory). The preview runs the import
operation's own dry run, so the errors beside each row are exactly those the commit would raise.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from blueprints.core.errors import AppError, BadRequest, ValidationError
from blueprints.core.operations.cadets import ImportResult, import_cadets, preview_import
from blueprints.core.roster import FIELD_LABELS, REQUIRED, Sheet, column_label, read_roster
from models import CADET_STATUSES, User

SEAL_MAX_AGE = 2 * 3600  # seconds a preview stays valid
PAGE_MODES = ("skip", "update")
_SALT = "muster.roster-import"
_ROW_KEY = re.compile(r"^cadets\[(\d+)\]\.(\w+)$")
_DUPLICATE = re.compile(r"duplicates row (\d+)")
_COLUMN = re.compile(r"[0-9]{1,4}")
_STATUS_BY_FOLD = {s.casefold(): s for s in CADET_STATUSES}


# --- carrying the parsed file between requests ----------------------------------------------------


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.secret_key, salt=_SALT)  # compresses with zlib


def seal_sheet(sheet: Sheet, user_id: int) -> str:
    """The sheet as a signed, compressed string for a hidden field, bound to the uploading user."""
    return _serializer().dumps({"uid": user_id, "sheet": sheet.as_dict()})


def open_sheet(sealed: str, user_id: int) -> Sheet:
    """The sheet a review form carries; BadRequest if it was altered, is too old, or is someone else's."""
    try:
        data = _serializer().loads(sealed, max_age=SEAL_MAX_AGE)
    except SignatureExpired as exc:
        raise BadRequest("This preview is more than two hours old; upload the file again.") from exc
    except BadSignature as exc:
        raise BadRequest("The uploaded roster could not be verified; upload the file again.") from exc
    if data.get("uid") != user_id:
        raise BadRequest("This preview belongs to another user; upload the file again.")
    return Sheet.from_dict(data["sheet"])


def read_upload(upload: Any) -> Sheet:
    """The uploaded file (a werkzeug FileStorage or None) as a Sheet, or a ValidationError on "file"."""
    if upload is None or not upload.filename:
        raise ValidationError("Choose a file to upload.", {"file": ["choose a .xlsx or .csv file"]})
    return read_roster(upload.filename, upload.read())


# --- the admin's choice of columns --------------------------------------------------------------


def mapping_from_form(form: Mapping[str, str], width: int) -> dict[str, int]:
    """field -> column index from the review form's map-<field> selects (blank or bad: not imported)."""
    mapping = {}
    for name in FIELD_LABELS:
        raw = form.get(f"map-{name}", "")
        if _COLUMN.fullmatch(raw) and int(raw) < width:
            mapping[name] = int(raw)
    return mapping


def mapping_errors(mapping: dict[str, int], headers: list[str]) -> dict[str, list[str]]:
    """Required fields without a column, and columns chosen for two fields, keyed map-<field>."""
    errors = {f"map-{name}": ["choose the column that holds it"] for name in REQUIRED if name not in mapping}
    for name, column in mapping.items():
        others = [FIELD_LABELS[o] for o, c in mapping.items() if c == column and o != name]
        if others:
            errors[f"map-{name}"] = [f"{column_label(headers, column)} is also chosen for {', '.join(others)}"]
    return errors


def import_rows(sheet: Sheet, mapping: dict[str, int]) -> list[dict[str, str]]:
    """The rows as the import operation takes them: {field: cell text} for the chosen columns."""
    rows = []
    for cells in sheet.rows:
        row = {name: cells[column] for name, column in mapping.items()}
        if "status" in row:  # "ongoing" and "ONGOING" mean Ongoing
            row["status"] = _STATUS_BY_FOLD.get(row["status"].strip().casefold(), row["status"])
        rows.append(row)
    return rows


def cell_errors(sheet: Sheet, mapping: dict[str, int]) -> dict[str, list[str]]:
    """Problems the file itself has (a date, a formula without result) in the chosen columns."""
    fields_by_column: dict[int, list[str]] = {}
    for name, column in mapping.items():
        fields_by_column.setdefault(column, []).append(name)
    errors = {}
    for key, message in sheet.flags.items():
        row, column = map(int, key.split(":"))
        for name in fields_by_column.get(column, []):
            errors[f"cadets[{row}].{name}"] = [message]
    return errors


# --- preview and commit -------------------------------------------------------------------------


@dataclass
class PreviewRow:
    number: int  # the row's number in the spreadsheet
    values: dict[str, str]
    exists: bool = False
    errors: dict[str, list[str]] = field(default_factory=dict)
    cells: list[str] = field(default_factory=list)  # the values in the preview's column order


@dataclass
class Preview:
    """Everything the review page draws; computed here so the template only draws it."""

    sheet: Sheet
    mapping: dict[str, int]
    on_existing: str
    rows: list[PreviewRow]
    map_errors: dict[str, list[str]]
    message: str | None = None

    @property
    def fields(self) -> list[tuple[str, str]]:
        """(field, label) of the chosen columns, in the cadet form's order."""
        return [(name, label) for name, label in FIELD_LABELS.items() if name in self.mapping]

    @property
    def column_choices(self) -> list[tuple[str, str]]:
        return [(str(i), column_label(self.sheet.headers, i)) for i in range(len(self.sheet.headers))]

    @property
    def ignored_columns(self) -> list[str]:
        used = set(self.mapping.values())
        return [column_label(self.sheet.headers, i) for i in range(len(self.sheet.headers)) if i not in used]

    @property
    def problem_rows(self) -> list[PreviewRow]:
        return [row for row in self.rows if row.errors]

    @property
    def existing(self) -> int:
        return sum(row.exists for row in self.rows)

    @property
    def new(self) -> int:
        return len(self.rows) - self.existing

    @property
    def can_import(self) -> bool:
        return not self.map_errors and not self.problem_rows


def preview_roster(sheet: Sheet, mapping: dict[str, int], on_existing: str = "skip",
                   error: AppError | None = None) -> Preview:
    """Every row with the errors the import would raise beside it, and which student ids exist."""
    map_errors = mapping_errors(mapping, sheet.headers)
    rows = import_rows(sheet, mapping)
    preview_rows = [PreviewRow(number, values) for number, values in zip(sheet.row_numbers, rows, strict=True)]
    if not map_errors:
        errors, existing = preview_import(rows)
        _attach_errors(preview_rows, errors | cell_errors(sheet, mapping))
        for row in preview_rows:
            row.exists = row.values.get("student_id", "").strip() in existing
    shown = [name for name in FIELD_LABELS if name in mapping]
    for row in preview_rows:
        row.cells = [row.values[name] for name in shown]
    message = error.message if error else None
    return Preview(sheet, mapping, on_existing if on_existing in PAGE_MODES else "skip", preview_rows,
                   map_errors, message)


def _attach_errors(rows: list[PreviewRow], errors: dict[str, list[str]]) -> None:
    for key, messages in errors.items():
        match = _ROW_KEY.match(key)
        if match and int(match.group(1)) < len(rows):
            # The operation counts rows from 0 in the list it was given; people count spreadsheet rows.
            rows[int(match.group(1))].errors[match.group(2)] = [_DUPLICATE.sub(
                lambda found: f"duplicates row {rows[int(found.group(1))].number}", text) for text in messages]


def commit_roster(actor: User, sheet: Sheet, mapping: dict[str, int], on_existing: str) -> ImportResult:
    """Import every row or none through import_cadets (its validation, audit row and cache clearing)."""
    if on_existing not in PAGE_MODES:
        raise ValidationError("Choose skip or update for existing student IDs.",
                              {"on_existing": ["choose skip or update"]})
    problems = mapping_errors(mapping, sheet.headers) | cell_errors(sheet, mapping)
    if problems:
        raise ValidationError("Fix the problems shown below; nothing was imported.", problems)
    return import_cadets(actor, import_rows(sheet, mapping), on_existing)


def import_summary(filename: str, result: ImportResult) -> str:
    parts = [f"{result.created:,} added"]
    if result.updated or result.unchanged:
        parts.append(f"{result.updated:,} updated, {result.unchanged:,} already up to date")
    if result.skipped:
        parts.append(f"{result.skipped:,} skipped (already in Muster)")
    return f"Imported {filename}: {', '.join(parts)}."
