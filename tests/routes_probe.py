"""Test-only routes for the auth tests (registered by conftest, never by the app)."""

from __future__ import annotations

from flask import Blueprint

from blueprints.core.auth import api_route

bp = Blueprint("authprobe", __name__)


@bp.route("/api/_probe/staff")
@api_route("admin", "training_staff")
def staff_only(actor):
    return {"data": {"user": actor.username}}
