"""Cached entries are plain JSON: every value a read returns comes back exactly, and anything else
found in Redis (a pickle, a wrong shape) is refused: served from the database, never executed."""

from __future__ import annotations

import gzip
import json
import math
import os
import pickle
from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
import redis
from markupsafe import Markup

from blueprints.core import cache, cache_stats
from blueprints.core.cache_entry import Unreadable, pack, unpack
from blueprints.core.extensions import redis_handle
from tests.factories import login, make_cadets, make_token, make_user

redis_only = pytest.mark.skipif(not os.environ.get("REDIS_URL"), reason="needs a real Redis")
RAN: list[str] = []  # what a planted pickle would append to, were it ever loaded


def _run_on_load(marker: str) -> dict:
    RAN.append(marker)
    return {}


class Exploit:
    def __reduce__(self):
        return (_run_on_load, ("pickle ran",))


@pytest.fixture(autouse=True)
def _nothing_ran():
    RAN.clear()
    yield
    assert RAN == [], "a stored pickle was loaded"


# --- the format ----------------------------------------------------------------------------------


def _same(a, b) -> bool:
    """Equal and of the same types all the way down (== alone takes (1,) for [1] or 1 for True)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return a == b


@pytest.mark.parametrize("value", [
    "<table>fragment</table>", None, 0, -(2**63), True, 1.5, [], {},
    ("digest", b"\x1f\x8b\x00binary\xff"),
    {"id": 1, "created_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "date": date(2026, 2, 3),
     "time_in": time(7, 30, 15), "total": Decimal("12.50"), "flags": [True, False, None], "nested": ({"x": (1,)},)},
    {"data": [], "page": 1, "limit": 50, "total": 0, "next_after": None},
])
def test_every_cached_shape_comes_back_exactly(value):
    gens, back = unpack(pack((3, 0), value))
    assert gens == (3, 0) and _same(back, value)


def test_a_dict_that_looks_like_a_tag_is_refused_not_misread():
    with pytest.raises(TypeError):
        pack((1,), {"\x00": ["bytes", "AA=="]})


@pytest.mark.parametrize("value", [{1: "int key"}, {"a": {2, 3}}, Markup("<b>"), math.nan, object()])
def test_a_value_without_an_exact_plain_form_is_not_stored(value):
    with pytest.raises(TypeError):
        pack((1,), value)


@pytest.mark.parametrize("blob", [
    pickle.dumps(((1,), "value")),
    pickle.dumps(Exploit()),
    b"not json",
    b'{"gens": [1], "value": 2}',
    b'[[1], false]',
    b'[["1"], false, "x"]',
    b'[[1], true, {"\\u0000": ["module", "os.system"]}]',
    b'[[1], true, {"\\u0000": ["bytes", "not base64!"]}]',
    b'[[1], true, {"\\u0000": ["decimal", "twelve"]}]',
    b'[[1], true, {"\\u0000": ["date", 20260101]}]',
    b'[[1], true, {"\\u0000": ["tuple", [1]], "extra": 1}]',
])
def test_anything_else_is_unreadable(blob):
    with pytest.raises(Unreadable):
        unpack(blob)


# --- on real Redis: a planted pickle is refused -----------------------------------------------------


def _plant_over(client: redis.Redis, pattern: str) -> list[bytes]:
    keys = [k for k in client.scan_iter(match=pattern) if not k.endswith(b":lock")]
    for key in keys:
        client.set(key, pickle.dumps(Exploit()))
    return keys


@redis_only
def test_a_pickle_planted_under_a_live_key_is_a_counted_miss_and_is_replaced(app):
    calls: list[int] = []

    def build():
        calls.append(1)
        return {"at": datetime(2026, 1, 1, tzinfo=UTC), "n": len(calls)}

    with app.test_request_context():
        assert cache.cached("plant:read", ("cadets",), ("args",), build)["n"] == 1
        assert cache.cached("plant:read", ("cadets",), ("args",), build)["n"] == 1  # a hit
        client = redis_handle.client()
        assert client.get(cache.make_key("plant:read", ("args",))).startswith(b"[[")  # plain JSON, not a pickle
        client.set(cache.make_key("plant:read", ("args",)), pickle.dumps(Exploit()))
        before = cache_stats.stats().get("cadets", {}).get("error", 0)

        assert cache.cached("plant:read", ("cadets",), ("args",), build)["n"] == 2  # built again, not loaded
        assert cache_stats.stats()["cadets"]["error"] == before + 1
        assert cache.cached("plant:read", ("cadets",), ("args",), build)["n"] == 2  # the rebuild replaced it


@redis_only
def test_a_pickle_planted_under_the_api_body_and_token_is_served_from_the_database(app, client):
    make_cadets(3)
    headers = {"Authorization": f"Bearer {make_token(make_user('admin'))}", "Accept-Encoding": "gzip"}
    first = client.get("/api/cadets?limit=10", headers=headers)
    warm = client.get("/api/cadets?limit=10", headers=headers)  # now stored: the fast path would answer
    assert warm.status_code == 200 and warm.data == first.data
    prefix = app.config["CACHE_KEY_PREFIX"]
    planted = _plant_over(redis_handle.for_app(app), f"{prefix}:data:*")
    assert any(b":api:cadets:list:" in k for k in planted) and any(b":users:token:" in k for k in planted)

    again = client.get("/api/cadets?limit=10", headers=headers)
    assert again.status_code == 200
    assert [c["id"] for c in json.loads(gzip.decompress(again.data))["data"]] == \
           [c["id"] for c in json.loads(gzip.decompress(first.data))["data"]]
    with app.test_request_context():
        assert cache_stats.stats()["users"]["error"] >= 1 and cache_stats.stats()["cadets"]["error"] >= 1


@redis_only
def test_a_pickle_planted_under_a_table_page_is_served_from_the_database(app, client):
    make_cadets(3)
    login(client, make_user("admin"))
    first = client.get("/cadets/")
    assert first.status_code == 200 and b"L0000" in first.data
    _plant_over(redis_handle.for_app(app), f"{app.config['CACHE_KEY_PREFIX']}:data:*")
    again = client.get("/cadets/")
    assert again.status_code == 200 and b"L0000" in again.data
