"""The page fast path in the real server: two users of two roles on two worker processes (`python app.py`,
MUSTER_WORKERS=2, CSRF on) each get only their own name, CSRF token and nav, and a sign-out or a role
change made through one process takes effect on the very next request, whichever process answers it."""

from __future__ import annotations

import gzip
import os
import re
import socket
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from flask import Flask
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

from bench.harness import page_headers, sign_in
from blueprints.core.fastpath import FAST_TIMING
from tests.conftest import PASSWORD, is_postgres
from tests.factories import make_cadets, make_user

ROOT = Path(__file__).resolve().parent.parent
SECRET = "page-fastpath-server-test-secret"
PAGES = ("/cadets/?per_page=50", "/grades/?per_page=50")

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs PostgreSQL and Redis")


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def _request(url: str, cookie: str, data: dict | None = None) -> tuple[int, dict[str, str], str]:
    body = urllib.parse.urlencode(data).encode() if data is not None else None
    request = urllib.request.Request(url, data=body, headers=page_headers(cookie))  # the browser that signed in
    try:
        response = _opener.open(request, timeout=30)
    except urllib.error.HTTPError as exc:
        response = exc
    raw = response.read()
    text = gzip.decompress(raw) if response.headers.get("Content-Encoding") == "gzip" else raw
    return response.status, dict(response.headers), text.decode()


def _port() -> int:
    for port in range(8100, 8200):  # this worktree's range
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port in 8100-8199")


@pytest.fixture
def server(app):
    if not is_postgres():
        pytest.skip("needs PostgreSQL and Redis")
    port = _port()
    env = {**os.environ, "PORT": str(port), "MUSTER_ENV": "development", "WAITRESS_THREADS": "4",
           "MUSTER_WORKERS": "2", "SECRET_KEY": SECRET, "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
           "CACHE_KEY_PREFIX": f"muster-pagefast-{os.getpid()}-{time.monotonic_ns()}"}
    proc = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if _request(base + "/login", "")[0] == 200:
                break
        except OSError:
            time.sleep(0.2)
    try:
        yield base
    finally:
        proc.terminate()
        proc.wait(30)


def _csrf_value(cookie: str) -> str:
    """The CSRF value the session cookie holds, read with the server's secret."""
    reader = Flask("reader")
    reader.secret_key = SECRET
    session = SecureCookieSessionInterface().get_signing_serializer(reader).loads(cookie.partition("=")[2])
    return session["csrf_token"]


def test_two_users_two_roles_two_processes(app, server):
    make_cadets(20)
    users = {"admin": make_user("admin", "pfs-admin"), "training_staff": make_user("training_staff", "pfs-staff")}
    names = {role: user.username for role, user in users.items()}
    cookies = {role: sign_in(server, names[role], PASSWORD) for role in users}
    tokens = URLSafeTimedSerializer(SECRET, salt="wtf-csrf-token")
    fast = 0
    for _ in range(15):
        for role, cookie in cookies.items():
            for path in PAGES:
                status, headers, page = _request(server + path, cookie)
                assert status == 200 and "Set-Cookie" not in headers
                assert f"{names[role]} · {role.replace('_', ' ')}" in page
                assert all(name not in page for other, name in names.items() if other != role)
                found = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
                assert found and {tokens.loads(token) for token in found} == {_csrf_value(cookie)}
                assert ('href="/admin/users"' in page) == (role == "admin")
                fast += FAST_TIMING in headers.get("Server-Timing", "")
    assert fast >= 15 * 4 - 8  # all but the first draws of each page per user and process were fast

    # The admin demotes the staff user: that user's very next request is signed out, on either process.
    form = {"role": "cadet", "is_active": "on", "csrf_token": _form_token(server, cookies["admin"])}
    staff_id = users["training_staff"].id
    assert _request(f"{server}/admin/users/{staff_id}", cookies["admin"], form)[0] in (302, 303)
    for _ in range(4):
        assert _request(server + PAGES[0], cookies["training_staff"])[0] == 302
    # The admin signs out: the next requests with that cookie are signed out too.
    logout = {"csrf_token": _form_token(server, cookies["admin"])}
    assert _request(server + "/logout", cookies["admin"], logout)[0] == 302
    for _ in range(4):
        assert _request(server + PAGES[1], cookies["admin"])[0] == 302


def _form_token(base: str, cookie: str) -> str:
    page = _request(base + PAGES[0], cookie)[2]
    return re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
