"""Grades: the table, one cadet's breakdown, score updates guarded by version, bulk updates."""

from __future__ import annotations

import re
from typing import Any

from flask import Response, request

from blueprints.api import bp
from blueprints.api.listcache import list_prefetch, list_response
from blueprints.api.responses import json_body, ok, read_back
from blueprints.core.auth import api_route
from blueprints.core.errors import BadRequest
from blueprints.core.idempotency import idempotent
from blueprints.core.operations.grades import bulk_update_grades, update_grade
from blueprints.core.reads.grades import GRADE_SPEC, GRADES_LIST, get_grade_detail, list_grades
from models import ADMIN, STAFF

# The grade's ETag as any representation carries it: "v3" plain, "v3:gzip" after Flask-Compress
# suffixed the coding, W/"v3" after a proxy weakened it, or just v3 / 3. All name version 3.
_GRADE_ETAG = re.compile(r'(?:W/)?"?v?([1-9][0-9]{0,8})(?::[A-Za-z0-9-]+)?"?')  # 9 digits: always a valid id
IF_MATCH_PATTERN = "^(?:\\*|" + _GRADE_ETAG.pattern + ")?$"  # documented in /api/openapi.json


def etag(version: int) -> str:
    return f'"v{version}"'


def expected_version(body: dict[str, Any]) -> Any:
    """The version the client last read: If-Match (the ETag as received) or the body's `version`."""
    header = request.headers.get("If-Match", "").strip()
    if not header or header == "*":
        return body.get("version")
    match = _GRADE_ETAG.fullmatch(header)
    if match is None:
        raise BadRequest("If-Match must be the grade's ETag.", {"If-Match": ['must look like "v3"']})
    version = int(match.group(1))
    if body.get("version") is not None and str(body["version"]) != str(version):
        raise BadRequest("If-Match and version disagree.", {"version": ["differs from If-Match"]})
    return version


@bp.get("/grades")
@api_route(*STAFF, prefetch=list_prefetch(GRADES_LIST, GRADE_SPEC, list_grades))
def grades_list(actor) -> Response:
    return list_response(GRADES_LIST, GRADE_SPEC, list_grades)


@bp.get("/grades/<id:cadet_id>")
@api_route(*STAFF)
def grades_get(actor, cadet_id: int) -> Response:
    detail = get_grade_detail(cadet_id)
    return ok(detail, headers={"ETag": etag(detail["version"])})


@bp.patch("/grades/<id:cadet_id>")
@api_route(*ADMIN)
def grades_update(actor, cadet_id: int) -> Response:
    body = json_body()
    version = update_grade(actor, cadet_id, body, version=expected_version(body))
    detail = read_back(lambda: get_grade_detail(cadet_id), {"cadet_id": cadet_id, "version": version})
    return ok(detail, headers={"ETag": etag(detail["version"])})


@bp.post("/grades/bulk-update")
@api_route(*ADMIN)
@idempotent
def grades_bulk_update(actor) -> Response:
    items = json_body().get("items")
    return ok({"updated": bulk_update_grades(actor, items)})
