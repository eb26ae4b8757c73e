"""Helpers shared by the API tests (no tests here): tokens per role, a JSON client, row counts."""

from __future__ import annotations

import gzip
from typing import Any

import orjson
from sqlalchemy import func, select

from models import db
from tests.factories import make_token, make_user

ROLES = ("admin", "training_staff", "cadet")


def tokens() -> dict[str, str]:
    """One fresh user and Bearer token per role."""
    return {role: make_token(make_user(role)) for role in ROLES}


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def call(client, method: str, path: str, token: str | None = None, body: Any = None, raw: bytes | None = None,
         headers: dict[str, str] | None = None):
    """Send a request; a JSON body is serialised, `raw` is sent as is."""
    data = raw if raw is not None else (orjson.dumps(body) if body is not None else None)
    return client.open(path, method=method, data=data, content_type="application/json",
                       headers={**bearer(token), **(headers or {})})


def body_of(response) -> Any:
    """The JSON body, gunzipped when the response is gzip-encoded."""
    data = response.data
    if response.headers.get("Content-Encoding") == "gzip":
        data = gzip.decompress(data)
    return orjson.loads(data)


def count(model) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count()).select_from(model))


def assert_error(response, status: int, code: str | None = None) -> dict:
    """The response is the API's JSON error with this status; returns its body."""
    assert response.status_code == status, response.data[:500]
    assert response.mimetype == "application/json"
    payload = orjson.loads(response.data)
    assert payload["error"] is True and payload["message"]
    assert isinstance(payload["details"], dict)
    if code:
        assert payload["code"] == code
    return payload
