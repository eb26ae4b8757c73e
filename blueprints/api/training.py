"""Training days: list with attendance counts, one day, create, edit, delete."""

from __future__ import annotations

from flask import Response, url_for

from blueprints.api import bp
from blueprints.api.listcache import list_prefetch, list_response
from blueprints.api.responses import created, json_body, no_content, ok, read_back
from blueprints.core.auth import api_route
from blueprints.core.idempotency import idempotent
from blueprints.core.operations.training import create_training_day, delete_training_day, update_training_day
from blueprints.core.reads.training import TRAINING_DAY_SPEC, TRAINING_DAYS_LIST, get_training_day, list_training_days
from models import ADMIN, STAFF


@bp.get("/training-days")
@api_route(*STAFF, prefetch=list_prefetch(TRAINING_DAYS_LIST, TRAINING_DAY_SPEC, list_training_days))
def training_days_list(actor) -> Response:
    return list_response(TRAINING_DAYS_LIST, TRAINING_DAY_SPEC, list_training_days)


@bp.post("/training-days")
@api_route(*STAFF)
@idempotent
def training_days_create(actor) -> Response:
    day_id = create_training_day(actor, json_body())
    return created(read_back(lambda: get_training_day(day_id), {"id": day_id}),
                   url_for("api.training_days_get", day_id=day_id))


@bp.get("/training-days/<id:day_id>")
@api_route(*STAFF)
def training_days_get(actor, day_id: int) -> Response:
    return ok(get_training_day(day_id))


@bp.patch("/training-days/<id:day_id>")
@api_route(*STAFF)
def training_days_update(actor, day_id: int) -> Response:
    update_training_day(actor, day_id, json_body())
    return ok(read_back(lambda: get_training_day(day_id), {"id": day_id}))


@bp.delete("/training-days/<id:day_id>")
@api_route(*ADMIN)
def training_days_delete(actor, day_id: int) -> Response:
    delete_training_day(actor, day_id)
    return no_content()
