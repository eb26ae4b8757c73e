"""Audit rows, written inside the operation's transaction by the acting user."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from models import AuditLog, utcnow

# Never stored in an audit payload, whatever an operation passes.
_SECRET_FIELDS = {"password", "password_hash", "token", "token_hash", "new_password"}


def _plain(value: Any) -> Any:
    """JSON-ready at any depth (payloads nest before/after dicts); secrets dropped at every level."""
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return clean_payload(value)
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def clean_payload(payload: dict[str, Any]) -> dict[str, Any]:
    return {str(k): _plain(v) for k, v in payload.items() if k not in _SECRET_FIELDS}


def record_audit(
    session: Session, actor_id: int | None, table: str, operation: str, record_id: int | None, payload: dict
) -> None:
    """Add one audit row to the session (committed with the operation's changes)."""
    session.add(
        AuditLog(table_name=table, operation=operation, record_id=record_id, user_id=actor_id,
                 payload=clean_payload(payload))
    )


def record_audit_many(
    session: Session, actor_id: int | None, table: str, operation: str, rows: list[tuple[int | None, dict]]
) -> None:
    """Audit rows for a bulk operation in one executemany INSERT."""
    if rows:
        session.execute(
            AuditLog.__table__.insert(),
            [
                {"table_name": table, "operation": operation, "record_id": rid, "user_id": actor_id,
                 "payload": clean_payload(p), "created_at": utcnow()}
                for rid, p in rows
            ],
        )
