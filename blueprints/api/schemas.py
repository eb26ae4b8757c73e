"""JSON Schemas (2020-12, as OpenAPI 3.1 uses) of the API's bodies, derived where possible from the
same Field and ListSpec definitions that validate the input, so the document cannot drift from them."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from blueprints.core.liststate import MAX_PAGE, MAX_PER_PAGE, ListSpec
from blueprints.core.operations.attendance import BULK_FIELDS, RECORD_FIELDS
from blueprints.core.operations.cadets import CADET_FIELDS
from blueprints.core.operations.checkin import CHECK_IN_FIELDS
from blueprints.core.operations.excuses import DECISION_FIELDS, EXCUSE_FIELDS
from blueprints.core.operations.grades import GRADE_FIELDS
from blueprints.core.operations.merits import MERIT_FIELDS
from blueprints.core.operations.settings import SETTING_FIELDS
from blueprints.core.operations.training import TRAINING_DAY_FIELDS
from blueprints.core.validation import EMAIL_PATTERN, MAX_BULK, MAX_ID, Field
from models import (
    ATTENDANCE_STATUSES,
    AUDIT_OPERATIONS,
    CADET_STATUSES,
    DEFAULT_PAGE_SIZE,
    EXCUSE_STATUSES,
    GRADE_STATUSES,
    MERIT_TYPES,
    ROLES,
)

Schema = dict[str, Any]
ID: Schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
INT: Schema = {"type": "integer"}
NUM: Schema = {"type": "number"}
STR: Schema = {"type": "string"}
BOOL: Schema = {"type": "boolean"}
TIME: Schema = {"type": "string", "format": "date-time"}
DATE: Schema = {"type": "string", "format": "date"}
# Input dates: YYYY-MM-DD in 1900..9000 (validation.parse_date), for bodies and filters alike.
DATE_INPUT: Schema = {**DATE, "pattern": r"^(19[0-9]{2}|[2-8][0-9]{3}|9000)-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"}
# Text input is stripped of the whitespace str.strip() removes, and what is left may not hold control
# characters (validation.Field._str, liststate); a required text must leave something. Escapes that
# every regex dialect involved reads alike (ECMA for the document, Python, Rust in the tests).
_WS = r"\t\n\x0b\x0c\r\x1c-\x1f \x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_STRIPPED = rf"[^{_WS}\x00-\x1f](?:[^\x00-\x1f]*[^{_WS}\x00-\x1f])?"
TEXT_PATTERN = rf"^[{_WS}]*(?:{_STRIPPED})?[{_WS}]*$"
NON_BLANK_PATTERN = rf"^[{_WS}]*{_STRIPPED}[{_WS}]*$"


def null(schema: Schema) -> Schema:
    return {"anyOf": [schema, {"type": "null"}]}


def ref(name: str) -> Schema:
    return {"$ref": f"#/components/schemas/{name}"}


def obj(properties: dict[str, Schema], required: tuple[str, ...] | None = None, **extra: Any) -> Schema:
    """An object; by default every property is required (responses always carry every key)."""
    keys = list(properties) if required is None else list(required)
    return {"type": "object", "properties": properties, "required": keys, **extra}


# --- request bodies, from the validation Fields ---------------------------------------------------

def field_schema(f: Field, nullable: bool = True) -> Schema:
    if f.kind in ("int", "float"):
        schema: Schema = {"type": "integer" if f.kind == "int" else "number"}
        schema |= {k: v for k, v in (("minimum", f.min), ("maximum", f.max)) if v is not None}
    elif f.kind == "choice":
        schema = {"type": "string", "enum": list(f.choices)}
    elif f.kind == "bool":
        schema = BOOL
    elif f.kind == "date":
        schema = DATE_INPUT
    else:
        schema = _text_schema(f)
    return schema if f.required or not nullable else null(schema)


def _text_schema(f: Field) -> Schema:
    """Text and email; an optional one may also be "" (validation reads it as not set)."""
    schema: Schema = {"type": "string", "minLength": 1 if f.required else 0, "maxLength": f.max_len}
    if f.kind == "email":
        schema["format"] = "email"
        schema["pattern"] = EMAIL_PATTERN  # what validation accepts: "format" alone allows user@localhost
        return schema if f.required else {"anyOf": [schema, {"const": ""}]}
    if f.pattern:
        schema["pattern"] = f"^(?:{f.pattern})$" if f.required else f"^(?:{f.pattern})?$"
    else:
        schema["pattern"] = NON_BLANK_PATTERN if f.required else TEXT_PATTERN
    return schema


def one_of_required(names: list[str]) -> Schema:
    """At least one of these keys: an update that names no field has nothing to change (422)."""
    return {"anyOf": [{"required": [name]} for name in names]}


def fields_schema(fields: list[Field], *, partial: bool = False, not_null: tuple[str, ...] = (),
                  **extra: Any) -> Schema:
    """An input object: required fields unless partial; optional ones may be null (= not set or
    cleared), except those in not_null (NOT NULL columns)."""
    required = () if partial else tuple(f.name for f in fields if f.required)
    return obj({f.name: field_schema(f, f.name not in not_null) for f in fields}, required, **extra)


def _id_list(max_items: int) -> Schema:
    return {"type": "array", "items": ID, "minItems": 1, "maxItems": max_items}


NOT_NULL = ("status",)
VERSION = Field("version", "int", min=1, max=MAX_ID)
GRADE_NAMES = [f.name for f in GRADE_FIELDS]
GRADE_ITEM = fields_schema([Field("cadet_id", "int", required=True, min=1, max=MAX_ID), *GRADE_FIELDS, VERSION],
                           not_null=NOT_NULL, **one_of_required(GRADE_NAMES))
REQUESTS: dict[str, Schema] = {
    "CadetInput": fields_schema(CADET_FIELDS, not_null=NOT_NULL),
    "CadetPatch": fields_schema(CADET_FIELDS, partial=True, not_null=NOT_NULL),
    "CadetIds": obj({"ids": _id_list(MAX_BULK)}),
    "CadetImport": obj({"cadets": {"type": "array", "items": ref("CadetInput"), "minItems": 1,
                                   "maxItems": MAX_BULK}}),
    "GradePatch": fields_schema([*GRADE_FIELDS, VERSION], partial=True, not_null=NOT_NULL,
                                **one_of_required(GRADE_NAMES)),
    "GradeBulk": obj({"items": {"type": "array", "items": GRADE_ITEM, "minItems": 1, "maxItems": MAX_BULK}}),
    "MeritInput": fields_schema(MERIT_FIELDS),
    "TrainingDayInput": fields_schema(TRAINING_DAY_FIELDS),
    "TrainingDayPatch": fields_schema(TRAINING_DAY_FIELDS, partial=True),
    "AttendancePatch": fields_schema(RECORD_FIELDS, partial=True, not_null=NOT_NULL,
                                     **one_of_required([f.name for f in RECORD_FIELDS])),
    "AttendanceBulk": obj({**fields_schema(BULK_FIELDS)["properties"], "cadet_ids": _id_list(MAX_BULK)},
                          ("training_day_id", "status", "cadet_ids")),
    "CheckIn": fields_schema(CHECK_IN_FIELDS),
    "ExcuseInput": obj({**fields_schema(EXCUSE_FIELDS)["properties"],
                        "file": {"type": "string", "format": "binary",
                                 "description": "JPEG, PNG, WebP, HEIC or PDF, checked by content; at most 5 MB"}},
                       ("training_day_id", "reason", "file")),
    "ExcuseApprove": fields_schema(DECISION_FIELDS),
    "ExcuseReject": fields_schema([replace(f, required=True) for f in DECISION_FIELDS]),
    "NotificationsRead": {"anyOf": [obj({"ids": _id_list(MAX_BULK)}),
                                    obj({"all": {"const": True}})]},
    "SettingsInput": fields_schema(SETTING_FIELDS, partial=True, additionalProperties=False),
    "TokenRequest": obj({"username": {"type": "string", "minLength": 1, "maxLength": 80, "pattern": NON_BLANK_PATTERN},
                         "password": {"type": "string", "minLength": 1, "maxLength": 1000},
                         "name": null({"type": "string", "maxLength": 100, "pattern": TEXT_PATTERN})},
                        ("username", "password")),
}


# --- responses -------------------------------------------------------------------------------------

GRADE_SUMMARY = {
    "attendance_present": INT, "merit_points": INT, "demerit_points": INT, "lifetime_merit_points": INT,
    "prelim_score": null(NUM), "midterm_score": null(NUM), "final_score": null(NUM),
    "status": {"type": "string", "enum": list(GRADE_STATUSES)}, "version": INT,
    "attendance_score": NUM, "aptitude_score": NUM, "subject_score": NUM, "final_grade": NUM,
    "transmuted_grade": null(NUM), "remarks": STR, "updated_at": TIME, "badge": null(STR),
}
CADET = {
    "id": ID, "student_id": STR, "first_name": STR, "last_name": STR, "middle_name": null(STR),
    "suffix": null(STR), "company": null(STR), "platoon": null(STR), "course": null(STR),
    "year_level": null(INT), "status": {"type": "string", "enum": list(CADET_STATUSES)},
    "email": null(STR), "contact_number": null(STR), "is_archived": BOOL, "created_at": TIME,
    "updated_at": TIME, "full_name": STR, "grades": ref("GradeSummary"),
}
MERIT_ENTRY = {"id": ID, "type": {"type": "string", "enum": list(MERIT_TYPES)}, "points": INT, "reason": STR,
               "issued_by_name": STR, "date_recorded": TIME}
# One entry per held training day; id and status are null where the cadet has no record for it.
CADET_ATTENDANCE = {"id": null(ID), "status": null({"type": "string", "enum": list(ATTENDANCE_STATUSES)}),
                    "remarks": null(STR), "time_in": null(TIME), "training_day_id": ID, "date": DATE, "title": STR}
DETAIL_EXTRA = {"merit_logs": {"type": "array", "items": ref("MeritEntry")}, "training_days_total": INT}

RESPONSES: dict[str, Schema] = {
    "Error": obj({"error": {"const": True}, "code": STR, "message": STR,
                  "details": {"type": "object", "additionalProperties": {"type": "array", "items": STR}}}),
    "GradeSummary": obj(GRADE_SUMMARY),
    "Cadet": obj(CADET),
    "CadetDetail": obj({**CADET, **DETAIL_EXTRA,
                        "attendance": {"type": "array", "items": obj(CADET_ATTENDANCE)}}),
    "GradeDetail": obj({"cadet_id": ID, "student_id": STR, "full_name": STR, **GRADE_SUMMARY, **DETAIL_EXTRA}),
    "MeritEntry": obj(MERIT_ENTRY),
    "MeritLog": obj({**MERIT_ENTRY, "cadet_id": ID, "issued_by_user_id": null(INT), "student_id": STR,
                     "first_name": STR, "last_name": STR}),
    "TrainingDay": obj({"id": ID, "date": DATE, "title": STR, "description": null(STR), "location": null(STR),
                        "created_at": TIME, **{f"{s}_count": INT for s in ATTENDANCE_STATUSES}}),
    "Attendance": obj({"id": ID, "training_day_id": ID, "cadet_id": ID,
                       "status": {"type": "string", "enum": list(ATTENDANCE_STATUSES)},
                       "time_in": null(TIME), "time_out": null(TIME), "remarks": null(STR), "created_at": TIME,
                       "training_date": DATE, "training_title": STR, "student_id": STR, "first_name": STR,
                       "last_name": STR, "company": null(STR), "platoon": null(STR)}),
    "AuditLog": obj({"id": ID, "table_name": STR, "operation": {"type": "string", "enum": list(AUDIT_OPERATIONS)},
                     "record_id": null(INT), "user_id": null(INT), "payload": {"type": "object"},
                     "created_at": TIME, "username": null(STR)}),
    "Settings": obj({f.name: STR for f in SETTING_FIELDS}, additionalProperties=STR),
    "User": obj({"id": ID, "username": STR, "email": STR, "role": {"type": "string", "enum": list(ROLES)},
                 "is_active": BOOL, "cadet_id": null(ID), "created_at": TIME, "locked_until": null(TIME)}),
    "Me": obj({"user": ref("User"), "cadet": null(ref("CadetDetail"))}),
    "Token": obj({"token": STR, "prefix": STR, "user": ref("User")}),
    "Changed": obj({"changed": INT}),
    "Created": obj({"created": INT}),
    "Updated": obj({"updated": INT}),
    "AttendanceCounts": obj({"created": INT, "updated": INT, "skipped": INT}),
    "ExcuseLetter": obj({"id": ID, "cadet_id": ID, "training_day_id": ID, "reason": STR,
                         "status": {"type": "string", "enum": list(EXCUSE_STATUSES)}, "file_name": STR,
                         "content_type": STR, "file_size": INT, "created_at": TIME, "decided_by_name": null(STR),
                         "decided_at": null(TIME), "decision_note": null(STR), "training_date": DATE,
                         "training_title": STR, "student_id": STR, "first_name": STR, "last_name": STR,
                         "company": null(STR), "platoon": null(STR)},
                        ("id", "cadet_id", "training_day_id", "reason", "status", "file_name", "content_type",
                         "file_size", "created_at", "training_date", "training_title", "student_id")),
    "Notification": obj({"id": ID, "kind": STR, "message": STR, "link": null(STR), "created_at": TIME,
                         "read_at": null(TIME)}),
    "CheckInResult": obj({"training_day_id": ID, "cadet_id": ID, "student_id": STR, "record_id": ID,
                          "status": {"type": "string", "enum": list(ATTENDANCE_STATUSES)}, "time_in": null(TIME),
                          "already_checked_in": BOOL}),
}


def single(name: str) -> Schema:
    return obj({"data": ref(name)})


def envelope(name: str) -> Schema:
    """The list envelope; next_after only with ?after= (an id in the id walk, a cursor with a sort) and
    prev_before only with a cursor; total_is_estimate only for estimated totals."""
    return obj({"data": {"type": "array", "items": ref(name)}, "page": {"type": "integer", "minimum": 1},
                "limit": {"type": "integer", "minimum": 1, "maximum": MAX_PER_PAGE},
                "total": {"type": "integer", "minimum": 0},
                "next_after": {"anyOf": [ID, CURSOR, {"type": "null"}]}, "prev_before": null(CURSOR),
                "total_is_estimate": BOOL}, ("data", "page", "limit", "total"))


CURSOR: Schema = {"type": "string", "pattern": "^[A-Za-z0-9_.-]+$", "maxLength": 1000}


# --- query parameters, from the ListSpec -----------------------------------------------------------

_TEXT_QUERY: Schema = {"type": "string", "maxLength": 100, "pattern": TEXT_PATTERN}
_FILTER_SCHEMAS = {"text": _TEXT_QUERY, "int": {"type": "integer", "minimum": -MAX_ID, "maximum": MAX_ID},
                   "bool": BOOL, "date": DATE_INPUT}


def list_parameters(spec: ListSpec) -> list[Schema]:
    sorts = sorted(spec.sorts)
    params = [
        ("page", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE}, "Page number, from 1."),
        ("limit", {"type": "integer", "minimum": 1, "maximum": MAX_PAGE, "default": DEFAULT_PAGE_SIZE},
         f"Rows per page; above {MAX_PER_PAGE} is clamped to {MAX_PER_PAGE}."),
        ("sort", {"type": "string", "enum": sorts + [f"-{s}" for s in sorts]},
         f"Sort key, '-' for descending; default {spec.default_sort}."),
        ("after", {"type": "integer", "minimum": 0, "maximum": MAX_ID},
         "Keyset cursor. Without sort: rows with id above this (0 to start), in id order. With sort: 0 "
         "starts a walk in that order, N continues after the row with id N; then pass next_after (an "
         "opaque signed cursor string, valid for the same sort and filters; a forged one is a 400) until "
         "it is null; before=<prev_before> walks back. page does not apply. A deep page costs what page 1 "
         "costs."),
    ]
    if spec.search is not None:
        params.append(("search", _TEXT_QUERY, "Case-insensitive text search."))
    for name, flt in spec.filters.items():
        schema = {"type": "string", "enum": list(flt.choices)} if flt.kind == "choice" else _FILTER_SCHEMAS[flt.kind]
        params.append((name, schema, f"Filter: {flt.label or name}."))
    return [{"name": n, "in": "query", "required": False, "schema": s, "description": d} for n, s, d in params]
