"""The cost of each hot path, pinned: SQL statements, Redis round trips and url_for calls per request.

Counts, not timings: they hold on any machine and fail the moment a change adds a round trip.
"""

from __future__ import annotations

import os
from contextlib import contextmanager

import pytest
from flask import g
from redis.connection import AbstractConnection
from sqlalchemy import text

from blueprints.core.seed import seed
from models import db
from tests.conftest import is_postgres, on_this_thread
from tests.factories import login, make_cadets, make_token, make_training_day, make_user

API_LISTS = ["/api/cadets?limit=50", "/api/grades?limit=50&sort=-final_grade", "/api/training-days",
             "/api/cadets?company=Alpha&search=l&limit=20"]
redis_only = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="Redis round trips need Redis")


@pytest.fixture
def redis_round_trips(monkeypatch):
    """Context manager counting commands this thread writes to Redis (a pipeline or MGET is one
    round trip); the background statistics flusher's writes are not the request's."""
    sent: list[int] = []
    original = AbstractConnection.send_packed_command
    on_request_thread = on_this_thread()

    def counting(self, command, check_health=True):
        if on_request_thread():
            sent.append(1)
        return original(self, command, check_health)

    @contextmanager
    def counter():
        sent.clear()
        monkeypatch.setattr(AbstractConnection, "send_packed_command", counting)
        try:
            yield sent
        finally:
            monkeypatch.setattr(AbstractConnection, "send_packed_command", original)

    return counter


@pytest.fixture
def staff_headers(app):
    make_cadets(120)
    make_training_day()
    user = make_user("admin")
    return {"Authorization": f"Bearer {make_token(user)}"}


@redis_only
@pytest.mark.parametrize("path", API_LISTS)
def test_warm_api_list_costs_no_sql_and_one_redis_round_trip(client, staff_headers, count_queries,
                                                             redis_round_trips, path):
    assert client.get(path, headers=staff_headers).status_code == 200  # fills the cache
    with count_queries() as statements, redis_round_trips() as trips:
        response = client.get(path, headers=staff_headers)
    assert response.status_code == 200
    assert list(statements) == []
    assert len(trips) == 1


@pytest.mark.parametrize("path", API_LISTS)
def test_cold_api_list_costs_at_most_two_statements(app, client, staff_headers, count_queries, path):
    """Token lookup, then the page with its total in the same statement."""
    app.config["MUSTER_CACHE"] = False
    client.get(path, headers=staff_headers)  # token last-used bookkeeping happens once
    with count_queries() as statements:
        response = client.get(path, headers=staff_headers)
    assert response.status_code == 200 and response.json["total"] > 0
    assert len(statements) <= 2, statements


def test_a_page_past_the_end_still_has_its_total(app, client, staff_headers):
    app.config["MUSTER_CACHE"] = False
    body = client.get("/api/cadets?limit=50&page=99", headers=staff_headers).json
    assert body["data"] == [] and body["total"] == 121 - 1  # 120 cadets; the admin is no cadet


@pytest.fixture
def signed_in(app, client):
    make_cadets(120)
    user = make_user("admin")
    login(client, user)
    return client


@redis_only
@pytest.mark.parametrize("path", ["/cadets/?per_page=50", "/grades/?per_page=100&sort=-final_grade"])
def test_warm_table_page_costs_no_sql(signed_in, count_queries, redis_round_trips, path):
    """The signed-in user and the table body both come from the cache."""
    assert signed_in.get(path).status_code == 200
    with count_queries() as statements, redis_round_trips() as trips:
        response = signed_in.get(path)
    assert response.status_code == 200 and b"L0" in response.data
    assert list(statements) == []
    assert len(trips) <= 2  # the user, the table body


@pytest.mark.parametrize("path", ["/cadets/", "/grades/"])
def test_cold_table_page_statements_do_not_grow_with_rows(app, signed_in, count_queries, path):
    app.config["MUSTER_CACHE"] = False
    counts = []
    for size in (10, 100):
        with count_queries() as statements:
            assert signed_in.get(f"{path}?per_page={size}").status_code == 200
        counts.append(len(statements))
    assert counts[0] == counts[1] <= 3  # the user, the page with its total, the filter menus


def test_table_render_calls_url_for_a_constant_number_of_times(app, signed_in, monkeypatch):
    """Row links are string joins after one url_for: 10 rows and 100 rows cost the same calls."""
    app.config["MUSTER_CACHE"] = False
    calls: list[str] = []
    original = app.url_for

    def counting(endpoint, **values):
        calls.append(endpoint)
        return original(endpoint, **values)

    monkeypatch.setattr(app, "url_for", counting)
    monkeypatch.setitem(app.jinja_env.globals, "url_for", counting)
    counts = {}
    for size in (10, 100):
        calls.clear()
        response = signed_in.get(f"/cadets/?per_page={size}")
        assert response.status_code == 200 and response.data.count(b'href="/cadets/') >= size
        counts[size] = len(calls)
    assert counts[10] == counts[100] < 40


def test_cached_table_body_holds_no_csrf_token_of_another_user(app, client):
    """Two admins see the same cached table body, each with their own CSRF token in its forms."""
    make_cadets(5)
    tokens = []
    for name in ("csrf-one", "csrf-two"):
        other = app.test_client()
        login(other, make_user("admin", name))
        g.pop("csrf_token", None)  # the test's app context outlives requests; a server's does not
        page = other.get("/cadets/").data.decode()
        assert "\x00" not in page
        tokens.append(set(part.split('"')[0] for part in page.split('name="csrf_token" value="')[1:]))
    # one token per page (sign-out form and table form agree), and each user has their own
    assert len(tokens[0]) == 1 and len(tokens[1]) == 1 and tokens[0] != tokens[1]


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", os.environ.get("DATABASE_URL", "")).startswith("postgres"),
                    reason="planner statistics are PostgreSQL's")
def test_seed_and_bulk_import_leave_their_tables_analyzed(app):
    """After a bulk load the planner knows the row counts (TRUNCATE left them unknown: -1)."""
    assert is_postgres()

    def reltuples(table: str) -> float:
        return db.session.scalar(text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table})

    assert reltuples("cadets") < 0
    seed(40, 3, seed_value=2)
    db.session.commit()
    assert reltuples("cadets") == 40 and reltuples("attendance_records") == 120
    make_cadets(600)
    db.session.commit()
    assert reltuples("cadets") == 640 and reltuples("grades") == 640
