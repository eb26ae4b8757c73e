"""Idempotency-Key for API POSTs: a retried request gets the first answer back and writes nothing.

The key, a fingerprint of the request and the answer are saved in the write's own transaction
(request_transaction), so a client whose connection dropped after the commit finds the answer on
retry. Keys are scoped per user, at most 255 visible ASCII characters, and kept 24 hours.
Two concurrent requests with one key: the second waits on the unique (user_id, key) index until
the first commits, then replays its answer; exactly one write happens.
"""

from __future__ import annotations

import hashlib
import logging
import random
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any

import orjson
from flask import Response, request
from sqlalchemy import delete, insert, select, update
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from blueprints.core.errors import AppError, BadRequest
from blueprints.core.operations import request_transaction
from models import IdempotencyKey, db, utcnow

log = logging.getLogger(__name__)

KEY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
MAX_KEY_LENGTH = 255
KEEP_FOR = timedelta(hours=24)
PRUNE_CHANCE = 0.01  # about one insert in a hundred also deletes expired keys
_REPLAYED_HEADERS = ("Location", "ETag")


class KeyReused(AppError):
    status, code = 422, "IDEMPOTENCY_KEY_REUSED"
    message = "This Idempotency-Key was already used for a different request."


def idempotent(view: Callable[..., Response]) -> Callable[..., Response]:
    """Decorate an API POST view (under api_route, so it gets `actor` first) to honour Idempotency-Key."""

    @wraps(view)
    def wrapper(actor: Any, *args: Any, **kwargs: Any) -> Response:
        return run_once(actor.id, lambda: view(actor, *args, **kwargs))

    wrapper.idempotent = True
    return wrapper


def run_once(user_id: int, call_view: Callable[[], Response], *, required: bool = False) -> Response:
    """Answer the request with call_view(), or with the first answer to its Idempotency-Key.

    `required`: a request without the header is refused (400), for callers that always retry.
    """
    key = request.headers.get(KEY_HEADER)
    if key is None:
        if required:
            raise BadRequest("Send an Idempotency-Key header.", {KEY_HEADER: ["is required"]})
        return call_view()
    claim = _Claim(user_id, _valid_key(key), f"{request.method} {request.path}"[:300], _body_hash())
    first = claim.find()
    if first is not None:
        return claim.replay(first)
    try:
        return claim.run(call_view)
    except IntegrityError:  # a concurrent request with this key committed first
        first = claim.find()
        if first is None:
            raise
        return claim.replay(first)


def _valid_key(key: str) -> str:
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(" " <= ch <= "~" for ch in key):
        raise BadRequest("The Idempotency-Key header is invalid.",
                         {KEY_HEADER: [f"must be 1 to {MAX_KEY_LENGTH} visible ASCII characters"]})
    return key


def _body_hash() -> str:
    """SHA-256 of the body; JSON canonicalised first, so key order and spacing do not matter."""
    raw = request.get_data(cache=True)
    try:
        raw = orjson.dumps(orjson.loads(raw), option=orjson.OPT_SORT_KEYS) if raw.strip() else b""
    except orjson.JSONDecodeError:
        pass  # hashed as sent; the view answers 400 for it
    return hashlib.sha256(raw).hexdigest()


class _Claim:
    """One request's key: find its first answer, or run the view and save the answer with the write."""

    def __init__(self, user_id: int, key: str, request_line: str, body_hash: str) -> None:
        self.user_id, self.key, self.request_line, self.body_hash = user_id, key, request_line, body_hash

    def _where(self) -> tuple:
        return IdempotencyKey.user_id == self.user_id, IdempotencyKey.key == self.key

    def find(self) -> IdempotencyKey | None:
        """The unexpired first answer, if any."""
        return db.session.scalar(select(IdempotencyKey).where(*self._where(),
                                                              IdempotencyKey.created_at >= utcnow() - KEEP_FOR))

    def replay(self, first: IdempotencyKey) -> Response:
        if first.request != self.request_line or first.body_hash != self.body_hash:
            raise KeyReused(details={KEY_HEADER: ["was used with a different body or endpoint; use a new key"]})
        headers = {**(first.response_headers or {}), REPLAYED_HEADER: "true"}
        return Response(first.response_body, status=first.status, headers=headers, mimetype="application/json")

    def run(self, call_view: Callable[[], Response]) -> Response:
        """Claim the key first (a concurrent twin waits on it), run the view, save its answer; one commit.

        An answer that is not a success is not saved and nothing is written: a retry runs again.
        """
        try:
            with request_transaction() as session:
                # Only an expired claim may be replaced: a live one committed meanwhile must stay.
                session.execute(delete(IdempotencyKey).where(*self._where(),
                                                             IdempotencyKey.created_at < utcnow() - KEEP_FOR))
                session.execute(insert(IdempotencyKey).values(
                    user_id=self.user_id, key=self.key, request=self.request_line, body_hash=self.body_hash,
                    status=0, response_body="", response_headers={}, created_at=utcnow()))
                response = call_view()
                if not 200 <= response.status_code < 300:
                    raise _Unsaved(response)
                session.execute(update(IdempotencyKey).where(*self._where()).values(
                    status=response.status_code, response_body=response.get_data(as_text=True),
                    response_headers={h: response.headers[h] for h in _REPLAYED_HEADERS if h in response.headers}))
        except _Unsaved as unsaved:
            return unsaved.response
        if random.random() < PRUNE_CHANCE:
            prune_idempotency_keys()
        return response


class _Unsaved(Exception):
    """Carries a non-success answer out of the transaction, which it rolls back."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status)
        self.response = response


def prune_idempotency_keys() -> int:
    """Delete keys older than 24 hours (one indexed DELETE); fails open: it is housekeeping."""
    try:
        deleted = db.session.execute(delete(IdempotencyKey).where(IdempotencyKey.created_at < utcnow() - KEEP_FOR))
        db.session.commit()
        return deleted.rowcount
    except SQLAlchemyError:
        db.session.rollback()
        log.warning("idempotency: could not prune expired keys", exc_info=True)
        return 0
