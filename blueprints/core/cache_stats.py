"""The cache's hit, miss and error counts per domain, over every process sharing one Redis.

A count costs no round trip: it is kept in this process's memory and added to Redis (one hash per
cache namespace) once a second by the cache's maintenance thread (cache_maintenance.py). Embedded,
the counts stay in memory. The dashboard and /api/cache/stats read them with stats().
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable

import redis
from flask import Flask, current_app, g

from blueprints.core import cache_maintenance
from blueprints.core.extensions import redis_handle

log = logging.getLogger(__name__)

_unflushed: dict[tuple[str, str], int] = {}  # counts not yet added to Redis (all of them when embedded)
_local_lock = threading.Lock()
_flushing = threading.Lock()  # one flush at a time, and none while stats() reads


def _stats_key(prefix: str | None = None) -> str:
    return f"{current_app.config['CACHE_KEY_PREFIX'] if prefix is None else prefix}:stats:cache"


def count(outcome: str, domain: str) -> None:
    """Count a hit, miss or error for the domain in this request (g.cache_events, for the request's
    log) and for the totals."""
    g.setdefault("cache_events", []).append(outcome)
    tally(current_app._get_current_object(), current_app.config["CACHE_KEY_PREFIX"], outcome, (domain,))


def tally(app: Flask, prefix: str, outcome: str, domains: Iterable[str]) -> None:
    """Count an outcome once per domain; needs no request (the WSGI fast paths count their hits)."""
    with _local_lock:
        for domain in domains:
            slot = (_stats_key(prefix), f"{outcome}:{domain}")
            _unflushed[slot] = _unflushed.get(slot, 0) + 1
    cache_maintenance.ensure_running(app)


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


cache_maintenance.every_second(flush_stats)
