"""Caching of plain data by domain, with generation numbers for invalidation. Fails open.

A cached value is stored with the generations of the domains it was built from. A read fetches
those generations and the value in one round trip; any mismatch is a miss. Clearing a domain is one
INCR, so bulk writes clear exactly like single ones and every process sees it at once.
With REDIS_URL the cache talks to the app's own Redis client (extensions.redis_handle) and stores
plain JSON entries (cache_entry: never pickles; an unreadable entry is an error and a miss). Without
it, Flask-Caching's in-process cache holds the Python values.

Each cached read is declared once as a `Read` (its name and the domains it depends on); the API's
response cache and the pages' table cache derive their entries from it, so they cannot disagree
about what invalidates them. `prefetch()` fetches several entries and all their generations in one
round trip: a warm API request (token lookup + list body) costs exactly one.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

import redis
from flask import Flask, current_app, g

from blueprints.core import replicas
from blueprints.core.cache_entry import Unreadable, pack, unpack
from blueprints.core.extensions import cache, redis_handle
from models import CacheClear, db, utcnow

log = logging.getLogger(__name__)
T = TypeVar("T")

DOMAINS = ("cadets", "grades", "training_days", "attendance", "merits", "settings", "users", "audit")
TTL_SECONDS = {"cadets": 300, "grades": 300, "training_days": 600, "settings": 1800}
DEFAULT_TTL = 300
_LOCK_SECONDS = 10
_WAIT_FOR_BUILDER = 2.0

_FLUSH_SECONDS = 1.0
_unflushed: dict[tuple[str, str], int] = {}  # counts not yet added to Redis (all of them when embedded)
_local_lock = threading.Lock()
_flushing = threading.Lock()  # one stats flush at a time, and none while stats() reads
# Striped, not one per key: a fixed set of locks cannot grow with every distinct search term.
_build_locks = tuple(threading.Lock() for _ in range(64))
_pending_clears: set[str] = set()  # domains we failed to clear while Redis was unreachable
_MAINTENANCE = "muster_cache_maintenance_pid"  # app.extensions key: the pid whose thread serves that app
_every_second: list[Callable[[], object]] = []  # more maintenance (outbox.py applies the recorded clears)
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
    """Bind the app's Redis client; without REDIS_URL, the in-process cache instead."""
    redis_handle.init_app(app)
    if not app.config.get("REDIS_URL"):
        cache.init_app(app, config={"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": 5000,
                                    "CACHE_DEFAULT_TIMEOUT": DEFAULT_TTL})


def enabled() -> bool:
    return bool(current_app.config.get("MUSTER_CACHE", True))


def _prefix() -> str:
    return current_app.config["CACHE_KEY_PREFIX"]


def _gen_key(domain: str, prefix: str | None = None) -> str:
    return f"{_prefix() if prefix is None else prefix}:gen:{domain}"


def gen_key(domain: str) -> str:
    """The Redis key of a domain's generation."""
    return _gen_key(domain)


def _stats_key(prefix: str | None = None) -> str:
    return f"{_prefix() if prefix is None else prefix}:stats:cache"


def make_key(name: str, args: Any) -> str:
    return _data_key(_prefix(), name, args)


def _data_key(prefix: str, name: str, args: Any) -> str:
    digest = hashlib.sha256(repr(args).encode()).hexdigest()[:32]
    return f"{prefix}:data:{name}:{digest}"


# --- counters ---------------------------------------------------------------------------------


def _count(outcome: str, domain: str) -> None:
    """Count a hit, miss or error for the domain. Counted in memory and added to Redis once a second
    by a background thread, so counting costs no round trip; every process adds to one total."""
    g.setdefault("cache_events", []).append(outcome)
    _tally(current_app._get_current_object(), _prefix(), outcome, (domain,))


def _tally(app: Flask, prefix: str, outcome: str, domains: Iterable[str]) -> None:
    with _local_lock:
        for domain in domains:
            slot = (_stats_key(prefix), f"{outcome}:{domain}")
            _unflushed[slot] = _unflushed.get(slot, 0) + 1
    if app.extensions.get(_MAINTENANCE) != os.getpid():
        _start_maintenance(app)


def _start_maintenance(app: Flask) -> None:
    """A daemon thread per app and process (a forked worker starts its own): once a second it adds
    the counts to Redis and applies the clears that failed while Redis was unreachable."""
    with _local_lock:
        if app.extensions.get(_MAINTENANCE) == os.getpid():
            return
        app.extensions[_MAINTENANCE] = os.getpid()

    def run() -> None:
        while True:
            time.sleep(_FLUSH_SECONDS)
            try:
                with app.app_context():
                    flush_stats()
                    for task in _every_second:
                        task()
            except Exception as exc:  # never let bookkeeping kill the thread; try again next second
                log.warning("cache: background maintenance failed: %s", str(exc)[:200])

    threading.Thread(target=run, name="muster-cache-maintenance", daemon=True).start()


def every_second(task: Callable[[], object]) -> None:
    """Run this in each process's maintenance thread, once a second, inside the app's context."""
    _every_second.append(task)


def flush_stats() -> None:
    """Move this process's counts into Redis (kept in memory when Redis is unset or down)."""
    with _flushing:
        _flush_stats()


def _flush_stats() -> None:
    client = redis_handle.client()
    with _local_lock:
        if client is None or not _unflushed:
            return
        pending = dict(_unflushed)
        _unflushed.clear()
    try:
        pipe = client.pipeline(transaction=False)
        for (key, field), value in pending.items():
            pipe.hincrby(key, field, value)
        pipe.execute()
    except redis.RedisError:
        with _local_lock:
            for slot, value in pending.items():
                _unflushed[slot] = _unflushed.get(slot, 0) + value


def stats() -> dict[str, dict[str, int]]:
    """Hits, misses and errors per domain, over every process sharing this Redis."""
    mine = _stats_key()
    client = redis_handle.client()
    # Read both halves with no flush in flight: one between them would count its batch in neither.
    with _flushing:
        _flush_stats()
        with _local_lock:
            raw: dict[str, int] = {field: n for (key, field), n in _unflushed.items() if key == mine}
        if client is not None:
            try:
                for field, value in client.hgetall(mine).items():
                    key = field.decode()
                    raw[key] = raw.get(key, 0) + int(value)
            except redis.RedisError:
                pass
    out: dict[str, dict[str, int]] = {}
    for field, value in raw.items():
        outcome, _, domain = field.partition(":")
        out.setdefault(domain, {"hit": 0, "miss": 0, "error": 0})[outcome] = value
    return out


def reset_stats() -> None:
    mine = _stats_key()
    with _local_lock:
        for slot in [slot for slot in _unflushed if slot[0] == mine]:
            del _unflushed[slot]
    client = redis_handle.client()
    if client is not None:
        try:
            client.delete(_stats_key())
        except redis.RedisError:
            log.warning("cache: could not reset stats, Redis unreachable")


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
    client = redis_handle.client()
    if client is not None:
        pipe = client.pipeline(transaction=False)
        for domain in domains:
            pipe.incr(_gen_key(domain))
        pipe.execute()
        return
    for domain in domains:
        key = _gen_key(domain)
        with _local_lock:
            cache.set(key, (cache.get(key) or 0) + 1, timeout=0)


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
    keyed = [(make_key(read.name, args), read.domains) for read, args in entries]
    try:
        fetched = _fetch(_prefix(), redis_handle.client(), keyed)
    except (redis.RedisError, OSError, ValueError):
        return  # cached() will try again and count the error
    stored = g.setdefault("cache_prefetched", {})
    for (key, _), found in zip(keyed, fetched, strict=True):
        stored[key] = found


def current_values(app: Flask, client: redis.Redis, entries: list[tuple[Read, Any]]) -> list[Any] | None:
    """The values of these entries if every one is stored and current, from one MGET; else None
    (missing, stale, unreadable, Redis away, or a clear still pending), and the caller takes the
    normal path, which counts its own outcome. Needs no request: the WSGI fast path calls it."""
    if _pending_clears:
        return None
    prefix = app.config["CACHE_KEY_PREFIX"]
    try:
        fetched = _fetch(prefix, client, [(_data_key(prefix, read.name, args), read.domains) for read, args in entries])
    except (redis.RedisError, OSError, ValueError):
        return None
    if not all(_current(stored, current) for current, stored in fetched):
        return None
    _tally(app, prefix, "hit", [read.domains[0] for read, _ in entries])
    return [stored[1] for _, stored in fetched]


def _fetch(prefix: str, client: redis.Redis | None,
           keyed: list[tuple[str, tuple[str, ...]]]) -> list[tuple[tuple[int, ...], Any]]:
    """(the domains' current generations, the stored entry) for each (key, domains), from one
    multi-get of every generation and entry: Redis (entries decoded) or the in-process cache."""
    domains = sorted({d for _, key_domains in keyed for d in key_domains})
    gen_keys = [_gen_key(d, prefix) for d in domains]
    keys = [key for key, _ in keyed]
    if client is None:
        found = list(cache.get_many(*gen_keys, *keys))
        stored = found[len(domains):]
    else:
        found = client.mget(gen_keys + keys)
        stored = [_entry(blob) for blob in found[len(domains):]]
    gens = {d: int(x or 0) for d, x in zip(domains, found, strict=False)}
    return [(tuple(gens[d] for d in key_domains), value) for (_, key_domains), value in zip(keyed, stored, strict=True)]


UNREADABLE = object()  # a stored blob that is not one of our entries: counted as an error, rebuilt


def _entry(blob: bytes | None) -> tuple[tuple[int, ...], Any] | object | None:
    """A stored Redis entry as (generations, value); None when absent, UNREADABLE when not ours."""
    if blob is None:
        return None
    try:
        return unpack(blob)
    except Unreadable as exc:
        log.warning("cache: refused an unreadable entry (%s)", exc)
        return UNREADABLE


def _current(stored: Any, gens: tuple[int, ...]) -> bool:
    return type(stored) is tuple and stored[0] == gens


def _read(key: str, domains: tuple[str, ...]) -> tuple[tuple[int, ...], Any]:
    """Current generations of the domains and the stored (generations, value) in one round trip."""
    prefetched = g.get("cache_prefetched")
    if prefetched and key in prefetched:
        return prefetched.pop(key)  # once: a rebuild's double check asks the store again
    return _fetch(_prefix(), redis_handle.client(), [(key, domains)])[0]


def _write(key: str, gens: tuple[int, ...], value: Any, ttl: int) -> None:
    client = redis_handle.client()
    if client is not None:
        client.set(key, pack(gens, value), ex=ttl)
    else:
        cache.set(key, (gens, value), timeout=ttl)


def cached(name: str, domains: tuple[str, ...], args: Any, build: Callable[[], T], ttl: int | None = None) -> T:
    """Return build()'s plain-data result, cached under the domains it depends on.

    Only one caller rebuilds a missing key at a time; the others wait briefly for its result.
    Any Redis error is a miss: the caller gets fresh data from the database.
    """
    primary = domains[0]
    if not enabled() or not _flush_pending():
        return build()
    ttl = ttl or TTL_SECONDS.get(primary, DEFAULT_TTL)
    key = make_key(name, args)
    try:
        gens, stored = _read(key, domains)
    except (redis.RedisError, OSError, ValueError):  # ValueError: a generation that is not a number
        log.warning("cache: read failed for %s, serving from the database", name)
        _count("error", primary)
        return build()
    if _current(stored, gens):
        _count("hit", primary)
        return stored[1]
    _count("error" if stored is UNREADABLE else "miss", primary)
    return _rebuild(key, gens, domains, ttl, build)


def _rebuild(key: str, gens: tuple[int, ...], domains: tuple[str, ...], ttl: int, build: Callable[[], T]) -> T:
    client = redis_handle.client()
    lock_key = f"{key}:lock"
    try:
        if client is not None:
            got_lock = client.set(lock_key, b"1", nx=True, ex=_LOCK_SECONDS)
        else:
            got_lock = _build_lock(key).acquire(timeout=_WAIT_FOR_BUILDER)
    except (redis.RedisError, OSError):
        return build()
    if not got_lock:
        waited = _wait_for(key, gens, domains)
        if waited is not None:
            return waited[1]
        return build()
    try:
        # Double-checked: a builder that held the lock before us may have just written it.
        try:
            current, stored = _read(key, domains)
        except (redis.RedisError, OSError, ValueError):
            log.warning("cache: read failed for %s, serving from the database", key)
            return build()
        if _current(stored, current):
            return stored[1]
        value = replicas.fill(domains, build)  # from a replica only if it has this generation's data
        try:
            _write(key, current, value, ttl)
        except (redis.RedisError, OSError):
            log.warning("cache: write failed for %s", key)
        except TypeError:  # a value with no plain form: a bug in the read, but never the caller's error
            log.exception("cache: %s cannot be stored as plain data", key)
        return value
    finally:
        _release(client, lock_key, key)


def _build_lock(key: str) -> threading.Lock:
    return _build_locks[hash(key) % len(_build_locks)]


def _wait_for(key: str, gens: tuple[int, ...], domains: tuple[str, ...]) -> tuple | None:
    """Poll for another request's rebuild (Redis), or take the lock after it (in-process)."""
    client = redis_handle.client()
    if client is None:
        return None  # acquire() above already waited as long as we are willing to
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


def _release(client: redis.Redis | None, lock_key: str, key: str) -> None:
    try:
        if client is not None:
            client.delete(lock_key)
        else:
            _build_lock(key).release()
    except (redis.RedisError, OSError, RuntimeError, KeyError):
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
