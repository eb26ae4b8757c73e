"""The cache's maintenance thread: once a second, in every process, the cache's bookkeeping.

One daemon thread per app and process (a forked worker starts its own, on its first counted cache
event). Its tasks are registered with every_second(): the hit/miss counts are added to Redis
(cache_stats.py) and the cache clears recorded in the outbox are applied when one may be pending
(outbox.py, outbox_watch.py).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from flask import Flask

log = logging.getLogger(__name__)

_SECONDS = 1.0
_RUNNING = "muster_cache_maintenance_pid"  # app.extensions key: the pid whose thread serves that app
_tasks: list[Callable[[], object]] = []
_lock = threading.Lock()


def every_second(task: Callable[[], object]) -> None:
    """Run this in each process's maintenance thread, once a second, inside the app's context."""
    _tasks.append(task)


def ensure_running(app: Flask) -> None:
    """Start this process's thread for the app, unless it runs already (cheap: called per cache event)."""
    if app.extensions.get(_RUNNING) == os.getpid():
        return
    with _lock:
        if app.extensions.get(_RUNNING) == os.getpid():
            return
        app.extensions[_RUNNING] = os.getpid()
    threading.Thread(target=_run, args=(app,), name="muster-cache-maintenance", daemon=True).start()


def _run(app: Flask) -> None:
    while True:
        time.sleep(_SECONDS)
        try:
            with app.app_context():
                for task in _tasks:
                    task()
        except Exception as exc:  # never let bookkeeping kill the thread; try again next second
            log.warning("cache: background maintenance failed: %s", str(exc)[:200])
