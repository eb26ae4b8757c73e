"""Cadets: the list with grade summaries, one cadet, create/edit, archive/restore, bulk and import."""

from __future__ import annotations

from flask import Response, url_for

from blueprints.api import bp
from blueprints.api.listcache import cached_response
from blueprints.api.responses import created, json_body, list_state, ok
from blueprints.core.auth import ADMIN, STAFF, api_route
from blueprints.core.operations.cadets import (
    archive_cadets,
    create_cadet,
    import_cadets,
    restore_cadets,
    update_cadet,
)
from blueprints.core.reads.cadets import CADET_SPEC, get_cadet, list_cadets


@bp.get("/cadets")
@api_route(*STAFF)
def cadets_list(actor) -> Response:
    state = list_state(CADET_SPEC)
    return cached_response("cadets", ("cadets", "grades"), state.cache_args(), lambda: list_cadets(state))


@bp.post("/cadets")
@api_route(*ADMIN)
def cadets_create(actor) -> Response:
    cadet_id = create_cadet(actor, json_body())
    return created(get_cadet(cadet_id), url_for("api.cadets_get", cadet_id=cadet_id))


@bp.get("/cadets/<id:cadet_id>")
@api_route(*STAFF)
def cadets_get(actor, cadet_id: int) -> Response:
    return ok(get_cadet(cadet_id))


@bp.patch("/cadets/<id:cadet_id>")
@api_route(*ADMIN)
def cadets_update(actor, cadet_id: int) -> Response:
    body = json_body()
    update_cadet(actor, cadet_id, body)
    return ok(get_cadet(cadet_id))


@bp.delete("/cadets/<id:cadet_id>")
@api_route(*ADMIN)
def cadets_archive(actor, cadet_id: int) -> Response:
    get_cadet(cadet_id)  # 404 before anything is written
    archive_cadets(actor, [cadet_id])
    return ok(get_cadet(cadet_id))


@bp.post("/cadets/<id:cadet_id>/restore")
@api_route(*ADMIN)
def cadets_restore(actor, cadet_id: int) -> Response:
    get_cadet(cadet_id)
    restore_cadets(actor, [cadet_id])
    return ok(get_cadet(cadet_id))


@bp.post("/cadets/bulk-archive")
@api_route(*ADMIN)
def cadets_bulk_archive(actor) -> Response:
    return ok({"changed": archive_cadets(actor, json_body().get("ids"))})


@bp.post("/cadets/bulk-restore")
@api_route(*ADMIN)
def cadets_bulk_restore(actor) -> Response:
    return ok({"changed": restore_cadets(actor, json_body().get("ids"))})


@bp.post("/cadets/import")
@api_route(*ADMIN)
def cadets_import(actor) -> Response:
    return ok({"created": import_cadets(actor, json_body().get("cadets")).created}, 201)
