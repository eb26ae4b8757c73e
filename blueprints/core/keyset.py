"""Keyset ("seek") cursors for every allow-listed sort: the boundary row's sort values and id, signed.

A cursor names the row a page ends (next page: after it) or starts (previous page: before it). It is
bound to its list, sort and filters and signed with the app's secret, so a forged or edited cursor,
or one carried over to another sort or filter, is refused (a 400 on the API; pages ignore it and
fall back to the page number). NULLs sort as the largest value in both databases (order_clauses
says NULLS LAST ascending, NULLS FIRST descending: PostgreSQL's own default, so its indexes serve).
"""

from __future__ import annotations

import hashlib
from datetime import date, datetime
from typing import Any

from flask import current_app
from itsdangerous import BadData, URLSafeSerializer
from sqlalchemy import and_, false, or_, tuple_
from sqlalchemy.sql.elements import ColumnElement

_SALT = "list-cursor"
TOKEN_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")
MAX_TOKEN = 1000


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def scope(spec_name: str, sort_param: str, search: str, filters: tuple) -> str:
    """What a cursor is valid for: its list, sort and filters (a short digest)."""
    raw = repr((spec_name, sort_param, search.lower(), tuple((k, str(v)) for k, v in filters)))
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def dump(where: str, values: tuple) -> str:
    """A signed cursor for the row with these sort values (then its id), valid where `where` (scope) says."""
    return _serializer().dumps([where, [_encode(v) for v in values]])


def load(token: str, where: str) -> tuple | None:
    """The sort values a cursor carries, or None if it is forged or belongs to another list state."""
    try:
        payload = _serializer().loads(token)
        token_scope, values = payload
        if token_scope != where or not isinstance(values, list):
            return None
        return tuple(_decode(v) for v in values)
    except (BadData, ValueError, TypeError):
        return None


def _encode(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"dt": value.isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {"dt"}:
            return datetime.fromisoformat(value["dt"])
        if set(value) == {"d"}:
            return date.fromisoformat(value["d"])
        raise ValueError("bad cursor value")
    if isinstance(value, list):
        raise ValueError("bad cursor value")
    return value


def seek(columns: list[ColumnElement], values: tuple, *, greater: bool) -> ColumnElement:
    """Rows strictly past (values) in the order of `columns`, read as ascending when `greater`,
    with NULL the largest value. The last column (the id) is never NULL.

    Without nullable columns this is one row-value comparison, (a, b, id) > (x, y, z), which
    PostgreSQL answers as an index condition: a deep page seeks instead of walking.
    """
    if len(values) != len(columns):
        raise ValueError("cursor does not fit the sort")
    if not any(_nullable(c) for c in columns[:-1]) and None not in values:
        left, right = tuple_(*columns), tuple_(*values)
        return left > right if greater else left < right
    return _seek_from(columns, values, 0, greater)


def _nullable(column: Any) -> bool:
    return getattr(getattr(column, "expression", column), "nullable", True)


def _seek_from(columns: list, values: tuple, i: int, greater: bool) -> ColumnElement:
    column, value = columns[i], values[i]
    if i == len(columns) - 1:
        return column > value if greater else column < value
    if value is None:
        past = false() if greater else column.is_not(None)
        same = column.is_(None)
    else:
        past = or_(column > value, column.is_(None)) if greater else column < value
        same = column == value
    return or_(past, and_(same, _seek_from(columns, values, i + 1, greater)))
