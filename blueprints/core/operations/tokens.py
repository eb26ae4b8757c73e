"""Personal API tokens: issue, revoke, and note when one was last used.

The token's format lives here, where tokens are made; core/auth.py checks sent tokens against it.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime

from sqlalchemy import update

from blueprints.core.audit import record_audit
from blueprints.core.cache import clear_users
from blueprints.core.errors import NotFound, ValidationError
from blueprints.core.operations import unit_of_work
from models import ApiToken, User, db, utcnow

TOKEN_PREFIX = "mst_"


def token_hash(token: str) -> str:
    """What is stored of a token: its SHA-256, never the token itself."""
    return hashlib.sha256(token.encode()).hexdigest()


def issue_token(user: User, name: str = "") -> str:
    """Create a personal API token; the plain token is returned once and never stored."""
    name = (name or "").strip()
    if len(name) > 100:
        raise ValidationError("The token name is too long.", {"name": ["must be at most 100 characters"]})
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with unit_of_work() as session:
        row = ApiToken(user_id=user.id, name=name, token_hash=token_hash(token), prefix=token[:10])
        session.add(row)
        session.flush()
        record_audit(session, user.id, "api_tokens", "CREATE", row.id, {"name": name, "prefix": row.prefix})
    return token


def revoke_token(user: User, token_id: int) -> None:
    """Revoke one of the user's own tokens."""
    row = db.session.get(ApiToken, token_id)
    if row is None or row.user_id != user.id or row.revoked_at is not None:
        raise NotFound("No such token.")
    with unit_of_work(clear_users) as session:
        row.revoked_at = utcnow()
        record_audit(session, user.id, "api_tokens", "DELETE", token_id, {"prefix": row.prefix})


def record_token_use(token_id: int, now: datetime) -> None:
    """Note when a token was last used (bookkeeping: no audit row, no cache to clear).

    One UPDATE committed at once, not a unit_of_work: on a GET it runs in the request's autocommit,
    so it costs one round trip and no BEGIN/COMMIT; nothing else is pending in the session then.
    """
    db.session.execute(update(ApiToken).where(ApiToken.id == token_id).values(last_used_at=now))
    db.session.commit()
