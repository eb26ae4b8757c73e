"""GET /api/openapi.json: an OpenAPI 3.1 description of every API route (kept true by tests)."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any

from flask import Response, current_app

from blueprints.api import bp
from blueprints.api.grades import IF_MATCH_PATTERN
from blueprints.api.responses import json_response
from blueprints.api.schemas import ID, REQUESTS, RESPONSES, STR, envelope, list_parameters, obj, ref, single
from blueprints.core.liststate import ListSpec
from blueprints.core.monitoring.report import MONITORING_ARGS
from blueprints.core.reads.attendance import ATTENDANCE_SPEC
from blueprints.core.reads.audit import AUDIT_SPEC
from blueprints.core.reads.cadets import CADET_SPEC
from blueprints.core.reads.grades import GRADE_SPEC
from blueprints.core.reads.merits import MERIT_SPEC
from blueprints.core.reads.training import TRAINING_DAY_SPEC
from blueprints.core.validation import MAX_BULK
from models import ADMIN, ANYONE, STAFF

_ERRORS = {400: "Malformed request", 401: "No valid token", 403: "Role not allowed", 404: "Not found",
           409: "Conflict: duplicate or stale version", 413: "Body too large",
           415: "Body not declared as application/json", 422: "Failed validation",
           429: "Rate limited / account locked"}


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    endpoint: str
    summary: str
    roles: tuple[str, ...] | None = STAFF  # None: no token needed
    body: str | None = None  # name of a request schema
    status: int = 200
    response: dict | None = None  # the success body schema; None for no body
    spec: ListSpec | None = None  # a list: query parameters from its ListSpec
    cached: bool = False  # served by the response cache: ETag, 304, gzip
    etag: bool = False
    query: tuple[str, ...] = ()  # free-form text query parameters
    loose: bool = False  # the dashboard's figures as JSON: payload loosely described, only auth errors listed


_DATA = obj({"data": {"type": "object"}})

OPERATIONS = (
    Op("get", "/cadets", "cadets_list", "List cadets with grade summaries", response=envelope("Cadet"),
       spec=CADET_SPEC, cached=True),
    Op("post", "/cadets", "cadets_create", "Create a cadet", roles=ADMIN, body="CadetInput", status=201,
       response=single("CadetDetail")),
    Op("get", "/cadets/{cadet_id}", "cadets_get", "One cadet with grades, merits, attendance",
       response=single("CadetDetail")),
    Op("patch", "/cadets/{cadet_id}", "cadets_update", "Change a cadet's profile", roles=ADMIN, body="CadetPatch",
       response=single("CadetDetail")),
    Op("delete", "/cadets/{cadet_id}", "cadets_archive", "Archive a cadet", roles=ADMIN,
       response=single("CadetDetail")),
    Op("post", "/cadets/{cadet_id}/restore", "cadets_restore", "Restore an archived cadet", roles=ADMIN,
       response=single("CadetDetail")),
    Op("post", "/cadets/bulk-archive", "cadets_bulk_archive", "Archive many cadets", roles=ADMIN, body="CadetIds",
       response=single("Changed")),
    Op("post", "/cadets/bulk-restore", "cadets_bulk_restore", "Restore many cadets", roles=ADMIN, body="CadetIds",
       response=single("Changed")),
    Op("post", "/cadets/import", "cadets_import", f"Import up to {MAX_BULK:,} cadets, all or nothing", roles=ADMIN,
       body="CadetImport", status=201, response=single("Created")),
    Op("get", "/grades", "grades_list", "The grades table", response=envelope("Cadet"), spec=GRADE_SPEC,
       cached=True),
    Op("get", "/grades/{cadet_id}", "grades_get", "One cadet's grade breakdown and merit logs",
       response=single("GradeDetail"), etag=True),
    Op("patch", "/grades/{cadet_id}", "grades_update", "Set scores/status; If-Match or version guards", roles=ADMIN,
       body="GradePatch", response=single("GradeDetail"), etag=True),
    Op("post", "/grades/bulk-update", "grades_bulk_update", "Many cadets' scores, all or nothing", roles=ADMIN,
       body="GradeBulk", response=single("Updated")),
    Op("get", "/merit-demerits", "merits_list", "The merit/demerit log", response=envelope("MeritLog"),
       spec=MERIT_SPEC),
    Op("post", "/merit-demerits", "merits_create", "Record a merit or demerit (issued by you)",
       body="MeritInput", status=201, response=single("MeritLog")),
    Op("delete", "/merit-demerits/{log_id}", "merits_delete", "Remove a merit/demerit entry", roles=ADMIN, status=204),
    Op("get", "/training-days", "training_days_list", "Training days with attendance counts",
       response=envelope("TrainingDay"), spec=TRAINING_DAY_SPEC, cached=True),
    Op("post", "/training-days", "training_days_create", "Add a training day", body="TrainingDayInput",
       status=201, response=single("TrainingDay")),
    Op("get", "/training-days/{day_id}", "training_days_get", "One training day",
       response=single("TrainingDay")),
    Op("patch", "/training-days/{day_id}", "training_days_update", "Change a training day",
       body="TrainingDayPatch", response=single("TrainingDay")),
    Op("delete", "/training-days/{day_id}", "training_days_delete", "Delete a day and its attendance", roles=ADMIN,
       status=204),
    Op("get", "/attendance", "attendance_list", "Attendance records", response=envelope("Attendance"),
       spec=ATTENDANCE_SPEC),
    Op("patch", "/attendance/{record_id}", "attendance_update", "Correct one record",
       body="AttendancePatch", response=single("Attendance")),
    Op("post", "/attendance/bulk", "attendance_bulk", "One status for many cadets on a day, all or nothing",
       body="AttendanceBulk", response=single("AttendanceCounts")),
    Op("post", "/attendance/check-in", "attendance_check_in",
       "Check a cadet in with a day's QR code token (staff name the cadet; a cadet checks in only themselves)",
       roles=ANYONE, body="CheckIn", response=single("CheckInResult")),
    Op("get", "/audit-logs", "audit_logs_list", "The audit log", roles=ADMIN, response=envelope("AuditLog"),
       spec=AUDIT_SPEC),
    Op("get", "/system-settings", "settings_get", "System settings", roles=ADMIN, response=single("Settings"),
       cached=True),
    Op("put", "/system-settings", "settings_update", "Change system settings", roles=ADMIN,
       body="SettingsInput", response=single("Settings")),
    Op("post", "/auth/token", "token_issue", "Issue a personal API token", roles=None, body="TokenRequest",
       status=201, response=single("Token")),
    Op("delete", "/auth/token", "token_revoke", "Revoke the token in use", roles=ANYONE, status=204),
    Op("get", "/me", "me", "Your account and, for cadets, your own record", roles=ANYONE,
       response=single("Me")),
    Op("get", "/openapi.json", "openapi_json", "This document", roles=None, response={"type": "object"}),
    Op("get", "/health", "health_check", "Database and Redis health (503 when the database is down)",
       roles=None, response=obj({"status": STR, "database": STR, "redis": STR})),
    Op("get", "/metrics", "metrics", "Per-endpoint request metrics", roles=ADMIN, response=_DATA,
       loose=True, query=("window", "sort", "direction")),
    Op("get", "/metrics/database", "database_metrics", "Database pool and table metrics", roles=ADMIN,
       response=_DATA, loose=True),
    Op("get", "/cache/stats", "cache_stats", "Cache hits and misses per domain", roles=ADMIN, response=_DATA,
       loose=True),
    Op("get", "/system/slow-queries", "slow_queries", "Slow queries in a time window", roles=ADMIN,
       response=_DATA, loose=True, query=("window",)),
    Op("post", "/system/slow-queries/reset", "reset_slow_queries", "Reset the slow-query statistics",
       roles=ADMIN, response=_DATA, loose=True),
)


def _json(schema: dict) -> dict:
    return {"application/json": {"schema": schema}}


def _idempotent(op: Op) -> bool:
    """Whether the view honours an Idempotency-Key (marked by blueprints.core.idempotency)."""
    return getattr(current_app.view_functions.get(f"api.{op.endpoint}"), "idempotent", False)


def _errors(op: Op) -> dict[int, Any]:
    if op.endpoint == "health_check":
        return {503: {"description": "Database unreachable", "content": _json(obj({"status": STR, "database": STR,
                                                                                   "redis": STR}))}}
    if op.loose:  # the monitoring endpoints: a bad or unknown query parameter is a 400 naming it
        return {c: {"description": _ERRORS[c], "content": _json(ref("Error"))} for c in (400, 401, 403)}
    codes = {400, 413, 415, 422} if op.body else {400}
    if op.roles is not None:
        codes |= {401} | ({403} if op.roles != ANYONE else set())
    if "{" in op.path or op.body:
        codes |= {404, 409}
    if op.endpoint == "token_issue":
        codes |= {401, 429}
    elif _idempotent(op):
        codes |= {422}  # an Idempotency-Key reused for another request
    if op.endpoint == "attendance_check_in":
        codes |= {403}  # open to every role, but a cadet may check in only themselves
    return {c: {"description": _ERRORS[c], "content": _json(ref("Error"))} for c in sorted(codes)}


def _operation(op: Op) -> dict[str, Any]:
    success: dict[str, Any] = {"description": "OK"}
    if op.response is not None:
        success["content"] = _json(op.response)
    if op.etag or op.cached:
        success["headers"] = {"ETag": {"schema": {"type": "string"}, "description": "Strong validator"}}
    out: dict[str, Any] = {"operationId": op.endpoint, "summary": op.summary, "x-roles": list(op.roles or ()),
                           "responses": {str(op.status): success}}
    out["responses"].update({str(c): r for c, r in _errors(op).items()})
    if op.cached:
        out["responses"]["304"] = {"description": "Not modified (If-None-Match matched the ETag)"}
    if op.roles is None:
        out["security"] = []
    params = [{"name": n, "in": "path", "required": True, "schema": ID}
              for n in _path_names(op.path)]
    if op.spec is not None:
        params += list_parameters(op.spec)
    params += [{"name": n, "in": "query", "required": False,
                "schema": {"type": "string", "enum": list(MONITORING_ARGS[n])}} for n in op.query]
    if op.etag and op.method == "patch":
        params.append({"name": "If-Match", "in": "header", "required": False,
                       "schema": {"type": "string", "pattern": IF_MATCH_PATTERN},
                       "description": ('The ETag from GET /api/grades/{cadet_id} as received, e.g. "v3" '
                                      'or, compressed, "v3:gzip"; a stale one is a 409.')})
    if _idempotent(op):
        params.append({"name": "Idempotency-Key", "in": "header", "required": False,
                       "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
                       "description": "Per user, 24 hours: a retry with the same key and body gets the first "
                                      "answer back (Idempotent-Replayed: true) and writes nothing."})
    if params:
        out["parameters"] = params
    if op.body:
        out["requestBody"] = {"required": True, "content": _json(ref(op.body))}
    return out


def _path_names(path: str) -> list[str]:
    return [part[1:-1] for part in path.split("/") if part.startswith("{")]


@cache
def document() -> dict[str, Any]:
    """The OpenAPI 3.1 document (built once per process)."""
    paths: dict[str, dict] = {}
    for op in OPERATIONS:
        paths.setdefault("/api" + op.path, {})[op.method] = _operation(op)
    return {
        "openapi": "3.1.0",
        "info": {"title": "Muster API", "version": "1.0.0",
                 "description": "Records of a ROTC unit for scripts. Send 'Authorization: Bearer <token>'."},
        "paths": paths,
        "components": {"schemas": {**REQUESTS, **RESPONSES},
                       "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "security": [{"bearer": []}],
    }


@bp.get("/openapi.json")
def openapi_json() -> Response:
    return json_response(document())

