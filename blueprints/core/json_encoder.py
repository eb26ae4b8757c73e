"""The one JSON encoder: orjson, for the API's bodies, the monitoring endpoints and error bodies.

`dumps` is what the API writes; `OrjsonProvider` makes Flask use it too, so a view or error handler
that returns a dict (or calls jsonify) answers with the same conventions: times in ISO 8601 with
their offset, Decimals as numbers, keys in the order they were built.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import orjson
from flask import Response
from flask.json.provider import JSONProvider

# Datetimes are stored as UTC; a naive one (never expected) is still written with its offset.
_OPTIONS = orjson.OPT_NAIVE_UTC | orjson.OPT_NON_STR_KEYS


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):  # PostgreSQL SUM() of integers
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"cannot serialise {type(value).__name__}")


def dumps(payload: Any) -> bytes:
    """Serialise to JSON bytes: ISO 8601 times with offset, numbers as numbers."""
    return orjson.dumps(payload, default=_default, option=_OPTIONS)


class OrjsonProvider(JSONProvider):
    """Flask's JSON (returned dicts, jsonify, request.get_json, |tojson) through `dumps`."""

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        return self._app.response_class(dumps(self._prepare_response_obj(args, kwargs)), mimetype="application/json")
