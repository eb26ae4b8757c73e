"""Admin only: the audit log and the system settings."""

from __future__ import annotations

from flask import Response

from blueprints.api import bp
from blueprints.api.listcache import cached_response
from blueprints.api.responses import json_body, json_response, list_state, ok
from blueprints.core.auth import api_route
from blueprints.core.operations.settings import update_settings
from blueprints.core.reads.audit import AUDIT_SPEC, list_audit
from blueprints.core.reads.settings import SETTINGS, get_settings
from models import ADMIN


@bp.get("/audit-logs")
@api_route(*ADMIN)
def audit_logs_list(actor) -> Response:
    return json_response(list_audit(list_state(AUDIT_SPEC)))


@bp.get("/system-settings")
@api_route(*ADMIN, prefetch=lambda: [(SETTINGS.derived("api"), ())])
def settings_get(actor) -> Response:
    return cached_response(SETTINGS, (), lambda: {"data": get_settings()})


@bp.put("/system-settings")
@api_route(*ADMIN)
def settings_update(actor) -> Response:
    update_settings(actor, json_body())
    return ok(get_settings())
