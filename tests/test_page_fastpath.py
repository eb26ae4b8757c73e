"""The staff's warm table pages answered before Flask (blueprints/pages/fastpath.py).

It must answer exactly what Flask would have answered for that user, never another user's name or
token, and hand every request it cannot answer from current entries to Flask: each such case is
shown here to reach Flask. Requests run in a fresh context each (`_get`), as a server runs them: the
app fixture's app context would otherwise carry Flask-Login's user and the CSRF token across requests.
"""

from __future__ import annotations

import contextvars
import gzip
import os
import re
import time

import itsdangerous.timed
import pytest
from flask import session
from flask_login.utils import _create_identifier
from flask_wtf.csrf import generate_csrf

from blueprints.core import cache
from blueprints.core.fastpath import FAST_TIMING
from blueprints.core.operations import held_days
from blueprints.pages.fastpath import PageFastPath
from blueprints.pages.session_check import login_identifier
from tests.conftest import count_handed_on, wsgi_layer
from tests.factories import PASSWORD, make_cadets, make_token, make_user

redis_only = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the fast path is installed only with Redis")

GZIP = {"Accept-Encoding": "gzip"}
PAGES = ["/cadets/?per_page=50", "/grades/?per_page=50", "/cadets/?sort=-name&search=l&company=Alpha",
         "/grades/", "/cadets/?page=abc"]  # a bad page number is read leniently, by both paths alike
_VARYING = {"Date", "Server-Timing", "Content-Length"}  # the gzip bytes differ; the pages are compared decoded


def _get(client, path: str, headers: dict | None = None, **kwargs):
    return contextvars.Context().run(client.get, path, headers={**GZIP, **(headers or {})}, **kwargs)


def _post(client, path: str, data: dict):
    return contextvars.Context().run(client.post, path, data=data)


def _login(client, user, password: str = PASSWORD) -> None:
    assert _post(client, "/login", {"username": user.username, "password": password}).status_code == 302


def _page(response) -> str:
    body = response.data
    return (gzip.decompress(body) if response.headers.get("Content-Encoding") == "gzip" else body).decode()


def _fast(response) -> bool:
    return FAST_TIMING in response.headers.get("Server-Timing", "")


@pytest.fixture
def reached_flask(app, monkeypatch):
    """The paths of the requests the page fast path handed on to Flask."""
    return count_handed_on(wsgi_layer(app, PageFastPath), monkeypatch)


@pytest.fixture
def frozen_tokens(monkeypatch):
    """Every signature's timestamp fixed, so two CSRF tokens made in different seconds are equal."""
    now = int(time.time())
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: now)


@pytest.fixture
def staff(app, client):
    make_cadets(30)
    user = make_user("admin", "pf-admin")
    _login(client, user)
    _get(client, "/cadets/?per_page=10")  # Flask-WTF puts the CSRF value in the session: a cookie written
    return user


@redis_only
@pytest.mark.parametrize("path", PAGES)
def test_a_warm_page_skips_flask_and_answers_the_same_page_and_headers(client, staff, reached_flask, frozen_tokens,
                                                                     path):
    reached_flask.clear()
    built = _get(client, path)  # Flask draws the page and stores it
    served = _get(client, path)
    assert reached_flask == [path.partition("?")[0]] and not _fast(built) and _fast(served)
    assert served.status_code == built.status_code == 200 and "Set-Cookie" not in served.headers
    assert _page(served) == _page(built) and "pf-admin · admin" in _page(served)
    assert {k: v for k, v in served.headers.items() if k not in _VARYING} == \
        {k: v for k, v in built.headers.items() if k not in _VARYING}
    assert int(served.headers["Content-Length"]) == len(served.data)
    # And Flask drawing it again now (a conditional request goes to Flask) gives the same page.
    again = _get(client, path, {"If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert not _fast(again) and _page(again) == _page(served)


@redis_only
def test_a_browsers_accept_encoding_is_answered_by_the_fast_path(client, staff, reached_flask):
    browser = {"Accept-Encoding": "gzip, deflate, br, zstd"}  # what Chromium and Firefox send
    _get(client, "/cadets/?per_page=10", browser)
    served = _get(client, "/cadets/?per_page=10", browser)
    assert _fast(served) and served.headers["Content-Encoding"] == "gzip"
    prefers_zstd = _get(client, "/cadets/?per_page=10", {"Accept-Encoding": "gzip;q=0.5, zstd"})
    assert not _fast(prefers_zstd) and prefers_zstd.headers["Content-Encoding"] == "zstd"


@redis_only
def test_each_user_sees_only_their_own_name_token_and_nav(app):
    make_cadets(5)
    people = {role: (make_user(role, f"pf-{role}"), app.test_client()) for role in ("admin", "training_staff")}
    for user, client in people.values():
        _login(client, user)
        _get(client, "/grades/")
    for _ in range(3):
        for role, (_user, client) in people.items():
            response = _get(client, "/grades/")
            page = _page(response)
            other = next(u for r, (u, _) in people.items() if r != role)
            assert _fast(response) and f"pf-{role} · {role.replace('_', ' ')}" in page
            assert other.username not in page
            with client.session_transaction() as stored:
                mine = stored["csrf_token"]
            tokens = set(re.findall(r'name="csrf_token" value="([^"]+)"', page))
            assert tokens and all(itsdangerous.URLSafeTimedSerializer(app.secret_key, salt="wtf-csrf-token")
                                  .loads(token) == mine for token in tokens)
            assert ('href="/admin/users"' in page) == (role == "admin")


@redis_only
def test_requests_it_cannot_answer_reach_flask(app, client, staff, reached_flask, monkeypatch):
    path = "/cadets/?per_page=50"
    _get(client, path)
    cookie = client.get_cookie("session").value
    cases = [  # (headers, expected status)
        ({"Host": "evil.example"}, 400),
        ({"Accept-Encoding": "identity"}, 200), ({"Accept-Encoding": "br"}, 200), ({"Accept-Encoding": "zstd"}, 200),
        ({"If-None-Match": '"x"'}, 200), ({"Range": "bytes=0-10"}, 200),
        ({"User-Agent": "another browser"}, 200),  # session protection: Flask marks the session non-fresh
    ]
    for headers, status in cases:
        reached_flask.clear()
        response = _get(client, path, headers)
        assert response.status_code == status and reached_flask == ["/cadets/"], headers
        client.set_cookie("session", cookie)  # undo any cookie Flask wrote
    reached_flask.clear()
    assert _fast(_get(client, path)) and reached_flask == []  # nothing above spoiled the entry

    for key, value in (("_permanent", True), ("_remember", "clear"), ("_flashes", [("info", "Hello")])):
        with client.session_transaction() as changed:
            changed[key] = value
        reached_flask.clear()
        assert _get(client, path).status_code == 200 and reached_flask == ["/cadets/"], key
        client.set_cookie("session", cookie)
    with client.session_transaction() as changed:
        del changed["csrf_token"]
    reached_flask.clear()
    response = _get(client, path)
    assert reached_flask == ["/cadets/"] and "Set-Cookie" in response.headers  # Flask-WTF made a new value

    for bad in ("", cookie[:-2] + "xx", "not-a-cookie"):
        client.set_cookie("session", bad)
        reached_flask.clear()
        assert _get(client, path).status_code == 302 and reached_flask == ["/cadets/"]
    client.delete_cookie("session")
    client.set_cookie("remember_token", "1|abc")  # a remember-me cookie alone
    reached_flask.clear()
    assert _get(client, path).status_code == 302 and reached_flask == ["/cadets/"]
    client.set_cookie("session", cookie)

    reached_flask.clear()
    _get(client, path + "&sort=name")  # an entry not stored yet
    monkeypatch.setattr(held_days, "_checked", {})  # today's held-days check not done in this process
    _get(client, path)
    monkeypatch.setattr(cache, "_pending_clears", {"cadets"})  # a clear Redis did not take yet
    _get(client, path)
    assert reached_flask == ["/cadets/"] * 3
    app.config["MUSTER_CACHE"] = False
    reached_flask.clear()
    assert _get(client, path).status_code == 200 and reached_flask == ["/cadets/"]


@redis_only
def test_an_expired_cookie_and_a_refused_role_reach_flask(app, client, staff, reached_flask, monkeypatch):
    path = "/grades/"
    _get(client, path)
    _get(client, path)
    lifetime = int(app.permanent_session_lifetime.total_seconds())
    signed = itsdangerous.timed.TimestampSigner.get_timestamp
    monkeypatch.setattr(itsdangerous.timed.TimestampSigner, "get_timestamp", lambda self: signed(self) + lifetime + 5)
    reached_flask.clear()
    assert _get(client, path).status_code == 302 and reached_flask == ["/grades/"]
    monkeypatch.undo()
    cadet_client = app.test_client()
    _login(cadet_client, make_user("cadet", "pf-cadet"))
    for _ in range(2):
        assert _get(cadet_client, path).status_code == 403


@redis_only
def test_a_flash_is_shown_by_flask_then_the_page_is_fast_again(client, staff, reached_flask):
    path = "/cadets/?per_page=50"
    _get(client, path)
    assert _post(client, "/cadets/bulk", {"action": "archive", "next": path}).status_code == 303
    shown = _get(client, path)
    assert "Tick at least one cadet first." in _page(shown) and not _fast(shown)
    after = _get(client, path)
    assert "Tick at least one cadet first." not in _page(after)
    assert _fast(_get(client, path))


@redis_only
def test_sign_out_role_password_and_preferences_take_effect_on_the_next_request(app, client, staff):
    path = "/cadets/?per_page=50"
    user = make_user("training_staff", "pf-staff")
    other = app.test_client()
    _login(other, user)
    second = app.test_client()  # a second session of the same user, to outlive a password change
    _login(second, user)
    for c in (other, second):
        _get(c, path)
        assert _fast(_get(c, path))

    # Preferences: the page is drawn again, dark, by Flask; then served fast again.
    assert _post(other, "/account/preferences", {"page_size": "25", "dark_mode": "on"}).status_code in (302, 303)
    flashed = _get(other, path)  # "Preferences saved." is shown: drawn by Flask, not stored
    assert not _fast(flashed) and 'class="dark' in _page(flashed)
    drawn = _get(other, path)
    assert not _fast(drawn) and 'class="dark' in _page(drawn)
    assert _fast(_get(other, path))

    # A password change ends the user's other sessions at once; the changing session goes on.
    changed = _post(other, "/account/password", {"current_password": PASSWORD, "new_password": "another-good-pass1",
                                                  "confirm_password": "another-good-pass1"})
    assert changed.status_code in (302, 303)
    assert _get(second, path).status_code == 302
    assert _get(other, path).status_code == 200

    # A role change by an admin ends the sessions too; signed in again, the new role is refused the page.
    assert _post(client, f"/admin/users/{user.id}", {"role": "cadet", "is_active": "on"}).status_code in (302, 303)
    assert _get(other, path).status_code == 302
    _login(other, user, "another-good-pass1")
    assert _get(other, path).status_code == 403

    # Signing out: the next request, and a copy of the old cookie, are signed out.
    assert "User saved." in _page(_get(client, path))
    _get(client, path)
    copy = client.get_cookie("session").value
    assert _fast(_get(client, path))
    assert _post(client, "/logout", {}).status_code == 302
    assert _get(client, path).status_code == 302
    client.set_cookie("session", copy)
    assert _get(client, path).status_code == 302


@redis_only
def test_the_token_and_the_identifier_are_made_as_flask_wtf_and_flask_login_make_them(app, frozen_tokens):
    check = wsgi_layer(app, PageFastPath).sessions
    headers = {"User-Agent": "Mozilla/5.0 (é)", "X-Forwarded-For": "10.0.0.1, 10.0.0.2"}
    for extra in ({}, headers, {"X-Forwarded-For": "10.1.1.1"}):
        contextvars.Context().run(_compare_in_a_request, app, check, extra)


def _compare_in_a_request(app, check, headers: dict) -> None:
    with app.test_request_context("/cadets/", headers=headers, environ_base={"REMOTE_ADDR": "192.0.2.9"}) as ctx:
        assert login_identifier(ctx.request.environ) == _create_identifier()
        token = generate_csrf()
        assert check.csrf_token(session["csrf_token"]) == token


@redis_only
def test_fast_pages_are_on_the_dashboard(client, staff, reached_flask):
    path = "/grades/?per_page=50"
    _get(client, path)
    for _ in range(3):
        assert _fast(_get(client, path))
    admin_api = {"Authorization": "Bearer " + make_token(staff)}
    metrics = client.get("/api/metrics?window=5m", headers=admin_api).json["data"]
    row = next(row for row in metrics["endpoints"] if row["endpoint"] == "GET grades.index")
    assert row["requests"] >= 4


@pytest.mark.skipif(bool(os.environ.get("REDIS_URL")), reason="without Redis only")
def test_without_redis_there_is_no_fast_path_and_pages_are_drawn_as_before(app, client):
    assert not any(isinstance(w, PageFastPath) for w in (app.wsgi_app, getattr(app.wsgi_app, "next", None)))
    make_cadets(3)
    _login(client, make_user("admin", "pf-plain"))
    for _ in range(2):
        response = _get(client, "/cadets/")
        assert response.status_code == 200 and "pf-plain · admin" in _page(response) and not _fast(response)
