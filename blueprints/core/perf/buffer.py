"""Per-process aggregation between writes, so a request never waits for the statistics store.

Each finished request is added to an in-memory batch (a few dict updates under a lock). A daemon
thread writes the batch to Redis once a second in one pipeline, with a heartbeat of this process's
busy threads; a Redis error drops that batch, is logged, and is shown on the dashboard. Measured
on this machine: one pipelined write per request costs ~0.23 ms, one per second costs nothing a
request can see. Readers flush every buffer of this process first, so a page shows what it just did.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import os
import socket
import threading
import time
import weakref

import redis

from blueprints.core.perf.histogram import bucket_index
from blueprints.core.perf.store import FIELDS, TOP_N, Batch, MemoryStore, RedisStore, new_row

log = logging.getLogger(__name__)

_N, _US, _Q, _DBUS, _E5, _E4, _CH, _CM, _SLOW = range(len(FIELDS))
_buffers: weakref.WeakSet[Buffer] = weakref.WeakSet()
_seq = itertools.count()
_WARN_EVERY = 60.0


class Buffer:
    """Batches of finished requests by key prefix, and this process's busy-thread count."""

    def __init__(self, store: RedisStore | MemoryStore, threads: int, interval: float = 1.0) -> None:
        self.store = store
        self.threads = threads
        self.interval = interval
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{next(_seq)}"
        self.busy = 0
        self.peak = 0
        self.last_error: float | None = None
        self.last_ok: float | None = None
        self.prefix = ""
        self._batches: dict[str, Batch] = {}
        self._top: dict[tuple[str, int], list[float]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._warned = 0.0
        _buffers.add(self)

    # --- request side: cheap, never touches the network -------------------------------------

    def enter(self) -> None:
        with self._lock:
            self.busy += 1
            self.peak = max(self.peak, self.busy)

    def leave(self) -> None:
        with self._lock:
            self.busy -= 1

    def wants_sample(self, prefix: str, hour: int, ms: float) -> bool:
        """Is this request among the TOP_N slowest this process has seen this hour?"""
        with self._lock:
            heap = self._top.get((prefix, hour))
            return heap is None or len(heap) < TOP_N or ms > heap[0]

    def add(self, prefix: str, record: dict, sample: dict | None, findings: list[tuple[str, str, int, dict]]) -> None:
        """Add one finished request (see recorder.finish_request for the record's keys)."""
        minute = int(record["at"]) // 60
        with self._lock:
            batch, row = self._row(prefix, minute, record["endpoint"])
            row[_N] += 1
            row[_US] += int(record["ms"] * 1000)
            row[_Q] += record["queries"]
            row[_DBUS] += int(record["db_ms"] * 1000)
            row[_E5] += record["status"] >= 500
            row[_E4] += 400 <= record["status"] < 500
            row[_CH] += record["cache_hits"]
            row[_CM] += record["cache_misses"]
            row[_SLOW] += record["slow"]
            row[len(FIELDS) + bucket_index(record["ms"])] += 1
            if sample is not None:
                self._keep_top(prefix, minute // 60, record["ms"])
                batch.top.append((minute // 60, record["ms"], sample))
            for kind, ident, us, found in findings:
                entry = batch.findings.setdefault((kind, ident), [0, 0, found])
                entry[0] += 1
                entry[1] += us
                entry[2] = found
        self._written()

    def add_cache_hit(self, prefix: str, endpoint: str, at: float, ms: float, cache_hits: int) -> None:
        """add() for a request answered from the cache before Flask: 200, no SQL, not slow. The
        lean path keeps the monitoring cost of a ~0.1 ms request within a few per cent."""
        with self._lock:
            _, row = self._row(prefix, int(at) // 60, endpoint)
            row[_N] += 1
            row[_US] += int(ms * 1000)
            row[_CH] += cache_hits
            row[len(FIELDS) + bucket_index(ms)] += 1
        self._written()

    def _row(self, prefix: str, minute: int, endpoint: str) -> tuple[Batch, list]:
        """The batch and the (minute, endpoint) row to add to; the caller holds the lock."""
        self.prefix = prefix
        batch = self._batches.get(prefix)
        if batch is None:
            batch = self._batches[prefix] = Batch()
        row = batch.rows.get((minute, endpoint))
        if row is None:
            row = batch.rows[(minute, endpoint)] = new_row()
        return batch, row

    def _written(self) -> None:
        if isinstance(self.store, MemoryStore):
            self.flush()  # in-process: no network, apply at once
        elif self._thread is None:
            self._start()

    def _keep_top(self, prefix: str, hour: int, ms: float) -> None:
        key = (prefix, hour)
        if key not in self._top:
            self._top = {k: v for k, v in self._top.items() if k[1] >= hour}
        heap = self._top.setdefault(key, [])
        if len(heap) < TOP_N:
            heapq.heappush(heap, ms)
        else:
            heapq.heappushpop(heap, ms)

    # --- writer side ----------------------------------------------------------------------------

    def _heartbeat(self) -> dict:
        with self._lock:
            beat = {"busy": self.busy, "peak": self.peak, "threads": self.threads, "at": time.time()}
            self.peak = self.busy
        return beat

    def flush(self) -> bool:
        """Write pending batches (and a heartbeat); False when the store could not be reached."""
        with self._lock:
            batches, self._batches = self._batches, {}
        if not batches and not self.prefix:
            return True
        beat = (self.worker_id, self._heartbeat())
        try:
            for prefix, batch in batches.items() or [(self.prefix, Batch())]:
                self.store.apply(prefix, batch, beat if prefix == self.prefix else None)
        except (redis.RedisError, OSError) as exc:
            self.last_error = time.time()
            if self.last_error - self._warned > _WARN_EVERY:
                self._warned = self.last_error
                log.warning("perf: statistics store unreachable, dropping a batch (%s)", exc.__class__.__name__)
            return False
        self.last_ok = time.time()
        return True

    def clear(self, prefix: str) -> None:
        """Forget pending data for a prefix (the statistics are being reset)."""
        with self._lock:
            self._batches.pop(prefix, None)
            self._top = {k: v for k, v in self._top.items() if k[0] != prefix}

    def _start(self) -> None:
        with self._lock:
            if self._thread is not None:
                return
            self._thread = threading.Thread(target=self._run, name="muster-perf-writer", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.flush()
            except Exception:  # the writer must never die: the next tick retries
                log.exception("perf: writer failed")

    def stop(self) -> None:
        """Flush what is pending and stop the writer thread (tests and shutdown)."""
        self._stop.set()
        _buffers.discard(self)
        if self._thread is not None:
            self._thread.join(timeout=2)
        self.flush()


def flush_all() -> None:
    """Write every buffer of this process, so a read includes the requests just served."""
    for buffer in list(_buffers):
        buffer.flush()


def clear_all(prefix: str) -> None:
    """Forget every buffer's pending data for a prefix (before the store is reset)."""
    for buffer in list(_buffers):
        buffer.clear(prefix)
