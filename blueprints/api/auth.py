"""Tokens and the caller: issue a token for a username and password, revoke the one in use, /me."""

from __future__ import annotations

from typing import Any

from flask import Response, g

from blueprints.api import bp
from blueprints.api.responses import json_body, no_content, ok
from blueprints.core.auth import api_route, authenticate
from blueprints.core.errors import ValidationError
from blueprints.core.operations.tokens import issue_token, revoke_token
from blueprints.core.reads.cadets import get_cadet
from blueprints.core.reads.users import get_user
from blueprints.core.security import sign_in
from blueprints.core.validation import Field, validate
from models import User

_TOKEN_FIELDS = [Field("username", required=True, max_len=80), Field("name", max_len=100)]


def _credentials(body: dict[str, Any]) -> tuple[str, str, str]:
    password = body.get("password")  # checked as sent: no stripping, any characters
    errors = {} if isinstance(password, str) and 0 < len(password) <= 1000 else {"password": ["is required (text)"]}
    try:
        values = validate(body, _TOKEN_FIELDS)
    except ValidationError as exc:
        errors = {**exc.details, **errors}
    if errors:
        raise ValidationError("Some fields are invalid.", errors)
    return values["username"], password, values.get("name") or ""


def profile(user: User) -> dict[str, Any]:
    """The caller's account and, for a cadet account, their own record."""
    return {"user": get_user(user.id), "cadet": get_cadet(user.cadet_id) if user.cadet_id else None}


@bp.post("/auth/token")
@sign_in
def token_issue() -> Response:
    username, password, name = _credentials(json_body())
    user = authenticate(username, password)  # 5 failures in 15 minutes lock the account: 429
    token = issue_token(user, name)
    return ok({"token": token, "prefix": token[:10], "user": get_user(user.id)}, 201)


@bp.delete("/auth/token")
@api_route()
def token_revoke(actor) -> Response:
    revoke_token(actor, g.api_token_id)
    return no_content()


@bp.get("/me")
@api_route()
def me(actor) -> Response:
    return ok(profile(actor))
