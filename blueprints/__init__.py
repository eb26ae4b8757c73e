"""Blueprints: the pages by area, and the JSON API."""

from __future__ import annotations

from flask import Flask


def register_blueprints(app: Flask) -> None:
    from blueprints.auth import bp as auth_bp
    from blueprints.home import bp as home_bp

    for bp in (auth_bp, home_bp):
        app.register_blueprint(bp)
