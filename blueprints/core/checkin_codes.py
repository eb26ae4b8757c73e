"""Signed check-in codes: `{day_id, nonce}` signed with the app secret, read back or refused.

A code names its training day and that day's current nonce; rotating the nonce voids every code
already shown or printed. Codes carry no time: they expire with the day (see operations/checkin.py).
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer

_SALT = "muster.checkin.v1"


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt=_SALT)


def sign_code(day_id: int, nonce: str) -> str:
    """The token a day's QR code carries."""
    return _serializer().dumps([day_id, nonce])


def read_code(token: object) -> tuple[int, str] | None:
    """(day_id, nonce) of a genuine code; None for anything forged, truncated or malformed."""
    if not isinstance(token, str) or not 0 < len(token) <= 200:
        return None
    try:
        payload = _serializer().loads(token)
    except BadSignature:
        return None
    if (not isinstance(payload, list) or len(payload) != 2 or not isinstance(payload[0], int)
            or isinstance(payload[0], bool) or not isinstance(payload[1], str)):
        return None
    return payload[0], payload[1]
