"""Blueprints: the pages by area, the admin dashboard, and the JSON API."""

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
    grades,
    home,
    merits,
    pages,
    printing,
    training,
)
from blueprints.core import routing


def register_blueprints(app: Flask) -> None:
    routing.init_app(app)  # the <id:...> converter the routes below use
    pages.init_app(app)
    for module in (auth, home, cadets, grades, training, checkin, printing, merits, admin, account, dashboard, api):
        app.register_blueprint(module.bp)
