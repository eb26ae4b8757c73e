"""Cadet pages: the table, profiles, create/edit forms, bulk archive/restore, CSV export."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("cadets", __name__, url_prefix="/cadets")
