"""Muster: a ROTC unit's records. `create_app()` builds the app; `python app.py` serves it with waitress."""

from __future__ import annotations

import logging
import sys
from typing import Any

from flask import Flask

from blueprints import register_blueprints
from blueprints.core import auth, cache, cli, database, errors, perf, security
from blueprints.core.extensions import compress, csrf, migrate
from blueprints.core.operations import held_days
from config import ConfigError, load_config
from models import db, include_in_autogenerate


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.config.update(load_config())
    app.config.update(config or {})
    database.init_app(app)
    migrate.init_app(app, db, directory=app.root_path + "/migrations", render_as_batch=True,
                     include_object=include_in_autogenerate)
    cache.init_app(app)
    compress.init_app(app)
    csrf.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    perf.init_app(app)
    cli.init_app(app)
    held_days.init_app(app)
    security.init_app(app)
    register_blueprints(app)
    return app


def main() -> None:
    """Serve with waitress using the configured port and thread settings."""
    from waitress import serve

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        app = create_app()
    except ConfigError as exc:
        sys.exit(f"muster: {exc}")
    serve(
        app,
        host=app.config.get("HOST", "127.0.0.1"),
        port=app.config["PORT"],
        threads=app.config["WAITRESS_THREADS"],
        connection_limit=app.config["WAITRESS_CONNECTION_LIMIT"],
        channel_timeout=app.config["WAITRESS_CHANNEL_TIMEOUT"],
        ident="muster",
    )


if __name__ == "__main__":
    main()
