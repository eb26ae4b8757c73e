"""A user's personal API tokens, as their account page lists them."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from models import ApiToken, db


def list_tokens(user_id: int) -> list[dict[str, Any]]:
    """A user's live API tokens (never the token itself, only its first characters)."""
    return [dict(r) for r in db.session.execute(
        select(ApiToken.id, ApiToken.name, ApiToken.prefix, ApiToken.created_at, ApiToken.last_used_at)
        .where(ApiToken.user_id == user_id, ApiToken.revoked_at.is_(None)).order_by(ApiToken.id)
    ).mappings()]
