"""The merit/demerit log."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("merits", __name__, url_prefix="/merits")
