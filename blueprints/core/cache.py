"""Caching of plain data by domain, with generation numbers for invalidation. Fails open.

A cached value is stored with the generations of the domains it was built from. A read fetches
those generations and the value in one round trip (the backend's get_many: one MGET); any mismatch
is a miss. Clearing a domain is one `inc` (INCR), so bulk writes clear exactly like single ones and
every process sees it at once. Every entry, counter and lock goes through the backend Flask-Caching
built from the app's config (cache_store: Redis with REDIS_URL, else in-process; plain JSON entries in
both, never pickle; an unreadable entry is an error and a miss). Beside it: cache_stats.py counts hits
and misses (on the app's own Redis client, as monitoring and rate limits do), cache_maintenance.py is
the thread that flushes those counts and applies the outbox's recorded clears (outbox.py) each second.

Each cached read is declared once as a `Read` (its name and the domains it depends on); the API's
response cache and the pages' table cache derive their entries from it, so they cannot disagree
about what invalidates them. `prefetch()` fetches several entries and all their generations in one
round trip: a warm API request (token lookup + list body) costs exactly one.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from flask import Flask, current_app, g
from flask_caching.backends.base import BaseCache

from blueprints.core import cache_stats, cache_store, replicas
from blueprints.core.cache_entry import Entry
from blueprints.core.cache_store import UNREADABLE
from blueprints.core.extensions import cache, redis_handle
from models import CacheClear, db, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

DOMAINS = ("cadets", "grades", "training_days", "attendance", "merits", "settings", "users", "audit")
TTL_SECONDS = {"cadets": 300, "grades": 300, "training_days": 600, "settings": 1800}  # others: CACHE_DEFAULT_TIMEOUT
_LOCK_SECONDS = 10
_WAIT_FOR_BUILDER = 2.0

_pending_clears: set[str] = set()  # domains we failed to clear while Redis was unreachable
DEFERRED_CLEARS = "muster_deferred_clears"  # session.info key: the clears of the open write (outbox.py)


@dataclass(frozen=True)
class Read:
    """A cached read, declared once: its key name and the domains whose clearers invalidate it."""

    name: str
    domains: tuple[str, ...]
    ttl: int | None = None

    def derived(self, kind: str) -> Read:
        """Another representation of the same data (an API body, an HTML fragment): same domains."""
        return Read(f"{kind}:{self.name}", self.domains, self.ttl)

    def get(self, args: Any, build: Callable[[], T]) -> T:
        return cached(self.name, self.domains, args, build, self.ttl)


def init_app(app: Flask) -> None:
    """Build the app's cache backend through Flask-Caching, and its own Redis client for metrics."""
    # Metrics, the cache's hit counts, rate limits and health checks keep their own client: they use
    # hashes, pipelines and INFO, which a cache backend's get/set/inc API does not offer.
    redis_handle.init_app(app)
    cache_store.configure(app)
    cache.init_app(app)
    if not isinstance(store_for(app).serializer, cache_store.PlainSerializer):
        raise RuntimeError(f"CACHE_TYPE {app.config['CACHE_TYPE']} would pickle; use {cache_store.REDIS_BACKEND}")


def store_for(app: Flask) -> BaseCache:
    """The backend Flask-Caching built for this app; usable outside a request (the WSGI fast path)."""
    return app.extensions["cache"][cache]


def enabled() -> bool:
    return bool(current_app.config.get("MUSTER_CACHE", True))


def _prefix() -> str:
    return current_app.config["CACHE_KEY_PREFIX"]


def _gen_key(domain: str) -> str:
    return f"gen:{domain}"


def gen_key(domain: str) -> str:
    """The Redis key of a domain's generation, as Flask-Caching's backend stores it (with its prefix)."""
    return cache_store.stored_prefix(current_app.config) + _gen_key(domain)


def generation_client() -> redis.Redis | None:
    """The Redis client of Flask-Caching's backend (None when embedded). The outbox bumps generations
    through it in one script that also stores the commit's WAL position beside them (outbox.py):
    an atomic INCR-and-SET that BaseCache.inc cannot express, on the backend's own connection."""
    return getattr(cache.cache, "_write_client", None)


def make_key(name: str, args: Any) -> str:
    """The entry's key as the backend stores it (in Redis: what redis-cli shows)."""
    return cache_store.stored_prefix(current_app.config) + _data_key(name, args)


def _data_key(name: str, args: Any) -> str:
    digest = hashlib.sha256(repr(args).encode()).hexdigest()[:32]
    return f"data:{name}:{digest}"


# --- generations and clearing -----------------------------------------------------------------


def _flush_pending() -> bool:
    """Retry clears that failed while Redis was down; True when none are left."""
    if not _pending_clears:
        return True
    try:
        _bump(set(_pending_clears))
    except (redis.RedisError, OSError):
        return False
    _pending_clears.clear()
    return True


def _bump(domains: Iterable[str]) -> None:
    store = cache.cache
    for domain in sorted(domains):
        store.inc(_gen_key(domain))


def clear(*domains: str) -> None:
    """Invalidate every cached read that depends on any of these domains."""
    unknown = set(domains) - set(DOMAINS)
    if unknown:
        raise ValueError(f"unknown cache domains: {sorted(unknown)}")
    deferred = db.session.info.get(DEFERRED_CLEARS)
    if deferred is not None:  # inside a write's transaction: recorded with it (outbox.py), applied after commit
        deferred.update(domains)
        return
    try:
        _bump(domains)
    except (redis.RedisError, OSError):
        # Remember them: until they are applied this process bypasses the cache entirely, and the
        # database keeps them for every other process (and for after this one exits).
        log.warning("cache: could not clear %s, Redis unreachable; will retry", domains)
        _pending_clears.update(domains)
        _record_failed_clear(domains)


def _record_failed_clear(domains: Iterable[str]) -> None:
    try:
        with db.engine.begin() as conn:
            conn.execute(CacheClear.__table__.insert().values(
                namespace=_prefix(), domains=",".join(sorted(set(domains))), created_at=utcnow()))
    except Exception:  # the database is down too: this process's pending set still has them
        log.exception("cache: could not record a failed clear")


def defer_to_pollers(domains: Iterable[str]) -> None:
    """A clear kept in the outbox that Redis did not take: this process bypasses the cache until it is
    applied (by this process's retry or any process's poll of the outbox)."""
    _pending_clears.update(domains)


def prefetch(*entries: tuple[Read, Any]) -> None:
    """Fetch these (read, args) entries and their domains' generations in one round trip; the
    cached() calls that follow in this request use the result instead of asking again."""
    if not entries or not enabled() or _pending_clears:
        return
    keyed = [(_data_key(read.name, args), read.domains) for read, args in entries]
    try:
        fetched = _fetch(cache.cache, keyed)
    except (redis.RedisError, OSError, ValueError):
        return  # cached() will try again and count the error
    stored = g.setdefault("cache_prefetched", {})
    for (key, _), found in zip(keyed, fetched, strict=True):
        stored[key] = found


def current_values(app: Flask, store: BaseCache, entries: list[tuple[Read, Any]]) -> list[Any] | None:
    """The values of these entries if every one is stored and current, from one MGET; else None
    (missing, stale, unreadable, Redis away, or a clear still pending), and the caller takes the
    normal path, which counts its own outcome. Needs no request: the WSGI fast path calls it."""
    if _pending_clears:
        return None
    try:
        fetched = _fetch(store, [(_data_key(read.name, args), read.domains) for read, args in entries])
    except (redis.RedisError, OSError, ValueError):
        return None
    if not all(_current(stored, current) for current, stored in fetched):
        return None
    cache_stats.tally(app, app.config["CACHE_KEY_PREFIX"], "hit", [read.domains[0] for read, _ in entries])
    return [stored.value for _, stored in fetched]


def generations(read: Read) -> tuple[int, ...] | None:
    """The current generations of a read's domains, taken before building a value that is stored with
    store_built() (a write in between leaves it stale at once); None when the cache cannot take it."""
    if not enabled() or _pending_clears:
        return None
    try:
        return tuple(_generation(found) for found in cache.cache.get_many(*map(_gen_key, read.domains)))
    except (redis.RedisError, OSError, ValueError):
        return None


def store_built(read: Read, args: Any, gens: tuple[int, ...], value: Any) -> None:
    """Store a value built after generations() returned gens, replacing what was there. Fails open."""
    try:
        _write(_data_key(read.name, args), gens, value, read.ttl or TTL_SECONDS.get(read.domains[0]))
    except (redis.RedisError, OSError):
        log.warning("cache: write failed for %s", read.name)


def _fetch(store: BaseCache, keyed: list[tuple[str, tuple[str, ...]]]) -> list[tuple[tuple[int, ...], Any]]:
    """(the domains' current generations, the stored entry) for each (key, domains), from one
    get_many of every generation and entry."""
    domains = sorted({d for _, key_domains in keyed for d in key_domains})
    found = store.get_many(*[_gen_key(d) for d in domains], *[key for key, _ in keyed])
    gens = {d: _generation(x) for d, x in zip(domains, found, strict=False)}
    stored = found[len(domains):]
    return [(tuple(gens[d] for d in key_domains), value) for (_, key_domains), value in zip(keyed, stored, strict=True)]


def _generation(found: Any) -> int:
    if found is None:
        return 0
    if type(found) is not int:
        raise ValueError("a generation that is not a number")
    return found


def _current(stored: Any, gens: tuple[int, ...]) -> bool:
    return type(stored) is Entry and stored.gens == gens


def _read(key: str, domains: tuple[str, ...]) -> tuple[tuple[int, ...], Any]:
    """Current generations of the domains and the stored entry in one round trip."""
    prefetched = g.get("cache_prefetched")
    if prefetched and key in prefetched:
        return prefetched.pop(key)  # once: a rebuild's double check asks the store again
    return _fetch(cache.cache, [(key, domains)])[0]


def _write(key: str, gens: tuple[int, ...], value: Any, ttl: int | None) -> None:
    cache.cache.set(key, Entry(gens, value), timeout=ttl)


def cached(name: str, domains: tuple[str, ...], args: Any, build: Callable[[], T], ttl: int | None = None) -> T:
    """Return build()'s plain-data result, cached under the domains it depends on.

    Only one caller rebuilds a missing key at a time; the others wait briefly for its result.
    Any Redis error is a miss: the caller gets fresh data from the database.
    """
    primary = domains[0]
    if not enabled() or not _flush_pending():
        return build()
    ttl = ttl or TTL_SECONDS.get(primary)  # None: the backend's CACHE_DEFAULT_TIMEOUT
    key = _data_key(name, args)
    try:
        gens, stored = _read(key, domains)
    except (redis.RedisError, OSError, ValueError):  # ValueError: a generation that is not a number
        log.warning("cache: read failed for %s, serving from the database", name)
        cache_stats.count("error", primary)
        return build()
    if _current(stored, gens):
        cache_stats.count("hit", primary)
        return stored.value
    cache_stats.count("error" if stored is UNREADABLE else "miss", primary)
    return _rebuild(key, domains, ttl, build)


def _rebuild(key: str, domains: tuple[str, ...], ttl: int | None, build: Callable[[], T]) -> T:
    store = cache.cache
    lock_key = f"{key}:lock"
    try:
        got_lock = store.add(lock_key, 1, timeout=_LOCK_SECONDS)
    except (redis.RedisError, OSError):
        return build()
    if not got_lock:
        waited = _wait_for(key, domains)
        if waited is not None:
            return waited.value
        return build()
    try:
        # Double-checked: a builder that held the lock before us may have just written it.
        try:
            current, stored = _read(key, domains)
        except (redis.RedisError, OSError, ValueError):
            log.warning("cache: read failed for %s, serving from the database", key)
            return build()
        if _current(stored, current):
            return stored.value
        value = replicas.fill(domains, build)  # from a replica only if it has this generation's data
        try:
            _write(key, current, value, ttl)
        except (redis.RedisError, OSError):
            log.warning("cache: write failed for %s", key)
        except TypeError:  # a value with no plain form: a bug in the read, but never the caller's error
            log.exception("cache: %s cannot be stored as plain data", key)
        return value
    finally:
        _release(store, lock_key)


def _wait_for(key: str, domains: tuple[str, ...]) -> Entry | None:
    """Poll for the entry another request is building, for as long as we are willing to wait."""
    deadline = time.monotonic() + _WAIT_FOR_BUILDER
    while time.monotonic() < deadline:
        time.sleep(0.005)
        try:
            current, stored = _read(key, domains)
        except (redis.RedisError, OSError, ValueError):
            return None
        if _current(stored, current):
            return stored
    return None


def _release(store: BaseCache, lock_key: str) -> None:
    try:
        store.delete(lock_key)
    except (redis.RedisError, OSError):
        pass


# --- named clearers: one per domain, called by operations after commit -----------------------
# Each bumps only the domains its write changed. A read that shows data of several domains (the
# cadets list shows grades) declares all of them, so it is invalidated by any of their clearers.


def clear_cadets() -> None:
    clear("cadets")


def clear_grades() -> None:
    clear("grades")


def clear_training_days() -> None:
    """A training day was added or removed: its attendance rows and every cadet's grade changed."""
    clear("training_days", "attendance", "grades")


def clear_attendance() -> None:
    """Attendance changes the cadets' attendance counts and scores."""
    clear("attendance", "grades")


def clear_merits() -> None:
    """Merits change the cadets' merit points and aptitude scores."""
    clear("merits", "grades")


def clear_settings() -> None:
    clear("settings")


def clear_users() -> None:
    clear("users")


def clear_audit() -> None:
    clear("audit")
