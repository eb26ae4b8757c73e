"""Merit and demerit logs: list, record (issued by the token's user), delete."""

from __future__ import annotations

from flask import Response

from blueprints.api import bp
from blueprints.api.responses import json_body, json_response, list_state, no_content, ok, read_back
from blueprints.core.auth import api_route
from blueprints.core.idempotency import idempotent
from blueprints.core.operations.merits import delete_merit, record_merit
from blueprints.core.reads.merits import MERIT_SPEC, get_merit, list_merits
from models import ADMIN, STAFF


@bp.get("/merit-demerits")
@api_route(*STAFF)
def merits_list(actor) -> Response:
    return json_response(list_merits(list_state(MERIT_SPEC)))


@bp.post("/merit-demerits")
@api_route(*STAFF)
@idempotent
def merits_create(actor) -> Response:
    log_id = record_merit(actor, json_body())
    return ok(read_back(lambda: get_merit(log_id), {"id": log_id}), 201)


@bp.delete("/merit-demerits/<id:log_id>")
@api_route(*ADMIN)
def merits_delete(actor, log_id: int) -> Response:
    delete_merit(actor, log_id)
    return no_content()
