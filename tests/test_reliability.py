"""Faults: Redis stopping or stalling, PostgreSQL unreachable, dropped connections, statement timeout."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import pytest
import redis
from sqlalchemy import func, select, text

from app import create_app
from blueprints.core import cache
from blueprints.core.operations.cadets import update_cadet
from blueprints.core.operations.tokens import issue_token
from models import CacheClear, User, db
from tests.conftest import is_postgres
from tests.factories import make_cadet, make_user
from tests.routes_probe import bp as probe_bp


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of our own on a spare port, so stopping it disturbs nothing else."""

    def __init__(self) -> None:
        self.port = _free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
                                      "--appendonly", "no"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis(port=self.port)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("private redis-server did not start")

    def stop(self) -> None:
        if self.proc:
            self.proc.terminate()
            self.proc.wait(10)
            self.proc = None


@pytest.fixture
def private_redis():
    if not shutil.which("redis-server"):
        pytest.skip("redis-server is not installed")
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


def _app_like(app, **overrides):
    """Another app instance on the same database (as a second process would be)."""
    other = create_app({"MUSTER_ENV": "testing", "TESTING": True, "WTF_CSRF_ENABLED": False,
                        "SECRET_KEY": app.config["SECRET_KEY"],
                        "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                        "CACHE_KEY_PREFIX": app.config["CACHE_KEY_PREFIX"] + "-other", **overrides})
    other.register_blueprint(probe_bp)
    return other


def _names(client, token) -> list[str]:
    response = client.get("/api/_probe/cadets?sort=id", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.data
    return response.json["names"]


def test_redis_stopping_and_returning_never_serves_stale_data(app, private_redis):
    admin = make_user("admin")
    token = issue_token(admin)
    cadet = make_cadet(admin, first_name="Before")
    other = _app_like(app, REDIS_URL=private_redis.url, REDIS_SOCKET_TIMEOUT=0.2)
    client = other.test_client()
    with other.app_context():
        assert _names(client, token) == ["Before"]
        assert _names(client, token) == ["Before"]  # now cached in the private Redis
        private_redis.stop()
        assert _names(client, token) == ["Before"]  # answered from the database
        update_cadet(db.session.get(User, admin.id), cadet, {"first_name": "During"})
        assert _names(client, token) == ["During"]
        private_redis.start()
        assert _names(client, token) == ["During"]
        assert _names(client, token) == ["During"]
        keys = redis.Redis(port=private_redis.port).keys("*:data:*")
        assert keys, "caching resumed by itself once Redis was back"


def test_a_write_while_redis_stalls_is_not_lost_to_a_stale_entry(app, private_redis):
    """Redis keeps its data but stops answering (CLIENT PAUSE): the clear is retried, never skipped."""
    admin = make_user("admin")
    token = issue_token(admin)
    cadet = make_cadet(admin, first_name="Old")
    other = _app_like(app, REDIS_URL=private_redis.url, REDIS_SOCKET_TIMEOUT=0.2)
    client = other.test_client()
    with other.app_context():
        assert _names(client, token) == ["Old"]
        redis.Redis(port=private_redis.port).execute_command("CLIENT", "PAUSE", "1500", "ALL")
        update_cadet(db.session.get(User, admin.id), cadet, {"first_name": "New"})
        assert _names(client, token) == ["New"]
        time.sleep(1.6)
        assert _names(client, token) == ["New"]  # the pending clear was applied before reading again
        assert _names(client, token) == ["New"]


def test_database_unreachable_answers_503_not_a_stack_trace(app):
    other = _app_like(app, SQLALCHEMY_DATABASE_URI=f"postgresql+psycopg://postgres@127.0.0.1:{_free_port()}/x",
                      DB_CONNECT_TIMEOUT=2)
    client = other.test_client()
    response = client.get("/api/_probe/cadets", headers={"Authorization": "Bearer mst_" + "x" * 43})
    assert response.status_code == 503
    assert response.json["code"] == "SERVICE_UNAVAILABLE" and "Traceback" not in response.get_data(as_text=True)
    page = client.post("/login", data={"username": "someone", "password": "whatever-long"})
    assert page.status_code == 503 and b"unavailable" in page.data


@pytest.mark.postgres
def test_dropped_connections_are_replaced_transparently(app):
    if not is_postgres():
        pytest.skip("PostgreSQL only")
    admin = make_user("admin")
    token = issue_token(admin)
    make_cadet(admin, first_name="Still")
    client = app.test_client()
    app.config["MUSTER_CACHE"] = False
    assert _names_on(client, token) == ["Still"]
    db.session.remove()
    with db.engine.connect() as conn:  # a separate connection kills every pooled one (a server restart's effect)
        conn.execute(text("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()"))
        # pg_terminate_backend only signals: wait, as a restart does, until those backends have exited
        # (a request racing a backend that is still exiting sees AdminShutdown on its first statement).
        for _ in range(100):
            if conn.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                 "AND pid <> pg_backend_pid() AND backend_start < now()")).scalar() == 0:
                break
            time.sleep(0.05)
    assert _names_on(client, token) == ["Still"]


def _names_on(client, token):
    response = client.get("/api/_probe/cadets", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, response.data
    return response.json["names"]


@pytest.mark.postgres
def test_statement_timeout_cancels_and_reports(app, caplog):
    if not is_postgres():
        pytest.skip("PostgreSQL only")
    admin = make_user("admin")
    token = issue_token(admin)
    other = _app_like(app, DB_STATEMENT_TIMEOUT_MS=300)
    client = other.test_client()
    started = time.monotonic()
    response = client.get("/api/_probe/sleep", headers={"Authorization": f"Bearer {token}"})
    assert time.monotonic() - started < 1.8  # cancelled, not left to run its 2 s
    assert response.status_code == 503 and response.json["code"] == "SERVICE_UNAVAILABLE"
    assert any("database unavailable" in r.getMessage() for r in caplog.records)
    with other.app_context():
        assert db.session.execute(text("SHOW statement_timeout")).scalar() == "300ms"
        db.engine.dispose()


def test_redis_unreachable_from_the_start_is_only_a_miss(app):
    admin = make_user("admin")
    token = issue_token(admin)
    make_cadet(admin, first_name="Fine")
    other = _app_like(app, REDIS_URL=f"redis://127.0.0.1:{_free_port()}/0", REDIS_SOCKET_TIMEOUT=0.1)
    with other.app_context():
        assert _names(other.test_client(), token) == ["Fine"]


def test_a_clear_that_failed_reaches_every_process_after_the_writer_exits(app, private_redis):
    """Process B caches a list; A's write commits while Redis is paused, so A's clear fails; A exits
    (its memory of the pending clear is gone). Once Redis answers again, B serves the new value within
    about a second: the failed clear was kept in the database and B's background thread applied it."""
    admin = make_user("admin")
    token = issue_token(admin)
    cadet = make_cadet(admin, first_name="Old")
    shared = {"REDIS_URL": private_redis.url, "REDIS_SOCKET_TIMEOUT": 0.2,
              "CACHE_KEY_PREFIX": app.config["CACHE_KEY_PREFIX"] + "-shared"}
    writer, reader = _app_like(app, **shared), _app_like(app, **shared)
    writer.config["CACHE_KEY_PREFIX"] = reader.config["CACHE_KEY_PREFIX"] = shared["CACHE_KEY_PREFIX"]
    client = reader.test_client()
    with reader.app_context():
        assert _names(client, token) == ["Old"]
        assert _names(client, token) == ["Old"]  # cached in Redis, B's maintenance thread running
    redis.Redis(port=private_redis.port).execute_command("CLIENT", "PAUSE", "1500", "ALL")
    with writer.app_context():
        update_cadet(db.session.get(User, admin.id), cadet, {"first_name": "New"})
        db.session.remove()
    cache._pending_clears.clear()  # the writer process has exited
    time.sleep(1.6)  # Redis answers again
    deadline, names = time.monotonic() + 2.5, None
    with reader.app_context():
        while time.monotonic() < deadline:
            names = _names(client, token)
            if names == ["New"]:
                break
            time.sleep(0.1)
    assert names == ["New"]
    assert db.session.scalar(select(func.count()).select_from(CacheClear)
                             .where(CacheClear.namespace == shared["CACHE_KEY_PREFIX"])) == 0
