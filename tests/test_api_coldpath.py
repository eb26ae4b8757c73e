"""The API list read on a cache miss, answered before Flask (blueprints/api/coldpath.py).

It must answer with exactly what Flask answers (same status, bytes and headers) for every list state,
with the cache off and on a miss with it on, and must hand to Flask every request it cannot answer
exactly: those cases are each shown here to reach Flask and to get Flask's answer.
"""

from __future__ import annotations

import re
from itertools import count

import pytest

from blueprints.api.coldpath import ColdPath
from blueprints.core.operations.tokens import revoke_token
from blueprints.core.operations.users import update_user
from models import ApiToken, db
from tests.conftest import count_handed_on, wsgi_layer
from tests.factories import make_cadets, make_token, make_training_day, make_user

PATHS = ["/api/cadets?limit=10", "/api/cadets?limit=10&page=2", "/api/cadets?limit=100",
         "/api/grades?limit=5&sort=-final_grade", "/api/grades?limit=7&remarks=Passed",
         "/api/training-days", "/api/cadets?company=Alpha&search=l&limit=20", "/api/cadets?archived=all&limit=5",
         "/api/cadets?sort=-student_id&after=3&limit=4", "/api/cadets?page=99&limit=50",
         "/api/cadets?limit=10&limit=20", "/api/cadets?search=L+0&limit=5", "/api/cadets?search=l%C3%A9&limit=5",
         "/api/cadets?search=%ff&limit=5", "/api/cadets?search=&limit=5"]
_VARYING = {"Date", "Server-Timing"}
_prefixes = count()


@pytest.fixture
def reached_flask(app, monkeypatch):
    """The paths of the requests the cold path handed on to Flask."""
    return count_handed_on(wsgi_layer(app, ColdPath), monkeypatch)


@pytest.fixture
def admin(app, client):
    make_cadets(30)
    make_training_day()
    user = make_user("admin")
    headers = {"Authorization": f"Bearer {make_token(user)}", "Accept-Encoding": "gzip"}
    client.get("/api/cadets?limit=1", headers=headers)  # the token's first use is a write: Flask records it
    return {"user": user, "headers": headers}


def _headers(response) -> dict[str, str]:
    return {name: value for name, value in response.headers.items() if name not in _VARYING}


def _miss(app) -> None:
    """Start from an empty cache namespace: the next list read is a miss."""
    app.config["CACHE_KEY_PREFIX"] = f"{app.config['CACHE_KEY_PREFIX']}-{next(_prefixes)}"


@pytest.mark.parametrize("cache", [False, True], ids=["cache-off", "cache-miss"])
@pytest.mark.parametrize("path", PATHS)
def test_a_cold_list_skips_flask_and_answers_the_same_bytes_and_headers(app, client, admin, reached_flask, cache,
                                                                        path):
    app.config["MUSTER_CACHE"] = cache
    _miss(app)
    client.get("/api/cadets?limit=1", headers=admin["headers"])  # a new namespace: the token, looked up afresh
    reached_flask.clear()
    served = client.get(path, headers=admin["headers"])
    assert reached_flask == []
    _miss(app)
    app.config["MUSTER_COLD_PATH"] = False
    try:
        built = client.get(path, headers=admin["headers"])
    finally:
        app.config["MUSTER_COLD_PATH"] = True
    assert reached_flask == [path.partition("?")[0]]
    assert served.status_code == built.status_code == 200
    assert served.headers["Content-Encoding"] == "gzip"
    # The same bytes, but for the gzip header's MTIME (bytes 4-8: the second each was compressed in).
    assert served.data[:4] + served.data[8:] == built.data[:4] + built.data[8:]
    assert list(_headers(served).items()) == list(_headers(built).items())
    timing = served.headers["Server-Timing"]
    assert re.fullmatch(r'db;dur=[\d.]+;desc="\d+ queries", cache;desc=(none|miss|hit), app;dur=[\d.]+, '
                        r'fastpath;desc="cold, before Flask"', timing), timing


@pytest.mark.parametrize("cache", [False, True], ids=["cache-off", "cache-on"])
def test_requests_it_cannot_answer_reach_flask_and_get_its_answer(app, client, admin, reached_flask, cache):
    app.config["MUSTER_CACHE"] = cache
    path = "/api/cadets?limit=10"
    cadet_token = make_token(make_user("cadet"))
    cases = [
        ({"Host": "evil.example"}, path, 400),  # a host not in TRUSTED_HOSTS: Flask refuses it
        ({"Accept-Encoding": "identity"}, path, 200),  # a plain body
        ({"If-None-Match": '"x"'}, path, 200),  # a validator: the view compares it
        ({"Authorization": f"Bearer {cadet_token}"}, path, 403),  # a role the route refuses
        ({"Authorization": "Bearer mst_not-a-token"}, path, 401),
        ({"Authorization": "Basic abc"}, path, 401),
        ({"Authorization": ""}, path, 401),
        ({}, "/api/cadets?limit=abc", 400),  # the view names the bad parameter
        ({}, "/api/cadets?sort=nope", 400),
        ({}, "/api/cadets?after=zz&sort=name", 400),
    ]
    for extra, url, status in cases:
        _miss(app)  # else the warm fast path may answer it
        reached_flask.clear()
        response = client.get(url, headers={**admin["headers"], **extra})
        assert response.status_code == status, (extra, url)
        assert reached_flask == ["/api/cadets"], (extra, url)


@pytest.mark.parametrize("cache", [False, True], ids=["cache-off", "cache-on"])
def test_no_way_around_the_token_checks(app, client, admin, reached_flask, cache):
    """A revoked token, a deactivated user and a role taken away are refused on the very next request."""
    app.config["MUSTER_CACHE"] = cache
    path = "/api/cadets?limit=10"
    staff = make_user("training_staff")
    headers = {**admin["headers"], "Authorization": f"Bearer {make_token(staff)}"}
    client.get(path, headers=headers)  # its first use: Flask records it
    _miss(app)
    reached_flask.clear()
    assert client.get(path, headers=headers).status_code == 200 and reached_flask == []
    update_user(admin["user"], staff.id, {"role": "cadet"})
    assert client.get(path, headers=headers).status_code == 403
    update_user(admin["user"], staff.id, {"role": "training_staff", "is_active": False})
    _miss(app)
    assert client.get(path, headers=headers).status_code == 401
    update_user(admin["user"], staff.id, {"is_active": True})
    _miss(app)
    assert client.get(path, headers=headers).status_code == 200
    token_id = db.session.scalar(db.select(ApiToken.id).where(ApiToken.user_id == staff.id))
    revoke_token(staff, token_id)
    _miss(app)
    assert client.get(path, headers=headers).status_code == 401
    assert reached_flask == ["/api/cadets"] * 3  # the 403 and both 401s


def test_cold_requests_are_on_the_dashboard(app, client, admin):
    app.config["MUSTER_CACHE"] = False
    path = "/api/grades?limit=5"
    for _ in range(3):
        assert client.get(path, headers=admin["headers"]).status_code == 200
    plain = {"Authorization": admin["headers"]["Authorization"]}
    metrics = client.get("/api/metrics?window=5m", headers=plain).json["data"]
    row = next(row for row in metrics["endpoints"] if row["endpoint"] == "GET api.grades_list")
    assert row["requests"] == 3 and row["avg_queries"] >= 1
