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
    monitoring,
    printing,
    training,
)


def register_blueprints(app: Flask) -> None:
    for module in (auth, home, cadets, grades, training, checkin, printing, merits, admin, account, dashboard,
                   monitoring, api):
        app.register_blueprint(module.bp)
