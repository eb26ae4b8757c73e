"""JSON in and out: orjson bodies, the request body, strict list state from the query string."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any

import orjson
from flask import Response, request
from sqlalchemy.exc import DBAPIError

from blueprints.core.errors import BadRequest, UnsupportedMediaType, ValidationError
from blueprints.core.json_encoder import dumps
from blueprints.core.liststate import ListSpec, ListState
from blueprints.core.operations import in_request_transaction
from models import db

log = logging.getLogger(__name__)

def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(payload), status=status, headers=headers, mimetype="application/json")


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A single object: {"data": {...}}."""
    return json_response({"data": data}, status, headers)


def created(data: Any, location: str) -> Response:
    return ok(data, 201, {"Location": location})


def read_back(read: Callable[[], dict[str, Any]], known: dict[str, Any]) -> dict[str, Any]:
    """The record a committed write just stored, or, if the database fails now, what is known of it.

    The write is committed: answering 503 would tell the client to retry, and the retry would
    write it twice. Inside request_transaction() nothing is committed yet, so a failure there
    propagates and the whole request rolls back (a 503 is then the truth).
    """
    try:
        return read()
    except DBAPIError:
        if in_request_transaction():
            raise
        log.warning("read-back failed after commit; answering with what the write returned", exc_info=True)
        db.session.rollback()
        return known


def no_content() -> Response:
    return Response(status=204)


def json_body() -> dict[str, Any]:
    """The request body as a JSON object. Missing or malformed is 400, not declared as JSON 415,
    not an object 422."""
    if request.content_length and not request.is_json:
        # text/plain, a form, none: a cross-site form post must never be read as JSON
        raise UnsupportedMediaType(details={"Content-Type": [f"is {request.mimetype or 'missing'}; "
                                                             "must be application/json"]})
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: werkzeug answers 413
    if not raw.strip():
        # Every operation that reads a body documents it as required; {} is how to send nothing.
        raise BadRequest("Send a JSON object as the body.", {"body": ["is required"]})
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("The body is not valid JSON.", {"body": [str(exc)[:200]]}) from exc
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.", {"body": ["must be an object"]})
    return _whole_numbers(data)


def _whole_numbers(value: Any) -> Any:
    """2.0 becomes 2: JSON has one number type, and the schema's "integer" includes 2.0."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {k: _whole_numbers(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_whole_numbers(v) for v in value]
    return value


def list_state(spec: ListSpec) -> ListState:
    """Parse page, limit, sort, search and filters strictly: any bad parameter is a 400 naming it.

    With `after` (the keyset cursor) the walk is always in id order, whatever `sort` says: any other
    order would skip or repeat rows between calls."""
    return environ_list_state(request.environ, spec, request.args)


_LIST_STATE = "muster.list_state"  # WSGI environ key: (spec, state) of the request, parsed once


def environ_list_state(environ: dict, spec: ListSpec, args: Mapping[str, str]) -> ListState:
    """The request's list state, parsed once (by the WSGI fast path, the view's prefetch or the view,
    whichever comes first); a bad parameter raises each time, as it is not kept."""
    kept = environ.get(_LIST_STATE)
    if kept is not None and kept[0] is spec:
        return kept[1]
    state = ListState.from_args(args, spec, strict=True, size_param="limit")
    environ[_LIST_STATE] = (spec, state)
    return state
