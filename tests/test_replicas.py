"""Read replicas against a real streaming replica (.ci/replica starts one on 127.0.0.1:5433).

Set TEST_DATABASE_REPLICA_URLS to the replica of TEST_DATABASE_URL's database to run these; without
it (the SQLite run, or PostgreSQL with no replica) they are skipped. With it set and the replica not
answering, they fail: CI must not pass by skipping them.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from contextlib import contextmanager

import psycopg
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from app import create_app
from blueprints.core import replicas
from blueprints.core.operations.cadets import update_cadet
from models import User, db
from tests.conftest import PASSWORD
from tests.factories import make_cadet, make_token, make_user

REPLICA_URLS = tuple(u.strip() for u in os.environ.get("TEST_DATABASE_REPLICA_URLS", "").split(",") if u.strip())
pytestmark = [pytest.mark.postgres, pytest.mark.replica,
              pytest.mark.skipif(not REPLICA_URLS, reason="no TEST_DATABASE_REPLICA_URLS: no replica to read from")]


@pytest.fixture(autouse=True)
def _one_replica_test_at_a_time():
    """Pausing replay (_replay_paused) pauses it for every database on the replica, and a paused replica
    fails another test's _caught_up: the tests of every xdist worker (and every suite on this machine)
    that use this replica take turns."""
    replica = make_url(REPLICA_URLS[0])
    path = os.path.join(tempfile.gettempdir(), f"muster-replica-{replica.host}-{replica.port}.lock")
    with open(path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def _libpq(url: str) -> str:
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


def _on_replica(sql: str):
    with psycopg.connect(_libpq(REPLICA_URLS[0]), autocommit=True, connect_timeout=3) as conn:
        return conn.execute(sql).fetchone()


def _primary_lsn() -> int:
    return int(db.session.execute(text("SELECT pg_current_wal_lsn() - '0/0'")).scalar())


def _caught_up(timeout: float = 15.0) -> None:
    """Wait until the replica has replayed everything committed so far."""
    target, deadline = _primary_lsn(), time.monotonic() + timeout
    db.session.commit()
    while time.monotonic() < deadline:
        if _on_replica("SELECT pg_last_wal_replay_lsn() - '0/0'")[0] >= target:
            return
        time.sleep(0.05)
    raise AssertionError("the replica did not catch up")


@contextmanager
def _replay_paused():
    _caught_up()
    _on_replica("SELECT pg_wal_replay_pause()")
    # A request, not a stop: while WAL streams in (other xdist workers write) replay may go on a little.
    deadline = time.monotonic() + 15.0
    while _on_replica("SELECT pg_get_wal_replay_pause_state()")[0] != "paused":
        assert time.monotonic() < deadline, "the replica did not pause its replay"
        time.sleep(0.02)
    try:
        yield
    finally:
        _on_replica("SELECT pg_wal_replay_resume()")


@pytest.fixture
def replicated(app):
    """Two app instances (two hosts) on the primary, the replica and the test's Redis namespace."""
    if not app.config.get("REDIS_URL"):
        pytest.skip("read-your-writes across hosts needs Redis")
    assert _on_replica("SELECT pg_is_in_recovery()")[0] is True, "TEST_DATABASE_REPLICA_URLS is not a standby"
    _on_replica("SELECT pg_wal_replay_resume()")  # a test that died paused must not stall the next
    hosts = [_host(app) for _ in range(2)]
    yield hosts
    for host in hosts:
        with host.app_context():
            db.session.remove()
            db.engine.dispose()
            for replica in replicas.configured().replicas:
                replica.engine.dispose()


def _host(app, **overrides):
    host = create_app({"MUSTER_ENV": "testing", "TESTING": True, "WTF_CSRF_ENABLED": False,
                       "SECRET_KEY": app.config["SECRET_KEY"], "REDIS_URL": app.config["REDIS_URL"],
                       "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"],
                       "CACHE_KEY_PREFIX": app.config["CACHE_KEY_PREFIX"],
                       "DATABASE_REPLICA_URLS": REPLICA_URLS, "REPLICA_MAX_LAG_SECONDS": 5.0,
                       "REPLICA_CHECK_SECONDS": 0.2, **overrides})
    with host.app_context():
        replicas.configured().check()
    return host


def _get(host, path: str, token: str):
    response = host.test_client().get(path, headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200, (path, response.status_code, response.data[:300])
    return response


def _warm(host, *tokens: str) -> None:
    """A token's first request on a host records its use (a write, so that request reads on the primary)."""
    for token in tokens:
        host.test_client().get("/api/me", headers={"Authorization": f"Bearer {token}"})


def _reads(host) -> dict[str, int]:
    with host.app_context():
        return {d["name"]: d["reads"] for d in replicas.status()}


def _names(host, token: str) -> list[str]:
    return [row["first_name"] for row in _get(host, "/api/cadets?sort=id", token).json["data"]]


def _fresh(host, token: str, want: list[str], within: float) -> float:
    """Seconds until `host` serves `want` on the API list (fails after `within`)."""
    started = time.monotonic()
    while _names(host, token) != want:
        assert time.monotonic() - started < within, f"still {_names(host, token)} after {within}s"
        time.sleep(0.05)
    return time.monotonic() - started


def test_reads_of_a_get_go_to_the_replica_and_writes_to_the_primary(app, replicated):
    host, _ = replicated
    admin = make_user("admin")
    token = make_token(admin)
    cadet = make_cadet(admin, first_name="Ana")
    host.config["MUSTER_CACHE"] = False
    _warm(host, token)
    _caught_up()
    before = _reads(host)
    assert _get(host, f"/api/cadets/{cadet}", token).json["data"]["first_name"] == "Ana"
    after = _reads(host)
    assert after["replica 1"] > before.get("replica 1", 0)
    assert after.get("primary", 0) - before.get("primary", 0) <= 1  # the sign-in lookup only
    response = host.test_client().patch(f"/api/cadets/{cadet}", json={"first_name": "Bea"},
                                        headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 200 and response.json["data"]["first_name"] == "Bea"  # read back in the write


def test_the_writer_reads_its_write_at_once_on_every_host_while_replay_is_paused(app, replicated):
    """Host A takes the write; host B answers the writer's next reads (API, detail, list, HTML table):
    the replica has not replayed it, so B reads on the primary. Another user is never refused."""
    host_a, host_b = replicated
    admin, staff = make_user("admin"), make_user("training_staff")
    admin_token, staff_token = make_token(admin), make_token(staff)
    cadet = make_cadet(admin, first_name="Old")
    _warm(host_a, admin_token, staff_token)
    _warm(host_b, admin_token, staff_token)
    assert _names(host_b, staff_token) == ["Old"]  # cached on B
    with _replay_paused():
        response = host_a.test_client().patch(f"/api/cadets/{cadet}", json={"first_name": "New"},
                                              headers={"Authorization": f"Bearer {admin_token}"})
        assert response.status_code == 200
        assert _on_replica(f"SELECT count(*) FROM cadets WHERE id = {cadet} AND first_name = 'Old'")[0] == 1
        assert _get(host_b, f"/api/cadets/{cadet}", admin_token).json["data"]["first_name"] == "New"
        assert _names(host_b, admin_token) == ["New"]
        pages = host_b.test_client()
        assert pages.post("/login", data={"username": admin.username, "password": PASSWORD}).status_code == 302
        assert b"New" in pages.get(f"/cadets/{cadet}").data and b"New" in pages.get("/cadets/").data
        # The other user: never a 5xx; whatever they read, no host caches the old value under the new
        # generation (the fill went to the primary because the replica had not replayed the clear).
        for path in (f"/api/cadets/{cadet}", "/api/cadets?sort=id", "/api/grades"):
            _get(host_b, path, staff_token)
        assert _names(host_b, staff_token) == ["New"] and _names(host_a, staff_token) == ["New"]
    # After replay resumes: the lists at once (their entries were filled from the primary); the detail,
    # read on the replica by a user who did not write, within the lag bound (plus one health check).
    assert _fresh(host_b, staff_token, ["New"], within=0.5) < 0.5
    started = time.monotonic()
    while _get(host_b, f"/api/cadets/{cadet}", staff_token).json["data"]["first_name"] != "New":
        assert time.monotonic() - started < 5.0 + 0.5, "the replica served the old row past the lag bound"
        time.sleep(0.05)


def test_a_cache_fill_on_a_lagging_replica_is_not_stored_under_the_new_generation(app, replicated):
    """The race of issue 20 directly: replay paused, a write clears the list, another user's read
    misses; filled from the replica it would hold the old list under the new generation until the
    TTL. It is filled from the primary instead, and after replay resumes every host serves the new list."""
    host_a, host_b = replicated
    admin, staff = make_user("admin"), make_user("training_staff")
    staff_token = make_token(staff)
    cadet = make_cadet(admin, first_name="Before")
    _caught_up()  # made outside a request: no host waits for the replica to replay it
    html = host_b.test_client()
    assert html.post("/login", data={"username": staff.username, "password": PASSWORD}).status_code == 302
    assert b"Before" in html.get("/cadets/").data
    assert _names(host_a, staff_token) == ["Before"] and _names(host_b, staff_token) == ["Before"]
    with _replay_paused():
        with host_a.app_context():
            update_cadet(db.session.get(User, admin.id), cadet, {"first_name": "After"})  # no request: not sticky
        with host_b.app_context():
            replicas.configured().check()
            assert replicas.status()[1]["usable"]  # staff may read on the replica: it is within the bound
        assert _names(host_b, staff_token) == ["After"]  # the miss filled from the primary
        assert b"After" in html.get("/cadets/").data
        assert _names(host_a, staff_token) == ["After"]  # and host A hits the same, current entry
    _caught_up()
    for host in (host_a, host_b):
        assert _names(host, staff_token) == ["After"]


def test_a_replica_past_the_lag_bound_is_skipped_and_others_read_on_the_primary(app, replicated):
    host_a, _ = replicated
    host = _host(app, REPLICA_MAX_LAG_SECONDS=0.5)
    admin, staff = make_user("admin"), make_user("training_staff")
    staff_token = make_token(staff)
    cadet = make_cadet(admin, first_name="Old")
    host.config["MUSTER_CACHE"] = False
    _warm(host, staff_token)
    with _replay_paused():
        with host_a.app_context():
            update_cadet(db.session.get(User, admin.id), cadet, {"first_name": "New"})
        time.sleep(0.8)
        with host.app_context():
            replicas.configured().check()
            (replica,) = [d for d in replicas.status() if d["role"] == "replica"]
        assert replica["up"] and not replica["usable"] and replica["lag_s"] > 0.5
        assert _get(host, f"/api/cadets/{cadet}", staff_token).json["data"]["first_name"] == "New"
        health = host.test_client().get("/api/health")
        assert health.status_code == 200
        assert health.json["databases"]["replica 1"]["status"] == "lagging"
    with host.app_context():
        db.engine.dispose()


def test_a_stopped_replica_costs_no_request_and_health_says_so(app):
    """A replica that refuses connections (as a stopped one does): every request is answered from the
    primary, /api/health stays 200 and names it down."""
    if not app.config.get("REDIS_URL"):
        pytest.skip("needs Redis")
    dead = make_url(REPLICA_URLS[0]).set(port=1).render_as_string(hide_password=False)
    host = _host(app, DATABASE_REPLICA_URLS=(dead,), REPLICA_CONNECT_TIMEOUT=1)
    admin = make_user("admin")
    token = make_token(admin)
    cadet = make_cadet(admin, first_name="Here")
    assert _get(host, f"/api/cadets/{cadet}", token).json["data"]["first_name"] == "Here"
    assert _names(host, token) == ["Here"]
    health = host.test_client().get("/api/health")
    assert health.status_code == 200 and health.json["status"] == "degraded"
    assert health.json["databases"]["replica 1"]["status"] == "down"
    assert health.json["databases"]["primary"]["status"] == "ok"
    pages = host.test_client()
    assert pages.post("/login", data={"username": admin.username, "password": PASSWORD}).status_code == 302
    dashboard = pages.get("/admin/performance").get_data(as_text=True)
    assert "Primary and read replicas" in dashboard and "replica 1" in dashboard and ">down<" in dashboard


def test_a_replica_failing_during_a_request_is_retried_on_the_primary(app):
    """The health check said usable; then each statement on the replica fails (here: a schema it
    does not have, as when a migration has not been replayed yet). The request is answered from
    the primary and the replica is marked down until its next check."""
    if not app.config.get("REDIS_URL"):
        pytest.skip("needs Redis")
    host = _host(app, REPLICA_CHECK_SECONDS=600)
    admin = make_user("admin")
    token = make_token(admin)
    cadet = make_cadet(admin, first_name="Kept")
    host.config["MUSTER_CACHE"] = False
    _warm(host, token)
    _caught_up()
    with host.app_context():
        (replica,) = replicas.configured().replicas
        replica.engine = create_engine(REPLICA_URLS[0], connect_args={"options": "-c search_path=nowhere"})
        replica.up, replica.lag = True, 0.0
    assert _get(host, f"/api/cadets/{cadet}", token).json["data"]["first_name"] == "Kept"
    assert not replica.up and replica.error
    with host.app_context():
        replica.engine.dispose()
        db.engine.dispose()
