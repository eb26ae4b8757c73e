"""The data cache's two Flask-Caching backends: one cache module (cache.py), two configurations.

With REDIS_URL, `CACHE_TYPE` names `PlainRedisCache` (Flask-Caching's RedisCache); without it,
`PlainSimpleCache` (its in-process SimpleCache). Both store only what cache.py gives them, generation
counters (ints, through `inc`) and entries (`cache_entry.Entry`), with `PlainSerializer`: plain bytes
and JSON, never pickle, so whoever can write to Redis cannot run code in the app. Both put
`CACHE_KEY_PREFIX` and a colon before every key, read from the app's config at each call (the tests
give each test its own namespace on one app).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

from flask import Flask
from flask_caching.backends.rediscache import RedisCache
from flask_caching.backends.simplecache import SimpleCache

from blueprints.core.cache_entry import Entry, Unreadable, pack, unpack

log = logging.getLogger(__name__)

REDIS_BACKEND = "blueprints.core.cache_store.PlainRedisCache"
EMBEDDED_BACKEND = "blueprints.core.cache_store.PlainSimpleCache"
UNREADABLE = object()  # a stored blob that is neither a counter nor one of our entries: an error, rebuilt


def configure(app: Flask) -> None:
    """Flask-Caching's settings, derived from REDIS_URL unless the app's config already names them."""
    url, timeout = app.config.get("REDIS_URL"), app.config["REDIS_SOCKET_TIMEOUT"]
    app.config.setdefault("CACHE_TYPE", REDIS_BACKEND if url else EMBEDDED_BACKEND)
    app.config.setdefault("CACHE_REDIS_URL", url)
    if url:  # redis-py's timeouts: an unreachable Redis must cost a request little before it fails open
        app.config.setdefault("CACHE_OPTIONS", {"socket_timeout": timeout, "socket_connect_timeout": timeout})
    app.config.setdefault("CACHE_THRESHOLD", 5000)  # the in-process cache's entries before it prunes


def stored_prefix(config: Any) -> str:
    """What both backends put before every key."""
    return f"{config['CACHE_KEY_PREFIX']}:"


def _prefix_of(app: Flask) -> Callable[[], str]:
    return lambda: stored_prefix(app.config)


class PlainSerializer:
    """Counters as ASCII digits (what Redis INCR reads and writes), entries as cache_entry JSON.

    Anything else is refused on the way in (TypeError) and read back as UNREADABLE: nothing here
    unpickles, and it is not a cachelib serializer, so it has no pickling file methods to inherit."""

    def dumps(self, value: Any) -> bytes:
        if type(value) is int:
            return str(value).encode("ascii")
        if type(value) is Entry:
            return pack(value.gens, value.value)
        raise TypeError(f"the cache stores counters and entries, not a {type(value).__name__}")

    def loads(self, blob: bytes | None) -> Any:
        if blob is None:
            return None
        if blob.isdigit() or (blob[:1] == b"-" and blob[1:].isdigit()):
            return int(blob)
        try:
            return unpack(blob)
        except Unreadable as exc:
            log.warning("cache: refused an unreadable entry (%s)", exc)
            return UNREADABLE


class PlainRedisCache(RedisCache):
    """Flask-Caching's RedisCache with plain entries; `add` is one SET NX EX, so a lock always expires."""

    serializer = PlainSerializer()
    shared = True  # other processes read it, and a clear can fail (Redis away)

    @classmethod
    def factory(cls, app: Flask, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> PlainRedisCache:
        store = super().factory(app, config, args, kwargs)
        store.key_prefix = _prefix_of(app)
        return store

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool:
        # cachelib sends SETNX and then EXPIRE: a process dying between them would leave the key forever.
        expires = self._normalize_timeout(timeout)
        return bool(self._write_client.set(f"{self._get_prefix()}{key}", self.serializer.dumps(value), nx=True,
                                           ex=expires if expires != -1 else None))


class PlainSimpleCache(SimpleCache):
    """Flask-Caching's SimpleCache with the same serializer and keys as Redis, and counters that are
    never lost: they do not expire (as a Redis INCR's key does not) and pruning passes them by."""

    serializer = PlainSerializer()
    shared = False
    key_prefix: Callable[[], str] = staticmethod(lambda: "")

    @classmethod
    def factory(cls, app: Flask, config: dict[str, Any], args: list[Any], kwargs: dict[str, Any]) -> PlainSimpleCache:
        store = super().factory(app, config, args, kwargs)
        store.key_prefix = _prefix_of(app)
        return store

    # get_many, set_many and delete_many go through these, so each key is prefixed once.
    def get(self, key: str) -> Any:
        return super().get(self.key_prefix() + key)

    def set(self, key: str, value: Any, timeout: int | None = None) -> bool | None:
        return super().set(self.key_prefix() + key, value, timeout)

    def has(self, key: str) -> bool:
        return super().has(self.key_prefix() + key)

    def delete(self, key: str) -> bool:
        return super().delete(self.key_prefix() + key)

    def add(self, key: str, value: Any, timeout: int | None = None) -> bool:
        with self._lock:
            return not self.has(key) and bool(self.set(key, value, timeout))

    def inc(self, key: str, delta: int = 1) -> int:
        with self._lock:
            value = (self.get(key) or 0) + delta
            self.set(key, value, timeout=0)
            return value

    def _prune(self) -> None:
        # cachelib's takes a counter's "never" (0) for long expired, and drops the earliest expiry first.
        # Losing a counter would take its domain back to an old generation, and entries built then
        # would be current again; so only entries that expire are pruned: the expired, then the oldest.
        if not self._over_threshold():
            return
        now = time.time()
        for expires, key in sorted((expires, key) for key, (expires, _) in self._cache.items() if expires):
            if expires > now and not self._over_threshold():
                break
            del self._cache[key]
