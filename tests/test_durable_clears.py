"""Cache clears recorded in the write's own transaction survive the writer dying right after commit;
the replica and PgBouncer settings."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import func, select

from app import create_app
from blueprints.core import cache, outbox
from blueprints.core.errors import ValidationError
from blueprints.core.operations.cadets import update_cadet
from config import ConfigError, load_config
from models import CacheClear, Cadet, db
from tests.factories import make_cadet, make_token, make_user

RUNS = 20


def _names(client, token) -> list[str]:
    response = client.get("/api/cadets?sort=id", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.data
    return [row["first_name"] for row in response.json["data"]]


def _outbox_rows(prefix: str) -> int:
    return db.session.scalar(select(func.count()).select_from(CacheClear).where(CacheClear.namespace == prefix))


def test_the_clear_is_in_the_outbox_in_the_same_transaction_as_the_write(app):
    if not app.config.get("REDIS_URL"):
        pytest.skip("without Redis the cache is one process's memory: nothing outlives the writer")
    admin = make_user("admin")
    cadet = make_cadet(admin, first_name="A")
    prefix = app.config["CACHE_KEY_PREFIX"]
    outbox.apply_recorded()  # the factories' own writes
    rows = []

    def look(_pending) -> None:  # just after the commit, before Redis: the row is there, committed
        rows.append(_outbox_rows(app.config["CACHE_KEY_PREFIX"]))

    real, outbox.apply = outbox.apply, look
    try:
        update_cadet(admin, cadet, {"first_name": "B"})
    finally:
        outbox.apply = real
    assert rows == [1]
    with pytest.raises(ValidationError):  # a write that fails records nothing
        update_cadet(admin, cadet, {"first_name": "C", "year_level": "nine"})
    outbox.apply_recorded()
    assert _outbox_rows(prefix) == 0


def _poll_until_applied(prefix: str, seconds: float = 10.0) -> None:
    """Poll the outbox until no row of this namespace is left. A poll skips rows another process's poll
    holds (SKIP LOCKED), so one call of ours may return while the maintenance thread is still applying."""
    deadline = time.monotonic() + seconds
    outbox.apply_recorded()
    while _outbox_rows(prefix) and time.monotonic() < deadline:
        time.sleep(0.05)
        outbox.apply_recorded()


@pytest.mark.postgres
def test_a_writer_killed_between_commit_and_redis_loses_no_clear(app, client):
    """kill -9 between commit and the Redis call, 20 times: the data committed, the clear never reached
    Redis, and after the next poll of the outbox (any process's maintenance) no read is stale."""
    if not app.config.get("REDIS_URL") or db.engine.dialect.name != "postgresql":
        pytest.skip("needs PostgreSQL and Redis: the writer runs in another process")
    admin = make_user("admin")
    token = make_token(admin)
    cadet = make_cadet(admin, first_name="v0")
    env = {**os.environ, "TEST_DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "REDIS_URL": app.config["REDIS_URL"], "CACHE_KEY_PREFIX": app.config["CACHE_KEY_PREFIX"]}
    writer = subprocess.Popen([sys.executable, "-m", "tests.killed_writer"], cwd=Path(__file__).parent.parent,
                              env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    gen = redis.Redis.from_url(app.config["REDIS_URL"])
    killed = unapplied = stale_after_poll = 0
    try:
        for run in range(1, RUNS + 1):
            assert _names(client, token) == [f"v{run - 1}"]  # cached under the current generation
            before = gen.get(cache.gen_key("cadets"))
            writer.stdin.write(f"{admin.id} {cadet} v{run}\n")
            writer.stdin.flush()
            sig, _pid = writer.stdout.readline().split()
            killed += int(sig) == signal.SIGKILL
            unapplied += gen.get(cache.gen_key("cadets")) == before  # (unless our own poller was quicker)
            db.session.expire_all()
            assert db.session.get(Cadet, cadet).first_name == f"v{run}"  # committed
            _poll_until_applied(app.config["CACHE_KEY_PREFIX"])  # the next poll, ours or the maintenance thread's
            stale_after_poll += _names(client, token) != [f"v{run}"]
    finally:
        writer.stdin.close()
        writer.wait(timeout=30)
    assert killed == RUNS
    assert unapplied > 0
    assert stale_after_poll == 0
    print(f"kill -9 after commit: {RUNS} runs, {unapplied} left unapplied by the writer, "
          f"{stale_after_poll} stale reads after the next poll")


def test_replica_and_pgbouncer_settings_parse():
    config = load_config({"DATABASE_REPLICA_URLS": " postgres://a/x , postgresql://b/x,",
                          "DB_PREPARE_THRESHOLD": "none"})
    assert config["DATABASE_REPLICA_URLS"] == ("postgresql+psycopg://a/x", "postgresql+psycopg://b/x")
    assert config["DB_PREPARE_THRESHOLD"] is None and config["REPLICA_MAX_LAG_SECONDS"] == 5.0
    assert load_config({})["DATABASE_REPLICA_URLS"] == () and load_config({})["DB_PREPARE_THRESHOLD"] == 5
    with pytest.raises(ConfigError):
        load_config({"REPLICA_MAX_LAG_SECONDS": "soon"})


def test_replicas_need_postgresql(app):
    with pytest.raises(RuntimeError, match="PostgreSQL"):
        create_app({"MUSTER_ENV": "testing", "SQLALCHEMY_DATABASE_URI": "sqlite://",
                    "DATABASE_REPLICA_URLS": ("postgresql+psycopg://127.0.0.1:1/x",)})
