"""The data cache runs on the backend Flask-Caching builds (blueprints/core/cache_store.py), in both
configurations, and the stored list bodies are compressed by Flask-Compress with its settings."""

from __future__ import annotations

import gzip
import os

import brotli
import pytest
import redis
from redis.client import Pipeline

from app import create_app
from blueprints.core import cache, cache_store, outbox
from blueprints.core.cache_entry import Entry
from blueprints.core.extensions import compress
from models import CacheClear, db, utcnow
from tests.factories import login, make_cadets, make_token, make_user

STORE_METHODS = ("get", "get_many", "set", "add", "delete", "inc")


def _keyed(args: tuple) -> list[str]:
    return [a.decode() if isinstance(a, bytes) else a for a in args if isinstance(a, str | bytes)]


@pytest.fixture
def store_calls(app, monkeypatch):
    """(method, keys) for every call on the app's cache backend, which still does its work."""
    store = cache.store_for(app)
    calls: list[tuple[str, tuple[str, ...]]] = []
    for name in STORE_METHODS:
        method = getattr(store, name)

        def spy(*args, _name=name, _method=method, **kwargs):
            calls.append((_name, args if _name == "get_many" else args[:1]))
            return _method(*args, **kwargs)

        monkeypatch.setattr(store, name, spy)
    return calls


@pytest.fixture
def redis_commands(monkeypatch):
    """(client, command, keys) for every command any Redis client or pipeline in this process sends."""
    sent: list[tuple[object, str, list[str]]] = []
    for cls in (redis.Redis, Pipeline):
        original = cls.execute_command

        def spy(self, *args, _original=original, **options):
            sent.append((self, str(args[0]).upper(), _keyed(args[1:])))
            return _original(self, *args, **options)

        monkeypatch.setattr(cls, "execute_command", spy)
    return sent


def _workload(app, client) -> None:
    """Pages and API lists, cold and warm (the fast path with Redis), a write and its clear, and the
    maintenance that applies a clear recorded while Redis was away."""
    make_cadets(5)
    admin = make_user("admin")
    api = {"Authorization": f"Bearer {make_token(admin)}", "Accept-Encoding": "gzip"}
    for _ in range(3):
        assert client.get("/api/cadets?limit=5", headers=api).status_code == 200
        assert client.get("/api/system-settings", headers=api).status_code == 200
    cadet = client.get("/api/cadets?limit=1", headers={"Authorization": api["Authorization"]}).json["data"][0]
    assert client.patch(f"/api/cadets/{cadet['id']}", headers=api, json={"first_name": "Spied"}).status_code == 200
    login(client, admin)
    for _ in range(2):
        assert client.get("/cadets/").status_code == 200
    db.session.add(CacheClear(namespace=app.config["CACHE_KEY_PREFIX"], domains="cadets", created_at=utcnow()))
    db.session.commit()
    outbox.apply_recorded()


def test_every_data_cache_read_and_write_goes_through_the_flask_caching_backend(app, client, store_calls,
                                                                                redis_commands):
    _workload(app, client)
    store = cache.store_for(app)
    assert type(store) is (cache_store.PlainRedisCache if app.config.get("REDIS_URL") else cache_store.PlainSimpleCache)
    used = {(method, key.split(":")[0]) for method, keys in store_calls for key in keys}
    assert {("get_many", "gen"), ("get_many", "data"), ("set", "data"), ("add", "data"), ("delete", "data")} <= used
    if not app.config.get("REDIS_URL"):
        assert ("inc", "gen") in used
    else:  # a write's clear bumps its generations with the commit's WAL position in one script (outbox.py)
        prefix = cache_store.stored_prefix(app.config)
        assert any(command in ("EVAL", "EVALSHA") and any(k.startswith(prefix + "gen:") for k in keys)
                   for client_, command, keys in redis_commands if client_ is store._write_client)
    prefix = cache_store.stored_prefix(app.config)
    around = [(command, key) for client_, command, keys in redis_commands for key in keys
              if key.startswith((prefix + "data:", prefix + "gen:")) and client_ is not store._write_client]
    assert around == []
    if app.config.get("REDIS_URL"):  # and Redis saw them, from the backend's client
        commands = {command for client_, command, _ in redis_commands if client_ is store._write_client}
        assert {"MGET", "SET", "DEL"} <= commands and commands & {"EVAL", "EVALSHA"}


def test_a_warm_api_request_is_one_round_trip_through_the_backend(app, client, store_calls, redis_commands):
    make_cadets(3)
    headers = {"Authorization": f"Bearer {make_token(make_user('admin'))}", "Accept-Encoding": "gzip"}
    client.get("/api/cadets?limit=3", headers=headers)
    store_calls.clear()
    redis_commands.clear()
    assert client.get("/api/cadets?limit=3", headers=headers).status_code == 200
    # One multi-get of the token, the list body and their domains' generations (the in-process
    # backend's get_many asks its own get for each key); nothing else.
    (keys,) = [keys for method, keys in store_calls if method == "get_many"]
    assert {key.split(":")[0] for key in keys} == {"gen", "data"}
    assert {method for method, _ in store_calls} <= {"get_many", "get"}
    if app.config.get("REDIS_URL"):
        store = cache.store_for(app)
        assert [command for client_, command, _ in redis_commands if client_ is store._read_client] == ["MGET"]


# --- the backends themselves ---------------------------------------------------------------------


@pytest.mark.parametrize("value", [{"a": 1}, "html", (1, b"\x1f\x8b")])
def test_both_backends_store_plain_entries_and_counters(app, value):
    store = cache.store_for(app)
    store.set("probe", Entry((1, 2), value), timeout=60)
    assert store.get("probe") == Entry((1, 2), value)
    assert store.inc("probe-gen") == 1 and store.inc("probe-gen") == 2 and store.get("probe-gen") == 2
    assert store.add("probe-lock", 1, timeout=5) and not store.add("probe-lock", 1, timeout=5)
    with pytest.raises(TypeError):
        store.set("probe", {"not": "an entry"})


def test_the_in_process_counters_never_expire_and_are_not_pruned(app):
    other = create_app({"MUSTER_ENV": "testing", "TESTING": True, "REDIS_URL": None, "CACHE_THRESHOLD": 10,
                        "CACHE_DEFAULT_TIMEOUT": 1, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})
    with other.app_context():
        store = cache.store_for(other)
        assert type(store) is cache_store.PlainSimpleCache
        for _ in range(3):
            store.inc("gen:cadets")
        for n in range(40):  # far past the threshold: the oldest entries go, the counter stays
            store.set(f"data:x:{n}", Entry((3,), n), timeout=60)
        assert store.get("gen:cadets") == 3
        assert store._cache[cache_store.stored_prefix(other.config) + "gen:cadets"][0] == 0  # never expires
        assert len(store._cache) <= 11
        db.engine.dispose()


def test_a_cache_type_that_would_pickle_is_refused(app):
    with pytest.raises(RuntimeError, match="pickle"):
        create_app({"MUSTER_ENV": "testing", "TESTING": True, "REDIS_URL": None, "CACHE_TYPE": "SimpleCache",
                    "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]})


def test_flask_caching_settings_follow_redis_url(app):
    url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6390/0"  # never connected to here
    base = {"MUSTER_ENV": "testing", "TESTING": True, "SQLALCHEMY_DATABASE_URI": app.config["SQLALCHEMY_DATABASE_URI"]}
    shared = create_app({**base, "REDIS_URL": url})
    embedded = create_app({**base, "REDIS_URL": None})
    assert shared.config["CACHE_TYPE"] == cache_store.REDIS_BACKEND and shared.config["CACHE_REDIS_URL"] == url
    assert embedded.config["CACHE_TYPE"] == cache_store.EMBEDDED_BACKEND
    assert cache.store_for(shared).default_timeout == shared.config["CACHE_DEFAULT_TIMEOUT"] == 300


# --- compression: Flask-Compress's, with its settings --------------------------------------------


def _gzip_at(plain: bytes, level: int, like: bytes) -> bytes:
    """What gzip at this level gives for `plain`, with the timestamp `like` carries."""
    return gzip.compress(plain, compresslevel=level, mtime=int.from_bytes(like[4:8], "little"))


def test_compress_level_sets_the_stored_body(app, client, monkeypatch):
    make_cadets(20)
    headers = {"Authorization": f"Bearer {make_token(make_user('admin'))}", "Accept-Encoding": "gzip"}
    monkeypatch.setitem(app.config, "COMPRESS_LEVEL", 1)
    fast = client.get("/api/cadets?limit=20", headers=headers)
    plain = gzip.decompress(fast.data)
    assert fast.data == _gzip_at(plain, 1, fast.data)
    assert client.get("/api/cadets?limit=20", headers=headers).data == fast.data  # stored, not redone
    monkeypatch.setitem(app.config, "COMPRESS_LEVEL", 9)
    cache.clear_cadets()  # the next fill compresses at the new level
    best = client.get("/api/cadets?limit=20", headers=headers)
    assert best.data == _gzip_at(plain, 9, best.data) != fast.data
    assert best.headers["ETag"] == fast.headers["ETag"]  # same body, same validator


def test_a_client_preferring_another_enabled_encoding_gets_it_from_flask_compress(app, client, monkeypatch):
    make_cadets(20)
    token = {"Authorization": f"Bearer {make_token(make_user('admin'))}"}
    stored = client.get("/api/cadets?limit=20", headers={**token, "Accept-Encoding": "gzip, br"})
    assert stored.headers["Content-Encoding"] == "gzip"  # equal preference: the stored body
    br = client.get("/api/cadets?limit=20", headers={**token, "Accept-Encoding": "br;q=1.0, gzip;q=0.5"})
    assert br.headers["Content-Encoding"] == "br" and br.headers["ETag"].endswith(':br"')
    assert brotli.decompress(br.data) == gzip.decompress(stored.data)
    monkeypatch.setattr(compress, "enabled_algorithms", ("br",))  # gzip not enabled: never served
    plain = client.get("/api/cadets?limit=20", headers={**token, "Accept-Encoding": "gzip"})
    assert "Content-Encoding" not in plain.headers and plain.data == gzip.decompress(stored.data)
