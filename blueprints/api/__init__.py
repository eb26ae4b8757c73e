"""The JSON API for scripts, under /api, authenticated with Bearer tokens.

Views are thin: parse the request (responses.py), call one read or operation from blueprints.core,
answer JSON. Errors are rendered by blueprints.core.errors, which answers JSON for every /api path.
One route module per area (cadets, grades, merits, training, attendance, admin, auth, system for
health and monitoring, openapi for the document, docs for the same as a page for people); listcache and
fastpath serve cached lists.

May import: blueprints.core, models, grading. Never a page blueprint nor blueprints.pages: the pages
and the API share reads and operations, not each other.
"""

from __future__ import annotations

from flask import Blueprint

from blueprints.core.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api")
# Scripts send a Bearer token, never a session cookie, so there is no cross-site form to forge.
csrf.exempt(bp)

from blueprints.api import (  # noqa: E402,F401 - the route modules attach their views to bp
    admin,
    attendance,
    auth,
    cadets,
    docs,
    excuses,
    grades,
    merits,
    notifications,
    openapi,
    system,
    training,
)
