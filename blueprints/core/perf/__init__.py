"""Performance recording: request and query instrumentation attached as a side-car in create_app
(no view or read calls it).

recorder: request hooks and engine events; sqlnorm: masking SQL; detect: N+1 and slow statements;
histogram: latency buckets; buffer and store: aggregation in Redis (or memory). What the dashboard
and the monitoring endpoints read back and draw lives in core/monitoring/, which imports from here,
never the other way. MUSTER_MONITORING=off (environment or app config) leaves the app untouched.

May import: models and core's Redis client (cache). Never core/monitoring/, reads/, operations/ or a
blueprint view module.
"""

from __future__ import annotations

import os
from typing import Any

from flask import Flask

from blueprints.core.extensions import redis_handle
from blueprints.core.perf.buffer import Buffer
from blueprints.core.perf.recorder import attach
from blueprints.core.perf.store import MemoryStore, RedisStore

_OFF = {"0", "off", "false", "no"}


def monitoring_enabled(app: Flask) -> bool:
    """MUSTER_MONITORING from the app config if set there, else the environment; default on."""
    value: Any = app.config.get("MUSTER_MONITORING", os.environ.get("MUSTER_MONITORING", "on"))
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() not in _OFF


def init_app(app: Flask) -> None:
    """Attach request hooks and SQLAlchemy engine events (unless monitoring is switched off)."""
    enabled = monitoring_enabled(app)
    app.config["MUSTER_MONITORING"] = enabled
    if not enabled:
        return
    client = redis_handle.for_app(app)
    store = RedisStore(client) if client is not None else MemoryStore()
    attach(app, Buffer(store, app.config["WAITRESS_THREADS"], app.config.get("PERF_FLUSH_SECONDS", 1.0)))
