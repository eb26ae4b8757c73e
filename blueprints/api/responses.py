"""JSON in and out: orjson bodies, the request body, strict list state from the query string."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

import orjson
from flask import Response, request

from blueprints.core.errors import BadRequest, ValidationError
from blueprints.core.liststate import ListSpec, ListState

# Datetimes are stored as UTC; a naive one (never expected) is still written with its offset.
_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):  # PostgreSQL SUM() of integers
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(payload: Any) -> bytes:
    """Serialise to JSON bytes: ISO 8601 times with offset, numbers as numbers."""
    return orjson.dumps(payload, default=_default, option=_OPTIONS)


def json_response(payload: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(dumps(payload), status=status, headers=headers, mimetype="application/json")


def ok(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """A single object: {"data": {...}}."""
    return json_response({"data": data}, status, headers)


def created(data: Any, location: str) -> Response:
    return ok(data, 201, {"Location": location})


def no_content() -> Response:
    return Response(status=204)


def json_body() -> dict[str, Any]:
    """The request body as a JSON object; an empty body is {}. Malformed is 400, not an object 422."""
    raw = request.get_data(cache=True)  # over MAX_CONTENT_LENGTH: werkzeug answers 413
    if not raw.strip():
        return {}
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise BadRequest("The body is not valid JSON.", {"body": [str(exc)[:200]]}) from exc
    if not isinstance(data, dict):
        raise ValidationError("The body must be a JSON object.", {"body": ["must be an object"]})
    out_of_range = _ids_out_of_range(data)
    if out_of_range:
        raise ValidationError("Some fields are invalid.", {k: ["is out of range"] for k in out_of_range})
    return data


# Integer fields that reach INTEGER columns. Their Fields allow up to 2**31 (or have no bound), one
# past what PostgreSQL's INTEGER holds, so such a value would fail in the database as a 500.
_INT_KEYS = frozenset({"ids", "cadet_ids", "cadet_id", "training_day_id", "version", "year_level", "points"})
_INT4 = (-(2**31), 2**31 - 1)


def _int_outside_int4(value: Any) -> bool:
    if isinstance(value, str) and re.fullmatch(r"\s*-?\d{1,400}\s*", value):
        value = int(value)
    elif isinstance(value, float) and value.is_integer():
        value = int(value)
    return isinstance(value, int) and not isinstance(value, bool) and not _INT4[0] <= value <= _INT4[1]


def _ids_out_of_range(data: dict[str, Any]) -> list[str]:
    """Names of integer fields, at any depth, holding a number outside PostgreSQL's INTEGER."""
    bad: list[str] = []
    stack: list[Any] = [data]  # iterative: a deeply nested body must not exhaust the recursion limit
    while stack:
        node = stack.pop()
        items = node.items() if isinstance(node, dict) else enumerate(node)
        for key, value in items:
            if key in _INT_KEYS and any(map(_int_outside_int4, value if isinstance(value, list) else [value])):
                bad.append(str(key))
            if isinstance(value, dict | list):
                stack.append(value)
    return sorted(set(bad))


def reject_nulls(data: Any, names: tuple[str, ...], where: str = "") -> None:
    """422 for an explicit null in fields whose column is NOT NULL but whose Field takes null as
    "not given" (grade, attendance and cadet `status`): the operation would write NULL and fail."""
    if isinstance(data, dict):
        bad = {f"{where}{name}": ["must not be null"] for name in names if name in data and data[name] is None}
        if bad:
            raise ValidationError("Some fields are invalid.", bad)


def list_state(spec: ListSpec) -> ListState:
    """Parse page, limit, sort, search and filters strictly: any bad parameter is a 400 naming it."""
    for name, value in request.args.items(multi=True):
        # NUL and other control characters cannot be sent to PostgreSQL as text.
        if any(ord(c) < 32 for c in value):
            raise BadRequest("Invalid query parameters.", {name: ["must not contain control characters"]})
        flt = spec.filters.get(name)
        if flt is not None and flt.kind == "int" and _int_outside_int4(value):
            raise BadRequest("Invalid query parameters.", {name: ["is out of range"]})
        if flt is not None and flt.kind == "date" and value.strip()[:4] in ("0000", "0001", "9999"):
            # The audit filter adds a day and a time zone to it: the first and last years overflow.
            raise BadRequest("Invalid query parameters.", {name: ["must be a year from 0002 to 9998"]})
    state = ListState.from_args(request.args, spec, strict=True, size_param="limit")
    if state.after is not None and "sort" in request.args and request.args["sort"].strip() not in ("", "id"):
        # The keyset cursor walks the primary key upwards; any other order would skip rows.
        raise BadRequest("Invalid query parameters.", {"after": ["can only be used with sort=id (or no sort)"]})
    return state
