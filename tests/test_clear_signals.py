"""The outbox of cache clears is polled only while a clear is pending (blueprints/core/outbox_watch.py):
an idle process sends it nothing; a writer killed after its commit still has its clear applied by
another process within seconds; a listener that hears nothing, a lost listener connection and SQLite
all fall back to polling every second."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import redis
from sqlalchemy import make_url, text

from app import create_app
from blueprints.core import cache, cache_maintenance, outbox_watch
from blueprints.core.operations.cadets import update_cadet
from models import User, db
from tests.conftest import statements_sent
from tests.factories import make_cadet, make_user

MAINTENANCE = "muster-cache-maintenance"  # cache_maintenance's thread name


def _needs_pg_redis(app) -> None:
    if not app.config.get("REDIS_URL") or db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL and Redis: LISTEN/NOTIFY between processes")


@contextmanager
def _process(base, suffix: str, **config) -> Iterator:
    """Another app on the same database, its own cache namespace, its maintenance thread running
    (as a second waitress process would be)."""
    other = create_app({"MUSTER_ENV": "testing", "TESTING": True, "SECRET_KEY": base.config["SECRET_KEY"],
                        "SQLALCHEMY_DATABASE_URI": config.pop("uri", base.config["SQLALCHEMY_DATABASE_URI"]),
                        "REDIS_URL": base.config.get("REDIS_URL"),
                        "CACHE_KEY_PREFIX": f"{base.config['CACHE_KEY_PREFIX']}-{suffix}", "OUTBOX_LISTEN": True,
                        **config})
    cache_maintenance.ensure_running(other)
    try:
        with other.app_context():
            yield other
    finally:
        with other.app_context():
            db.session.remove()


def _maintenance_statements(app) -> Iterator[list[str]]:
    """The statements the app's cache maintenance thread sends to its database from now on."""
    return statements_sent(db.engine, lambda: threading.current_thread().name == MAINTENANCE)


def _polls(sent: list[str]) -> int:
    return sum("FROM cache_clears" in s for s in sent)


def _outbox_rows(app) -> int:
    with db.engine.connect() as conn:  # a fresh snapshot each time
        return conn.execute(text("SELECT count(*) FROM cache_clears WHERE namespace = :ns"),
                            {"ns": app.config["CACHE_KEY_PREFIX"]}).scalar()


def _wait(condition: Callable[[], bool], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_an_idle_process_sends_the_outbox_no_query_and_a_live_writer_costs_no_poll(app):
    _needs_pg_redis(app)
    admin = make_user("admin")
    cadet = make_cadet(admin, first_name="A")
    with _process(app, "idle") as other, _maintenance_statements(other) as sent:
        watch = outbox_watch.watch_for(other)
        assert _wait(lambda: watch.hearing, 8), "the listener never heard its probe"
        assert _polls(sent) >= 1 and any("pg_notify" in s for s in sent)  # the catch-up poll, the probe
        sent.clear()
        time.sleep(4.5)
        assert sent == []  # idle: no statement at all for four ticks
        update_cadet(db.session.get(User, admin.id), cadet, {"first_name": "B"})  # applied by its writer
        time.sleep(2.5)  # heard at the next tick and checked in Redis: noted as applied by its writer
        assert sent == []


def test_the_sweep_deletes_applied_rows_only_after_writes(app, monkeypatch):
    """Rows their writers applied are garbage: swept once a minute (here every 2 s), and only if any
    row was heard of since the last sweep."""
    _needs_pg_redis(app)
    monkeypatch.setattr(outbox_watch, "SWEEP_SECONDS", 2.0)
    admin = make_user("admin")
    cadet = make_cadet(admin, first_name="A")
    with _process(app, "sweep") as other, _maintenance_statements(other) as sent:
        watch = outbox_watch.watch_for(other)
        assert _wait(lambda: watch.hearing, 8)
        time.sleep(2.5)
        sent.clear()
        time.sleep(2.5)
        assert sent == []  # a sweep came due, but nothing was heard: no poll
        update_cadet(db.session.get(User, admin.id), cadet, {"first_name": "B"})
        assert _outbox_rows(other) == 1  # applied by its writer, still in the table
        assert _wait(lambda: _outbox_rows(other) == 0, 5)  # deleted by the next sweep
        assert _polls(sent) >= 1


def test_a_writer_killed_after_commit_has_its_clear_applied_by_a_listening_process(app):
    _needs_pg_redis(app)
    admin = make_user("admin")
    cadet = make_cadet(admin, first_name="v0")
    with _process(app, "listener") as other, _maintenance_statements(other) as sent:
        watch = outbox_watch.watch_for(other)
        assert _wait(lambda: watch.hearing, 8)
        gen = redis.Redis.from_url(other.config["REDIS_URL"])
        key = cache.gen_key("cadets")
        env = {**os.environ, "TEST_DATABASE_URL": other.config["SQLALCHEMY_DATABASE_URI"],
               "REDIS_URL": other.config["REDIS_URL"], "CACHE_KEY_PREFIX": other.config["CACHE_KEY_PREFIX"]}
        writer = subprocess.Popen([sys.executable, "-m", "tests.killed_writer"], cwd=Path(__file__).parent.parent,
                                  env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        seconds, unapplied = [], 0
        try:
            for run in range(1, 6):
                before = gen.get(key)
                writer.stdin.write(f"{admin.id} {cadet} v{run}\n")
                writer.stdin.flush()
                sig, _pid = writer.stdout.readline().split()
                killed_at = time.monotonic()
                assert int(sig) == signal.SIGKILL
                unapplied += gen.get(key) == before
                assert _wait(lambda: gen.get(key) != before, 5.0), f"run {run}: the clear was never applied"  # noqa: B023
                seconds.append(time.monotonic() - killed_at)
        finally:
            writer.stdin.close()
            writer.wait(timeout=30)
        assert unapplied > 0 and _polls(sent) >= 1  # the writer died first; this process polled for it
        print("killed writer's clear applied by the listener after (s):", [round(s, 2) for s in seconds])


def test_a_listener_that_hears_nothing_is_found_out_and_the_process_polls(app, caplog):
    """LISTEN on another database (as behind PgBouncer's transaction pooling) hears no write's commit:
    the probe sent through the app's pool never comes back, so the process polls every second."""
    _needs_pg_redis(app)
    deaf = make_url(app.config["SQLALCHEMY_DATABASE_URI"]).set(database="postgres").render_as_string(False)
    caplog.set_level(logging.WARNING, logger=outbox_watch.__name__)
    with _process(app, "deaf", DATABASE_LISTEN_URL=deaf) as other, _maintenance_statements(other) as sent:
        watch = outbox_watch.watch_for(other)
        assert _wait(lambda: any("hears nothing" in r.getMessage() for r in caplog.records), 12)
        sent.clear()
        time.sleep(3.5)
        assert not watch.hearing and _polls(sent) >= 3


def test_a_lost_listener_connection_polls_until_it_hears_again(app):
    _needs_pg_redis(app)
    with _process(app, "lost") as other, _maintenance_statements(other) as sent:
        watch = outbox_watch.watch_for(other)
        assert _wait(lambda: watch.hearing, 8)
        backend = watch.backend_pid()
        with db.engine.begin() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": backend}).scalar()
        assert _wait(lambda: _polls(sent) >= 1, 6)  # the tick that notices polls at once
        assert _wait(lambda: watch.hearing and watch.backend_pid() != backend, 10)  # back, after catching up


def test_sqlite_polls_every_second(app, tmp_path):
    if not app.config.get("REDIS_URL"):
        pytest.skip("without Redis there is no outbox to poll")
    with _process(app, "sqlite", uri=f"sqlite:///{tmp_path / 'polls.db'}") as other:
        db.create_all()
        assert outbox_watch.watch_for(other) is None
        with _maintenance_statements(other) as sent:
            time.sleep(3.5)
        assert _polls(sent) >= 2
