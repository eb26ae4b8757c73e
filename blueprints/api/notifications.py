"""Your own notifications: list them, mark some or all read."""

from __future__ import annotations

from flask import Response

from blueprints.api import bp
from blueprints.api.responses import json_body, json_response, list_state, ok
from blueprints.core.auth import api_route
from blueprints.core.idempotency import idempotent
from blueprints.core.operations.notifications import read_request
from blueprints.core.reads.notifications import NOTIFICATION_SPEC, list_notifications
from models import ANYONE


@bp.get("/notifications")
@api_route(*ANYONE)
def notifications_list(actor) -> Response:
    return json_response(list_notifications(actor.id, list_state(NOTIFICATION_SPEC)))


@bp.post("/notifications/read")
@api_route(*ANYONE)
@idempotent
def notifications_read(actor) -> Response:
    """{"ids": [...]} marks those, {"all": true} every unread one."""
    return ok({"updated": read_request(actor, json_body())})
