"""Cadets: the list with grade summaries, one cadet, create/edit, archive/restore, bulk and import."""

from __future__ import annotations

from flask import Response, url_for

from blueprints.api import bp
from blueprints.api.listcache import list_prefetch, list_response
from blueprints.api.responses import created, json_body, ok, read_back
from blueprints.core.auth import api_route
from blueprints.core.idempotency import idempotent
from blueprints.core.operations.cadets import (
    archive_cadets,
    create_cadet,
    import_cadets,
    restore_cadets,
    update_cadet,
)
from blueprints.core.reads.cadets import CADET_SPEC, CADETS_LIST, get_cadet, list_cadets
from models import ADMIN, STAFF


@bp.get("/cadets")
@api_route(*STAFF, prefetch=list_prefetch(CADETS_LIST, CADET_SPEC, list_cadets))
def cadets_list(actor) -> Response:
    return list_response(CADETS_LIST, CADET_SPEC, list_cadets)


@bp.post("/cadets")
@api_route(*ADMIN)
@idempotent
def cadets_create(actor) -> Response:
    cadet_id = create_cadet(actor, json_body())
    return created(read_back(lambda: get_cadet(cadet_id), {"id": cadet_id}),
                   url_for("api.cadets_get", cadet_id=cadet_id))


@bp.get("/cadets/<id:cadet_id>")
@api_route(*STAFF)
def cadets_get(actor, cadet_id: int) -> Response:
    return ok(get_cadet(cadet_id))


@bp.patch("/cadets/<id:cadet_id>")
@api_route(*ADMIN)
def cadets_update(actor, cadet_id: int) -> Response:
    body = json_body()
    update_cadet(actor, cadet_id, body)
    return ok(read_back(lambda: get_cadet(cadet_id), {"id": cadet_id}))


@bp.delete("/cadets/<id:cadet_id>")
@api_route(*ADMIN)
def cadets_archive(actor, cadet_id: int) -> Response:
    get_cadet(cadet_id)  # 404 before anything is written
    archive_cadets(actor, [cadet_id])
    return ok(read_back(lambda: get_cadet(cadet_id), {"id": cadet_id, "is_archived": True}))


@bp.post("/cadets/<id:cadet_id>/restore")
@api_route(*ADMIN)
@idempotent
def cadets_restore(actor, cadet_id: int) -> Response:
    get_cadet(cadet_id)
    restore_cadets(actor, [cadet_id])
    return ok(read_back(lambda: get_cadet(cadet_id), {"id": cadet_id, "is_archived": False}))


@bp.post("/cadets/bulk-archive")
@api_route(*ADMIN)
@idempotent
def cadets_bulk_archive(actor) -> Response:
    return ok({"changed": archive_cadets(actor, json_body().get("ids"))})


@bp.post("/cadets/bulk-restore")
@api_route(*ADMIN)
@idempotent
def cadets_bulk_restore(actor) -> Response:
    return ok({"changed": restore_cadets(actor, json_body().get("ids"))})


@bp.post("/cadets/import")
@api_route(*ADMIN)
@idempotent
def cadets_import(actor) -> Response:
    return ok({"created": import_cadets(actor, json_body().get("cadets")).created}, 201)
