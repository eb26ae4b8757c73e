"""The `<id:...>` path converter every blueprint (pages and API) uses for database ids, and absolute
links for use outside the browser."""

from __future__ import annotations

from typing import Any

from flask import Flask, current_app, url_for
from werkzeug.routing import BaseConverter

from blueprints.core.validation import MAX_ID


class IdConverter(BaseConverter):
    """A database id in a path: 1 to 10 digits, no leading zero.

    One above MAX_ID cannot exist, so it becomes 0 (also never an id): the read or operation then
    answers 404 instead of the database rejecting the number. Rejecting it here instead would make
    werkzeug answer 405 for PATCH/DELETE, since the GET rule's pattern still matched the path.
    """

    regex = r"[1-9][0-9]{0,9}"
    weight = 50

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= MAX_ID else 0

    def to_url(self, value: int) -> str:
        return str(int(value))


def public_url_for(endpoint: str, **values: Any) -> str:
    """An absolute URL read away from the current page (a QR code, an email): from PUBLIC_URL when set,
    never from a Host header a client chose (without PUBLIC_URL the host was checked by TRUSTED_HOSTS)."""
    base = current_app.config.get("PUBLIC_URL")
    if not base:
        return url_for(endpoint, _external=True, **values)
    return base + url_for(endpoint, **values)


def init_app(app: Flask) -> None:
    # Before any blueprint is registered: rules resolve their converters when they are added.
    app.url_map.converters["id"] = IdConverter
