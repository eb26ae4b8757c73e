"""Excuse letters: a cadet submits one (multipart, with the signed letter's photo or PDF); staff list,
approve or reject them; the file goes only to its cadet and to staff."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from functools import wraps
from typing import Any

from flask import Response, request

from blueprints.api import bp
from blueprints.api.responses import json_body, json_response, list_state, ok, read_back
from blueprints.core.auth import api_route
from blueprints.core.errors import UnsupportedMediaType
from blueprints.core.idempotency import idempotent
from blueprints.core.letter_files import MAX_FILE_BYTES, UPLOAD_LIMIT
from blueprints.core.operations.excuses import decide_excuse, submit_excuse
from blueprints.core.reads.excuses import EXCUSE_SPEC, check_can_see, get_excuse, get_excuse_file, list_excuses
from blueprints.core.security import file_response
from models import ANYONE, STAFF


@bp.get("/excuse-letters")
@api_route(*ANYONE)
def excuses_list(actor) -> Response:
    state = list_state(EXCUSE_SPEC)
    if not actor.is_staff:  # a cadet sees only their own letters, whatever filter was sent
        own = [(k, v) for k, v in state.filters if k != "cadet_id"] + [("cadet_id", actor.cadet_id or 0)]
        state = replace(state, filters=tuple(own))
    return json_response(list_excuses(state))


def _upload(view: Callable[..., Response]) -> Callable[..., Response]:
    """Raise the body cap to a letter's before anything (an Idempotency-Key's body hash) reads it."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Response:
        request.max_content_length = UPLOAD_LIMIT
        return view(*args, **kwargs)

    return wrapper


@bp.post("/excuse-letters")
@api_route(*ANYONE)
@_upload
@idempotent
def excuses_create(actor) -> Response:
    if request.mimetype != "multipart/form-data":
        raise UnsupportedMediaType("Send multipart/form-data with training_day_id, reason and file.",
                                   {"Content-Type": [f"is {request.mimetype or 'missing'}; "
                                                     "must be multipart/form-data"]})
    upload = request.files.get("file")
    content = upload.read(MAX_FILE_BYTES + 1) if upload is not None else None
    letter_id = submit_excuse(actor, request.form, upload.filename if upload else None, content)
    return ok(read_back(lambda: get_excuse(letter_id), {"id": letter_id}), 201)


@bp.get("/excuse-letters/<id:letter_id>")
@api_route(*ANYONE)
def excuses_get(actor, letter_id: int) -> Response:
    letter = get_excuse(letter_id)
    check_can_see(actor, letter)
    return ok(letter)


@bp.get("/excuse-letters/<id:letter_id>/file")
@api_route(*ANYONE)
def excuses_file(actor, letter_id: int) -> Response:
    """The file as uploaded (?view=1: the shrunk JPEG of a photo)."""
    return file_response(*get_excuse_file(actor, letter_id, original=request.args.get("view") != "1"))


@bp.post("/excuse-letters/<id:letter_id>/approve")
@api_route(*STAFF)
@idempotent
def excuses_approve(actor, letter_id: int) -> Response:
    decide_excuse(actor, letter_id, True, json_body())
    return ok(get_excuse(letter_id))


@bp.post("/excuse-letters/<id:letter_id>/reject")
@api_route(*STAFF)
@idempotent
def excuses_reject(actor, letter_id: int) -> Response:
    decide_excuse(actor, letter_id, False, json_body())
    return ok(get_excuse(letter_id))
