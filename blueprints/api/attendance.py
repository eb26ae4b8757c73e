"""Attendance: list, correct one record, bulk-mark many cadets for a day (all or nothing), QR check-in."""

from __future__ import annotations

from flask import Response

from blueprints.api import bp
from blueprints.api.responses import json_body, json_response, list_state, ok, read_back
from blueprints.core.auth import api_route
from blueprints.core.idempotency import idempotent
from blueprints.core.operations.attendance import bulk_attendance, update_attendance
from blueprints.core.operations.checkin import check_in
from blueprints.core.reads.attendance import ATTENDANCE_SPEC, get_attendance, list_attendance
from models import ANYONE, STAFF


@bp.get("/attendance")
@api_route(*STAFF)
def attendance_list(actor) -> Response:
    return json_response(list_attendance(list_state(ATTENDANCE_SPEC)))


@bp.patch("/attendance/<id:record_id>")
@api_route(*STAFF)
def attendance_update(actor, record_id: int) -> Response:
    body = json_body()
    update_attendance(actor, record_id, body)
    return ok(read_back(lambda: get_attendance(record_id), {"id": record_id}))


@bp.post("/attendance/bulk")
@api_route(*STAFF)
@idempotent
def attendance_bulk(actor) -> Response:
    return ok(bulk_attendance(actor, json_body()))


@bp.post("/attendance/check-in")
@api_route(*ANYONE)
@idempotent
def attendance_check_in(actor) -> Response:
    """A kiosk or scanner script: staff send {token, student_id}; a cadet sends {token} for themselves."""
    return ok(check_in(actor, json_body()))
