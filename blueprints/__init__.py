"""Blueprints: the pages by area, the admin dashboard, and the JSON API."""

from __future__ import annotations

from flask import Flask

from blueprints import (
    account,
    admin,
    api,
    auth,
    cadets,
    dashboard,
    grades,
    home,
    merits,
    monitoring,
    pages_common,
    training,
)


def register_blueprints(app: Flask) -> None:
    pages_common.init_app(app)
    for module in (auth, home, cadets, grades, training, merits, admin, account, dashboard, monitoring, api):
        app.register_blueprint(module.bp)
