"""The JSON API for scripts, under /api, authenticated with Bearer tokens.

Views are thin: parse the request (responses.py), call one read or operation from blueprints.core,
answer JSON. Errors are rendered by blueprints.core.errors, which answers JSON for every /api path.
"""

from __future__ import annotations

from flask import Blueprint
from werkzeug.routing import BaseConverter

from blueprints.core.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api")
# Scripts send a Bearer token, never a session cookie, so there is no cross-site form to forge.
csrf.exempt(bp)
MAX_ID = 2**31 - 1


class IdConverter(BaseConverter):
    """A database id in a path: 1 to 10 digits, no leading zero.

    One above 2**31-1 cannot exist, so it becomes 0 (also never an id): the read or operation then
    answers 404 instead of the database rejecting the number. Rejecting it here instead would make
    werkzeug answer 405 for PATCH/DELETE, since the GET rule's pattern still matched the path.
    """

    regex = r"[1-9][0-9]{0,9}"
    weight = 50

    def to_python(self, value: str) -> int:
        number = int(value)
        return number if number <= MAX_ID else 0

    def to_url(self, value: int) -> str:
        return str(int(value))


@bp.record_once
def _register_converter(state) -> None:
    # Before any route of this blueprint is added: rules resolve their converters when added.
    state.app.url_map.converters["id"] = IdConverter


from blueprints.api import (  # noqa: E402,F401 - the route modules attach their views to bp
    admin,
    attendance,
    auth,
    cadets,
    grades,
    merits,
    openapi,
    training,
)
