"""The server on every core (server.py, `python app.py`): workers start, a dead one is replaced,
SIGTERM lets requests in flight finish, and several processes on one Redis never serve stale data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import is_postgres
from tests.factories import make_cadet, make_token, make_user

ROOT = Path(__file__).resolve().parent.parent
# A tiny app for the supervisor's own tests: /slow answers after a second, / at once.
SLOW_APP = """
import sys, time, logging
sys.path.insert(0, {root!r})
import server
logging.basicConfig(level=logging.INFO)
def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(1.0)
    body = b"done " + str(__import__("os").getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
server.serve(lambda: app, server.ServerOptions("127.0.0.1", {port}, workers=2, threads=4))
"""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _children(pid: int) -> set[int]:
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout
    return {int(p) for p in out.split()}


def _get(url: str, headers: dict[str, str] | None = None, timeout: float = 10) -> tuple[int, bytes]:
    request = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def _wait_until(check, seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise AssertionError("timed out waiting")


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


@pytest.fixture
def slow_server():
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-c", SLOW_APP.format(root=str(ROOT), port=port)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    _wait_until(lambda: _get(f"http://127.0.0.1:{port}/")[0] == 200 and len(_children(proc.pid)) == 2)
    yield proc, f"http://127.0.0.1:{port}"
    _stop(proc)


def test_workers_start_and_a_killed_worker_is_replaced(slow_server):
    proc, base = slow_server
    first = _children(proc.pid)
    assert len(first) == 2
    victim = sorted(first)[0]
    os.kill(victim, signal.SIGKILL)
    _wait_until(lambda: len(_children(proc.pid)) == 2 and victim not in _children(proc.pid))
    assert _get(base + "/")[0] == 200
    assert proc.poll() is None


def test_sigterm_finishes_requests_in_flight_then_stops_everything(slow_server):
    proc, base = slow_server
    workers = _children(proc.pid)
    results: list[tuple[int, bytes]] = []
    threads = [threading.Thread(target=lambda: results.append(_get(base + "/slow"))) for _ in range(4)]
    for thread in threads:
        thread.start()
    time.sleep(0.3)  # the requests are in the workers now
    proc.send_signal(signal.SIGTERM)
    for thread in threads:
        thread.join(15)
    assert [status for status, _ in results] == [200] * 4
    assert all(body.startswith(b"done") for _, body in results)
    assert proc.wait(15) == 0
    assert not any(Path(f"/proc/{pid}").exists() for pid in workers)
    with pytest.raises(OSError):
        _get(base + "/", timeout=2)


def _serve_app(env: dict[str, str]) -> tuple[subprocess.Popen, str]:
    port = _free_port()
    full_env = {**os.environ, "PORT": str(port), "MUSTER_ENV": "development", "WAITRESS_THREADS": "4", **env}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=full_env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    _wait_until(lambda: _get(base + "/login")[0] == 200)
    return proc, base


def test_without_redis_the_app_serves_one_worker_and_says_why(tmp_path):
    proc, _ = _serve_app({"DATABASE_URL": f"sqlite:///{tmp_path}/one.db", "REDIS_URL": "", "MUSTER_WORKERS": "2"})
    try:
        assert len(_children(proc.pid)) == 1
    finally:
        _stop(proc)
    log = proc.stdout.read()
    assert "without REDIS_URL" in log and "with 1 worker" in log


@pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs PostgreSQL and Redis")
def test_two_processes_on_one_redis_never_serve_stale_lists(app):
    """A list warm in process B; a write through process A; B's next answer is fresh."""
    if not is_postgres():
        pytest.skip("needs PostgreSQL and Redis")
    from models import db

    admin = make_user("admin", "two-process-admin")
    cadet_id = make_cadet(admin, last_name="Before")
    headers = {"Authorization": f"Bearer {make_token(admin)}"}
    db.session.commit()
    env = {"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "REDIS_URL": os.environ["REDIS_URL"],
           "CACHE_KEY_PREFIX": f"muster-two-proc-{os.getpid()}-{time.monotonic_ns()}", "MUSTER_WORKERS": "1"}
    (a, base_a), (b, base_b) = _serve_app(env), _serve_app(env)
    try:
        for round_no in range(5):
            url = "/api/cadets?limit=100"
            assert b"Before" in _get(base_b + url, headers)[1] or round_no  # warm in B
            name = f"After{round_no}"
            patch = urllib.request.Request(f"{base_a}/api/cadets/{cadet_id}", method="PATCH",
                                           data=f'{{"last_name": "{name}"}}'.encode(),
                                           headers={**headers, "Content-Type": "application/json"})
            with urllib.request.urlopen(patch, timeout=10) as response:
                assert response.status == 200
            status, body = _get(base_b + url, headers)
            assert status == 200 and name.encode() in body
    finally:
        _stop(a)
        _stop(b)
