"""Test-only routes for the auth tests (registered by conftest, never by the app)."""

from __future__ import annotations

from flask import Blueprint, request
from sqlalchemy import text

from blueprints.core.auth import api_route
from blueprints.core.liststate import ListState
from blueprints.core.reads.cadets import CADET_SPEC, list_cadets
from blueprints.core.security import sign_in
from models import db

bp = Blueprint("authprobe", __name__)


@bp.route("/api/_probe/staff")
@api_route("admin", "training_staff")
def staff_only(actor):
    return {"data": {"user": actor.username}}


@bp.route("/api/_probe/sign-in", methods=["POST"])
@sign_in
def probe_sign_in():
    return {"data": {"ok": True}}


@bp.route("/api/_probe/sleep")
@api_route("admin")
def probe_sleep(actor):
    """Runs a statement longer than a short statement timeout (PostgreSQL only)."""
    db.session.execute(text("SELECT pg_sleep(2)"))
    return {"data": {"slept": True}}


@bp.route("/api/_probe/cadets")
@api_route("admin", "training_staff")
def probe_cadets(actor):
    """The cadets list through the shared read layer and its cache."""
    state = ListState.from_args(request.args, CADET_SPEC, strict=True, size_param="limit")
    page = list_cadets(state)
    return {"total": page["total"], "names": [c["first_name"] for c in page["data"]]}
