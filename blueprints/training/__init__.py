"""Training days and the attendance sheet."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("training", __name__, url_prefix="/training-days")
