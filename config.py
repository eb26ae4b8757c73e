"""Settings, read once from the environment.

With nothing set Muster runs embedded: SQLite in the instance folder and an in-process cache.
`DATABASE_URL` (postgresql+psycopg://...) and `REDIS_URL` switch to the shared services that several
waitress processes on several hosts use together.
"""

from __future__ import annotations

import math
import os
import re
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENVIRONMENTS = ("development", "production", "testing")
_DEV_SECRET = "dev-only-not-secret"


class ConfigError(RuntimeError):
    """The environment does not describe a runnable configuration."""


def _int(env: dict[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a whole number, got {raw!r}") from exc


def _count(env: dict[str, str], name: str, default: int) -> int:
    value = _int(env, name, default)
    if value < 0:
        raise ConfigError(f"{name} must be 0 or more, got {value}")
    return value


def _float(env: dict[str, str], name: str, default: float) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def _timezone(env: dict[str, str]) -> str:
    name = env.get("UNIT_TIMEZONE", "").strip() or "Asia/Manila"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ConfigError(f"UNIT_TIMEZONE must be an IANA time zone such as Asia/Manila, got {name!r}") from exc
    return name


def _public_url(env: dict[str, str]) -> str:
    """The base of links read outside the browser (QR codes, emails): scheme and host, maybe a path."""
    raw = env.get("PUBLIC_URL", "").strip().rstrip("/")
    if not raw:
        return ""
    parts = urlsplit(raw)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise ConfigError(f"PUBLIC_URL must look like https://muster.example.edu, got {raw!r}")
    return raw


# Loopback names: the embedded default and a loopback deployment need no configuration.
# (werkzeug cannot match an IPv6 literal such as [::1] against a trusted list.)
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")


def _trusted_hosts(env: dict[str, str], public_url: str) -> list[str] | None:
    """Host names requests may name (Flask's TRUSTED_HOSTS; others are a 400): loopback, PUBLIC_URL's host
    and TRUSTED_HOSTS (comma-separated; a leading dot allows subdomains). "*" switches the check off."""
    listed = [h.strip().lower() for h in env.get("TRUSTED_HOSTS", "").split(",") if h.strip()]
    if listed == ["*"]:
        return None
    if any(not re.fullmatch(r"\.?[a-z0-9.-]+", host) for host in listed):
        raise ConfigError(f"TRUSTED_HOSTS must be host names separated by commas, got {env['TRUSTED_HOSTS']!r}")
    public = [urlsplit(public_url).hostname or ""] if public_url else []
    return list(dict.fromkeys([*LOOPBACK_HOSTS, *public, *listed]))


def normalise_database_url(url: str) -> str:
    """Make plain postgres:// URLs use psycopg 3, the driver we ship."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _urls(env: dict[str, str], name: str) -> tuple[str, ...]:
    return tuple(normalise_database_url(u.strip()) for u in env.get(name, "").split(",") if u.strip())


def _prepare_threshold(env: dict[str, str]) -> int | None:
    """psycopg's prepare_threshold: "none" behind PgBouncer's transaction pooling (before 1.21 it
    cannot carry a prepared statement from one client's transaction to the next)."""
    raw = env.get("DB_PREPARE_THRESHOLD", "").strip().lower()
    if raw in ("none", "off"):
        return None
    return _count(env, "DB_PREPARE_THRESHOLD", 5)


def _switch(env: dict[str, str], name: str) -> bool:
    """An on/off setting that is on unless set to "off"."""
    return env.get(name, "on").strip().lower() != "off"


def _random_page_cost(env: dict[str, str]) -> float | None:
    """The planner's random_page_cost for Muster's sessions; "server" keeps the server's own setting."""
    if env.get("DB_RANDOM_PAGE_COST", "").strip().lower() == "server":
        return None
    cost = _float(env, "DB_RANDOM_PAGE_COST", 1.1)
    if not math.isfinite(cost) or cost <= 0:
        raise ConfigError(f"DB_RANDOM_PAGE_COST must be a positive number or 'server', got {cost!r}")
    return cost


def load_config(env: dict[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from environment variables."""
    env = dict(os.environ if env is None else env)
    name = env.get("MUSTER_ENV", "development").strip() or "development"
    if name not in ENVIRONMENTS:
        raise ConfigError(f"MUSTER_ENV must be one of {', '.join(ENVIRONMENTS)}, got {name!r}")
    secret = env.get("SECRET_KEY", "").strip()
    if name == "production" and (len(secret) < 16 or secret == _DEV_SECRET):
        raise ConfigError("SECRET_KEY must be set to a random string of 16+ characters in production")
    threads = _int(env, "WAITRESS_THREADS", 8)
    database_url = normalise_database_url(env.get("DATABASE_URL", "").strip())
    redis_url = env.get("REDIS_URL", "").strip()
    public_url = _public_url(env)
    return {
        "MUSTER_ENV": name,
        "TESTING": name == "testing",
        "SECRET_KEY": secret or _DEV_SECRET,
        "SQLALCHEMY_DATABASE_URI": database_url or None,  # None: SQLite in the instance folder
        "REDIS_URL": redis_url or None,
        # Proxies in front of Muster that set X-Forwarded-For/-Proto/-Host; 0 ignores those headers.
        "TRUSTED_PROXY_HOPS": _count(env, "TRUSTED_PROXY_HOPS", 0),
        "PUBLIC_URL": public_url,  # "" : links are built from the (trusted) host of the request
        "TRUSTED_HOSTS": _trusted_hosts(env, public_url),
        "HOST": env.get("HOST", "127.0.0.1").strip() or "127.0.0.1",
        "PORT": _int(env, "PORT", 8000),
        "WAITRESS_THREADS": threads,
        "MUSTER_WORKERS": max(1, _int(env, "MUSTER_WORKERS", os.cpu_count() or 1)),
        "WAITRESS_CONNECTION_LIMIT": _int(env, "WAITRESS_CONNECTION_LIMIT", 200),
        "WAITRESS_CHANNEL_TIMEOUT": _int(env, "WAITRESS_CHANNEL_TIMEOUT", 60),
        # Pool sized to the server's threads: one connection per busy thread, a little overflow.
        "DB_POOL_SIZE": _int(env, "DB_POOL_SIZE", threads),
        "DB_MAX_OVERFLOW": _int(env, "DB_MAX_OVERFLOW", 4),
        "DB_POOL_TIMEOUT": _int(env, "DB_POOL_TIMEOUT", 10),
        "DB_CONNECT_TIMEOUT": _int(env, "DB_CONNECT_TIMEOUT", 10),
        "DB_STATEMENT_TIMEOUT_MS": _int(env, "DB_STATEMENT_TIMEOUT_MS", 30_000),
        "DB_POOL_RECYCLE": _int(env, "DB_POOL_RECYCLE", 1800),
        "DB_PREPARE_THRESHOLD": _prepare_threshold(env),
        # PostgreSQL's default (4) prices a random page as a disk seek. A list's rows are fetched by
        # primary key after their keys are found (the deferred join); at 100 rows that price made the
        # planner hash-join a sequential scan of every cadet instead (EXPLAIN ANALYZE, 10k cadets:
        # 2.0 ms against 0.44 ms). 1.1 is the usual figure for SSDs and a cached working set.
        "DB_RANDOM_PAGE_COST": _random_page_cost(env),
        # The connection that LISTENs for cache clears (blueprints/core/outbox_watch.py); none: DATABASE_URL.
        # Behind PgBouncer's transaction pooling LISTEN hears nothing: give PostgreSQL itself here.
        "DATABASE_LISTEN_URL": normalise_database_url(env.get("DATABASE_LISTEN_URL", "").strip()) or None,
        # off: poll the outbox every second as before, holding no listening connection (the test suite's
        # many short-lived apps, one connection each, would exhaust PostgreSQL's connection slots).
        "OUTBOX_LISTEN": _switch(env, "OUTBOX_LISTEN"),
        # Streaming replicas for GET/HEAD reads (blueprints/core/replicas.py); none: the primary reads.
        "DATABASE_REPLICA_URLS": _urls(env, "DATABASE_REPLICA_URLS"),
        "REPLICA_MAX_LAG_SECONDS": _float(env, "REPLICA_MAX_LAG_SECONDS", 5.0),
        "REPLICA_CHECK_SECONDS": _float(env, "REPLICA_CHECK_SECONDS", 1.0),
        "REPLICA_CONNECT_TIMEOUT": _int(env, "REPLICA_CONNECT_TIMEOUT", 2),
        # Training days count towards grades once their date has come here (blueprints/core/clock.py).
        "UNIT_TIMEZONE": _timezone(env),
        "MUSTER_CACHE": _switch(env, "MUSTER_CACHE"),
        "MUSTER_MONITORING": env.get("MUSTER_MONITORING", "on").strip().lower(),
        # The API lists' cold path before Flask (blueprints/api/coldpath.py); off: Flask answers every miss.
        "MUSTER_COLD_PATH": _switch(env, "MUSTER_COLD_PATH"),
        # Flask-Caching: every cache key starts with CACHE_KEY_PREFIX and a colon; entries of a domain with
        # no TTL of its own (cache.TTL_SECONDS) last CACHE_DEFAULT_TIMEOUT seconds. CACHE_TYPE and
        # CACHE_REDIS_URL follow REDIS_URL (blueprints/core/cache_store.py).
        "CACHE_KEY_PREFIX": env.get("CACHE_KEY_PREFIX", "muster"),
        "CACHE_DEFAULT_TIMEOUT": _count(env, "CACHE_DEFAULT_TIMEOUT", 300),
        "REDIS_SOCKET_TIMEOUT": _float(env, "REDIS_SOCKET_TIMEOUT", 0.25),
        "SLOW_QUERY_MS": _float(env, "SLOW_QUERY_MS", 100.0),
        "SLOW_REQUEST_MS": _float(env, "SLOW_REQUEST_MS", 1000.0),
        "N_PLUS_ONE_THRESHOLD": _int(env, "N_PLUS_ONE_THRESHOLD", 5),
        "SIGNIN_LIMIT_PER_ACCOUNT": env.get("SIGNIN_LIMIT_PER_ACCOUNT", "10 per minute"),
        "SIGNIN_LIMIT_PER_ADDRESS": env.get("SIGNIN_LIMIT_PER_ADDRESS", "300 per minute"),
        "MAX_CONTENT_LENGTH": _int(env, "MAX_CONTENT_LENGTH", 2 * 1024 * 1024),
        # Notifications by email (optional): smtp://user:pass@host:587 (STARTTLS), smtps://... or
        # smtp+plain://host:25 (no TLS, a local relay). Sent from an outbox by a background sender.
        "SMTP_URL": env.get("SMTP_URL", "").strip(),
        "MAIL_FROM": env.get("MAIL_FROM", "").strip() or "muster@localhost",
        "OUTBOX_POLL_SECONDS": _float(env, "OUTBOX_POLL_SECONDS", 5.0),
        # Flask-Compress: HTML, JSON and CSV above 200 bytes; also streamed bodies (the CSV export).
        "COMPRESS_MIN_SIZE": 200,
        "COMPRESS_MIMETYPES": ["text/html", "text/css", "text/plain", "text/csv", "text/javascript",
                               "application/javascript", "application/json", "image/svg+xml"],
        # gzip first among what a client accepts equally (browsers send "gzip, deflate, br, zstd"): the warm
        # pages and API lists keep their body gzipped and serve it before Flask (blueprints/core/fastpath.py);
        # a client that prefers zstd or br by q-value gets it, compressed per response.
        "COMPRESS_ALGORITHM": ["gzip", "zstd", "br"],
        "COMPRESS_ALGORITHM_STREAMING": ["gzip", "zstd", "br"],
        # werkzeug's method for new password hashes. Not read from the environment: production always
        # hashes with scrypt; only the tests pass a cheap one (tests/conftest.py says why).
        "PASSWORD_HASH_METHOD": "scrypt",
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": name == "production",
        "REMEMBER_COOKIE_SECURE": name == "production",
        "WTF_CSRF_ENABLED": env.get("WTF_CSRF_ENABLED", "1") != "0",
        "SQLALCHEMY_TRACK_MODIFICATIONS": False,
    }
