"""Unbound extensions, bound to the app in create_app()."""

from __future__ import annotations

import redis
from flask import Flask, current_app
from flask_caching import Cache
from flask_compress import Compress
from flask_login import LoginManager
from flask_migrate import Migrate
from flask_wtf import CSRFProtect

_REDIS = "muster_redis"  # app.extensions key


class RedisHandle:
    """The app's own Redis client for metrics, rate limits and health, built once per app from REDIS_URL;
    None when running embedded. The data cache does not use it: it goes through Flask-Caching (`cache`).

    Per app (in app.extensions), not per module: tests build several apps with other settings."""

    def init_app(self, app: Flask) -> None:
        url, timeout = app.config.get("REDIS_URL"), app.config["REDIS_SOCKET_TIMEOUT"]
        app.extensions[_REDIS] = (redis.Redis.from_url(url, socket_timeout=timeout, socket_connect_timeout=timeout)
                                  if url else None)

    def client(self) -> redis.Redis | None:
        """The current app's client (None when embedded)."""
        return current_app.extensions[_REDIS]

    @staticmethod
    def for_app(app: Flask) -> redis.Redis | None:
        """The client of an app outside its context (the WSGI fast path, background threads)."""
        return app.extensions[_REDIS]


cache = Cache()  # the data cache's backend (cache_store), Redis or in-process; used through core/cache.py
compress = Compress()
login_manager = LoginManager()
migrate = Migrate()
csrf = CSRFProtect()
redis_handle = RedisHandle()
