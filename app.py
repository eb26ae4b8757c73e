"""Muster: a ROTC unit's records. `create_app()` builds the app; `python app.py` serves it with waitress."""

from __future__ import annotations

import logging
import sys
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from blueprints import register_blueprints
from blueprints.api import coldpath, fastpath
from blueprints.core import assets, auth, cache, cli, database, errors, mailer, perf, replicas, security
from blueprints.core.extensions import compress, csrf, migrate
from blueprints.core.json_encoder import OrjsonProvider
from blueprints.core.operations import held_days
from blueprints.pages import fastpath as page_fastpath
from config import ConfigError, load_config
from models import db, include_in_autogenerate


def create_app(config: dict[str, Any] | None = None) -> Flask:
    app = Flask(__name__, instance_relative_config=True)
    app.json = OrjsonProvider(app)  # one JSON encoder for the API, monitoring and error bodies
    app.config.update(load_config())
    app.config.update(config or {})
    database.init_app(app)
    migrate.init_app(app, db, directory=app.root_path + "/migrations", render_as_batch=True,
                     include_object=include_in_autogenerate)
    cache.init_app(app)
    replicas.init_app(app)
    compress.init_app(app)
    csrf.init_app(app)
    auth.init_app(app)
    errors.init_app(app)
    perf.init_app(app)
    cli.init_app(app)
    held_days.init_app(app)
    security.init_app(app)
    assets.init_app(app)
    mailer.init_app(app)
    register_blueprints(app)
    page_fastpath.init_app(app)  # the table pages' twin of the API's; both wrap the finished app's WSGI callable
    coldpath.init_app(app)  # inside the warm fast path: answers what the cache cannot
    fastpath.init_app(app)
    trust_proxy(app)  # outermost: the fast path, too, sees the client's host and scheme
    return app


def trust_proxy(app: Flask) -> None:
    """Behind TRUSTED_PROXY_HOPS proxies, take the client's address, scheme and host from the headers
    they set. Only then: a client talking to us directly could otherwise forge its address."""
    hops = app.config.get("TRUSTED_PROXY_HOPS", 0)
    if hops > 0:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops)


def main() -> None:
    """Serve with waitress worker processes (server.py) using the configured port and threads."""
    import server

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(process)d: %(message)s")
    try:
        config = load_config()
    except ConfigError as exc:
        sys.exit(f"muster: {exc}")
    workers = config["MUSTER_WORKERS"]
    if workers > 1 and not config["REDIS_URL"]:
        # The embedded cache, monitoring and sign-in counts live in one process's memory.
        logging.getLogger("muster").info("MUSTER_WORKERS=%d, but without REDIS_URL the cache is one process's "
                                         "memory, so serving with 1 worker", workers)
        workers = 1
    options = server.ServerOptions(
        host=config["HOST"], port=config["PORT"], workers=workers, threads=config["WAITRESS_THREADS"],
        connection_limit=config["WAITRESS_CONNECTION_LIMIT"], channel_timeout=config["WAITRESS_CHANNEL_TIMEOUT"])
    server.serve(create_app, options)


if __name__ == "__main__":
    main()
