"""The grades table and its CSV export."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("grades", __name__, url_prefix="/grades")
