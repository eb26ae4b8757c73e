"""The warm API list read answered before Flask (blueprints/api/fastpath.py).

It must answer with exactly what Flask would have answered, and must hand every request it cannot
answer from current cache entries to Flask: those cases are each shown here to reach Flask.
"""

from __future__ import annotations

import gzip
import json
import os
import re

import pytest

from blueprints.api.fastpath import FastPath
from tests.conftest import count_handed_on
from tests.factories import make_cadets, make_token, make_training_day, make_user

pytestmark = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="the fast path is installed only with Redis")

PATHS = ["/api/cadets?limit=10", "/api/cadets?limit=10&page=2", "/api/grades?limit=5&sort=-final_grade",
         "/api/training-days", "/api/cadets?company=Alpha&search=l&limit=20",
         # parsed as Flask parses them: first value wins, + and %-escapes, bytes that are not UTF-8
         "/api/cadets?limit=10&limit=20", "/api/cadets?search=L+0&limit=5", "/api/cadets?search=l%C3%A9&limit=5",
         "/api/cadets?search=%ff&limit=5", "/api/cadets?search=&limit=5"]
_VARYING = {"Date", "Server-Timing"}


@pytest.fixture
def reached_flask(app, monkeypatch):
    """The paths of the requests the fast path handed on to Flask."""
    fast = app.wsgi_app
    assert isinstance(fast, FastPath)
    return count_handed_on(fast, monkeypatch)


@pytest.fixture
def admin(app):
    make_cadets(30)
    make_training_day()
    user = make_user("admin")
    return {"user": user, "headers": {"Authorization": f"Bearer {make_token(user)}", "Accept-Encoding": "gzip"}}


def _data(response) -> list[dict]:
    body = response.data
    return json.loads(gzip.decompress(body) if response.headers.get("Content-Encoding") == "gzip" else body)["data"]


def _hits(report: dict, domain: str) -> int:
    return next((row["hits"] for row in report["domains"] if row["domain"] == domain), 0)


def _headers(response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name not in _VARYING}


@pytest.mark.parametrize("path", PATHS)
def test_a_warm_list_skips_flask_and_answers_the_same_bytes_and_headers(client, admin, reached_flask, path):
    built = client.get(path, headers=admin["headers"])  # a miss: Flask builds and stores the body
    served = client.get(path, headers=admin["headers"])
    assert reached_flask == [path.partition("?")[0]]
    assert served.status_code == built.status_code == 200
    assert served.data == built.data and served.headers["Content-Encoding"] == "gzip"
    assert _headers(served) == _headers(built)
    timing = served.headers["Server-Timing"]
    assert re.fullmatch(r'db;dur=0\.0;desc="0 queries", cache;desc=hit, app;dur=[\d.]+, '
                        r'fastpath;desc="before Flask"', timing)


def test_requests_it_cannot_answer_reach_flask(app, client, admin, reached_flask):
    path = "/api/cadets?limit=10"
    cadet_token = make_token(make_user("cadet"))  # before the body is stored: a cadet user adds a cadet
    staff_token = make_token(make_user("training_staff"))
    client.get(path, headers=admin["headers"])  # stores the body
    cases = [
        ({"Host": "evil.example"}, path, 400),  # a host not in TRUSTED_HOSTS: Flask refuses it
        ({"Accept-Encoding": "identity"}, path, 200),  # a plain body
        ({"Authorization": f"Bearer {cadet_token}"}, path, 403),  # a role the route refuses
        ({"Authorization": "Bearer mst_not-a-token"}, path, 401),
        ({"Authorization": ""}, path, 401),
        ({}, "/api/cadets?limit=abc", 400),  # the view names the bad parameter
    ]
    for extra, url, status in cases:
        reached_flask.clear()
        response = client.get(url, headers={**admin["headers"], **extra})
        assert response.status_code == status, (extra, url)
        assert reached_flask == ["/api/cadets"], (extra, url)
    reached_flask.clear()
    client.get(path, headers={**admin["headers"], "Authorization": f"Bearer {staff_token}"})  # staff may read it
    client.get(path, headers={**admin["headers"], "Authorization": f"Bearer {staff_token}"})
    assert reached_flask == ["/api/cadets"]  # the first: the new token's last-used touch is a write
    app.config["MUSTER_CACHE"] = False
    reached_flask.clear()
    assert client.get(path, headers=admin["headers"]).status_code == 200
    assert reached_flask == ["/api/cadets"]


def test_a_revoked_token_is_refused_at_once(client, admin, reached_flask):
    path = "/api/cadets?limit=10"
    client.get(path, headers=admin["headers"])
    assert client.get(path, headers=admin["headers"]).status_code == 200
    assert client.delete("/api/auth/token", headers=admin["headers"]).status_code == 204
    assert client.get(path, headers=admin["headers"]).status_code == 401


def test_a_write_is_seen_by_the_next_read_and_then_served_fast_again(client, admin, reached_flask):
    path = "/api/cadets?limit=10"
    first = _data(client.get(path, headers=admin["headers"]))[0]
    client.get(path, headers=admin["headers"])
    reached_flask.clear()
    response = client.patch(f"/api/cadets/{first['id']}", headers=admin["headers"], json={"first_name": "Renamed"})
    assert response.status_code == 200
    assert _data(client.get(path, headers=admin["headers"]))[0]["first_name"] == "Renamed"
    assert _data(client.get(path, headers=admin["headers"]))[0]["first_name"] == "Renamed"
    assert reached_flask == [f"/api/cadets/{first['id']}", "/api/cadets"]


def test_fast_requests_are_on_the_dashboard_and_in_the_cache_figures(client, admin, reached_flask):
    path = "/api/grades?limit=5"
    plain = {"Authorization": admin["headers"]["Authorization"]}
    client.get(path, headers=admin["headers"])
    before = client.get("/api/cache/stats", headers=plain).json["data"]
    for _ in range(4):
        assert client.get(path, headers=admin["headers"]).status_code == 200
    assert reached_flask.count("/api/grades") == 1
    after = client.get("/api/cache/stats", headers=plain).json["data"]
    hits = {name: _hits(after, name) - _hits(before, name) for name in ("grades", "users")}
    assert hits == {"grades": 4, "users": 4 + 1}  # + the second stats call's own token lookup
    metrics = client.get("/api/metrics?window=5m", headers=plain).json["data"]
    row = next(row for row in metrics["endpoints"] if row["endpoint"] == "GET api.grades_list")
    assert row["requests"] == 5 and row["avg_queries"] < 1


def test_a_request_handed_on_hashes_its_token_and_parses_its_list_state_once(client, admin, reached_flask,
                                                                               monkeypatch):
    from blueprints.core import auth
    from blueprints.core.liststate import ListState

    calls = {"hash": 0, "parse": 0}
    real_hash, real_parse = auth.token_hash, ListState.from_args.__func__

    def counting_hash(token):
        calls["hash"] += 1
        return real_hash(token)

    def counting_parse(cls, *args, **kwargs):
        calls["parse"] += 1
        return real_parse(cls, *args, **kwargs)

    monkeypatch.setattr(auth, "token_hash", counting_hash)
    monkeypatch.setattr(ListState, "from_args", classmethod(counting_parse))
    response = client.get("/api/cadets?limit=7&sort=-student_id", headers=admin["headers"])  # a miss: Flask answers
    assert response.status_code == 200 and reached_flask == ["/api/cadets"]
    # The fast path, the view's prefetch, its sign-in and the view itself share one of each.
    assert calls == {"hash": 1, "parse": 1}
