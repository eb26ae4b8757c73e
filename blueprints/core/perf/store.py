"""Where the aggregates live: Redis (shared by every process) or, embedded, this process's memory.

Layout under `<CACHE_KEY_PREFIX>:perf:` (every key bounded and expiring):
  m:<epoch minute>, h:<epoch hour>  hash "<METHOD endpoint>|<field>" -> integer (see FIELDS, b<i>)
  t:0                               the same, running totals since the last reset (Prometheus counters)
  top:<epoch hour>                  sorted set of the slowest request samples of that hour (JSON)
  slowq, n1                         hash "<statement id>|<site>|n|us|j": count, total us, last sample
  workers                           hash "<host:pid:n>" -> JSON heartbeat (busy threads)
Durations are stored as integer microseconds so HINCRBY can add them exactly.
"""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import redis

from blueprints.core.perf.histogram import BUCKETS

FIELDS = ("n", "us", "q", "dbus", "e5", "e4", "ch", "cm", "slow")
ROW_SIZE = len(FIELDS) + BUCKETS
_INDEX = {name: i for i, name in enumerate(FIELDS)} | {f"b{i}": len(FIELDS) + i for i in range(BUCKETS)}
MINUTE_TTL = 2 * 3600  # minute buckets serve the 5-minute and hour windows
HOUR_TTL = 25 * 3600  # hour buckets serve the day window
TOTAL_TTL = 7 * 24 * 3600  # totals idle for a week start again from 0 (a counter reset to Prometheus)
_TTL = {"m": MINUTE_TTL, "h": HOUR_TTL, "t": TOTAL_TTL}
TOP_N = 20
SAMPLE_TTL = 25 * 3600

Row = list[int]


def new_row() -> Row:
    return [0] * ROW_SIZE


def add_rows(into: Row, other: Row) -> None:
    for i, v in enumerate(other):
        into[i] += v


@dataclass
class Batch:
    """Aggregates of the requests one process saw since its last write."""

    rows: dict[tuple[int, str], Row] = field(default_factory=dict)  # (epoch minute, endpoint) -> row
    top: list[tuple[int, float, dict]] = field(default_factory=list)  # (epoch hour, ms, sample)
    findings: dict[tuple[str, str], list] = field(default_factory=dict)  # (kind, key) -> [n, us, sample]

    def __bool__(self) -> bool:
        return bool(self.rows or self.top or self.findings)

    def by_bucket(self) -> dict[tuple[str, int], dict[str, Row]]:
        """Rows rolled up into minute and hour buckets, and into the running totals."""
        out: dict[tuple[str, int], dict[str, Row]] = {}
        for (minute, endpoint), row in self.rows.items():
            for bucket in (("m", minute), ("h", minute // 60), ("t", 0)):
                target = out.setdefault(bucket, {}).setdefault(endpoint, new_row())
                add_rows(target, row)
        return out


def _decode_rows(raw: dict) -> dict[str, Row]:
    rows: dict[str, Row] = {}
    for key, value in raw.items():
        endpoint, _, name = (key.decode() if isinstance(key, bytes) else key).rpartition("|")
        index = _INDEX.get(name)
        if index is not None:
            rows.setdefault(endpoint, new_row())[index] = int(value)
    return rows


def _decode_findings(raw: dict) -> list[dict]:
    grouped: dict[str, dict[str, Any]] = {}
    for key, value in raw.items():
        ident, _, name = (key.decode() if isinstance(key, bytes) else key).rpartition("|")
        grouped.setdefault(ident, {})[name] = value
    out = []
    for parts in grouped.values():
        if "j" not in parts:
            continue
        sample = json.loads(parts["j"])
        sample["seen"] = int(parts.get("n", 0))
        sample["total_ms"] = int(parts.get("us", 0)) / 1000
        out.append(sample)
    return out


class RedisStore:
    """Aggregates in Redis; every process adds its batches, every reader sees the sum."""

    kind = "redis"

    def __init__(self, client: redis.Redis) -> None:
        self.client = client

    def apply(self, prefix: str, batch: Batch, heartbeat: tuple[str, dict] | None = None) -> None:
        pipe = self.client.pipeline(transaction=False)
        for (kind, bucket), rows in batch.by_bucket().items():
            key = f"{prefix}{kind}:{bucket}"
            for endpoint, row in rows.items():
                for name, index in _INDEX.items():
                    if row[index]:
                        pipe.hincrby(key, f"{endpoint}|{name}", row[index])
            pipe.expire(key, _TTL[kind])
        for hour, ms, sample in batch.top:
            key = f"{prefix}top:{hour}"
            pipe.zadd(key, {json.dumps(sample): ms})
            pipe.zremrangebyrank(key, 0, -TOP_N - 1)
            pipe.expire(key, SAMPLE_TTL)
        for (kind, ident), (n, us, sample) in batch.findings.items():
            key = f"{prefix}{kind}"
            pipe.hincrby(key, f"{ident}|n", n)
            pipe.hincrby(key, f"{ident}|us", us)
            pipe.hset(key, f"{ident}|j", json.dumps(sample))
            pipe.expire(key, SAMPLE_TTL)
        if heartbeat is not None:
            pipe.hset(f"{prefix}workers", heartbeat[0], json.dumps(heartbeat[1]))
            pipe.expire(f"{prefix}workers", 3600)
        pipe.execute()

    def buckets(self, prefix: str, kind: str, ids: list[int]) -> dict[int, dict[str, Row]]:
        pipe = self.client.pipeline(transaction=False)
        for bucket in ids:
            pipe.hgetall(f"{prefix}{kind}:{bucket}")
        return {bucket: _decode_rows(raw) for bucket, raw in zip(ids, pipe.execute(), strict=True)}

    def top(self, prefix: str, hours: list[int]) -> list[dict]:
        pipe = self.client.pipeline(transaction=False)
        for hour in hours:
            pipe.zrange(f"{prefix}top:{hour}", 0, -1)
        return [json.loads(raw) for members in pipe.execute() for raw in members]

    def findings(self, prefix: str, kind: str) -> list[dict]:
        return _decode_findings(self.client.hgetall(f"{prefix}{kind}"))

    def workers(self, prefix: str) -> list[dict]:
        raw = self.client.hgetall(f"{prefix}workers")
        return [{"id": k.decode(), **json.loads(v)} for k, v in raw.items()]

    def reset(self, prefix: str) -> None:
        pattern = re.sub(r"([*?\[\]\\])", r"\\\1", prefix) + "*"
        keys = list(self.client.scan_iter(match=pattern, count=1000))
        for i in range(0, len(keys), 500):
            self.client.delete(*keys[i:i + 500])

    def ping(self) -> bool:
        try:
            return bool(self.client.ping())
        except (redis.RedisError, OSError):
            return False


class _Memory:
    def __init__(self) -> None:
        self.buckets: dict[tuple[str, int], dict[str, Row]] = {}
        self.top: dict[int, list[tuple[float, str]]] = {}
        self.findings: dict[str, dict[str, Any]] = {"slowq": {}, "n1": {}}
        self.workers: dict[str, dict] = {}
        self.expired_at = 0.0


class MemoryStore:
    """The same aggregates in this process only (embedded mode, no REDIS_URL)."""

    kind = "memory"
    _data: dict[str, _Memory] = {}
    _lock = threading.Lock()

    def _get(self, prefix: str) -> _Memory:
        return self._data.setdefault(prefix, _Memory())

    def apply(self, prefix: str, batch: Batch, heartbeat: tuple[str, dict] | None = None) -> None:
        with self._lock:
            data = self._get(prefix)
            for bucket, rows in batch.by_bucket().items():
                target = data.buckets.setdefault(bucket, {})
                for endpoint, row in rows.items():
                    add_rows(target.setdefault(endpoint, new_row()), row)
            for hour, ms, sample in batch.top:
                kept = data.top.setdefault(hour, [])
                kept.append((ms, json.dumps(sample)))
                kept.sort(key=lambda item: item[0], reverse=True)
                del kept[TOP_N:]
            for (kind, ident), (n, us, sample) in batch.findings.items():
                found = data.findings[kind].setdefault(ident, {"n": 0, "us": 0})
                found["n"] += n
                found["us"] += us
                found["j"] = json.dumps(sample)
            if heartbeat is not None:
                data.workers[heartbeat[0]] = heartbeat[1]
            self._expire(data)

    @staticmethod
    def _expire(data: _Memory) -> None:
        now = time.time()
        if now - data.expired_at < 60:
            return
        data.expired_at = now
        # The totals (bucket 0) live as long as this process, like any in-process counter.
        oldest = {"m": int(now - MINUTE_TTL) // 60, "h": int(now - HOUR_TTL) // 3600, "t": 0}
        for kind, bucket in [b for b in data.buckets if b[1] < oldest[b[0]]]:
            del data.buckets[(kind, bucket)]
        for hour in [h for h in data.top if h < oldest["h"]]:
            del data.top[hour]

    def buckets(self, prefix: str, kind: str, ids: list[int]) -> dict[int, dict[str, Row]]:
        with self._lock:
            data = self._get(prefix)
            return {b: {e: list(r) for e, r in data.buckets.get((kind, b), {}).items()} for b in ids}

    def top(self, prefix: str, hours: list[int]) -> list[dict]:
        with self._lock:
            data = self._get(prefix)
            return [json.loads(raw) for hour in hours for _, raw in data.top.get(hour, [])]

    def findings(self, prefix: str, kind: str) -> list[dict]:
        with self._lock:
            raw = {f"{ident}|{name}": value for ident, parts in self._get(prefix).findings[kind].items()
                   for name, value in parts.items()}
        return _decode_findings(raw)

    def workers(self, prefix: str) -> list[dict]:
        with self._lock:
            return [{"id": k, **v} for k, v in self._get(prefix).workers.items()]

    def reset(self, prefix: str) -> None:
        with self._lock:
            self._data.pop(prefix, None)

    def ping(self) -> bool:
        return True
