"""Everyone's own pages: profile, preferences, API tokens, and a cadet's own record."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix=None)
