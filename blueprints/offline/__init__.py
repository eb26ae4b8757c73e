"""The service worker that keeps opened attendance sheets for use with no signal (static/js/sw.js).

Served from the site root, not /static/, so its scope is the whole site: it must see the sign-in
and sign-out navigations to drop the cached sheets. Public: it is code, and holds no one's data.
May import: blueprints.core, blueprints.pages, models; never the API or another area's blueprint.
"""

from __future__ import annotations

from flask import Blueprint, current_app, send_from_directory
from flask.typing import ResponseReturnValue

bp = Blueprint("offline", __name__)


@bp.route("/sw.js")
def worker() -> ResponseReturnValue:
    response = send_from_directory(current_app.static_folder, "js/sw.js", max_age=0)
    response.cache_control.no_cache = True  # a deploy's new worker is picked up on the next visit
    response.headers["Service-Worker-Allowed"] = "/"
    return response
