"""The web layer: one blueprint per area of pages (account, admin, auth, cadets, checkin, dashboard,
excuses, grades, home, merits, offline, printing, training), the JSON API (api/), and two packages that are not
blueprints: pages/ (what the HTML pages share) and core/ (reads, operations, cache, auth, ...).
register_blueprints() binds them all to the app.

Imports point one way, downwards: areas -> pages -> core -> models and grading; the API -> core.
An area never imports another area or the API, and the API and pages never import each other.
"""

from __future__ import annotations

from flask import Flask

from blueprints import (
    account,
    admin,
    api,
    auth,
    cadets,
    checkin,
    dashboard,
    excuses,
    grades,
    home,
    merits,
    offline,
    pages,
    printing,
    training,
)
from blueprints.core import routing


def register_blueprints(app: Flask) -> None:
    routing.init_app(app)  # the <id:...> converter the routes below use
    pages.init_app(app)
    for module in (auth, home, cadets, grades, training, checkin, printing, merits, excuses, admin, account,
                   dashboard, offline, api):
        app.register_blueprint(module.bp)
