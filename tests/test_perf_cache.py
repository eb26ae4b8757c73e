"""Performance proof 9: the read cache is never stale, fails open, counts, and rebuilds once.

Freshness is checked per domain at the read-layer level: read (now cached), write through the real
operation, read again -> the new value at once. The HTTP level (ETag, 304) is the API's tests.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask

from app import create_app
from blueprints.core import cache, cache_stats
from blueprints.core.liststate import ListState
from blueprints.core.operations.attendance import bulk_attendance
from blueprints.core.operations.cadets import archive_cadets, update_cadet
from blueprints.core.operations.grades import bulk_update_grades, update_grade
from blueprints.core.operations.merits import record_merit
from blueprints.core.operations.settings import update_settings
from blueprints.core.operations.training import create_training_day, update_training_day
from blueprints.core.operations.users import update_user
from blueprints.core.reads.attendance import ATTENDANCE_SPEC, list_attendance
from blueprints.core.reads.cadets import CADET_SPEC, list_cadets
from blueprints.core.reads.grades import GRADE_SPEC, list_grades
from blueprints.core.reads.merits import MERIT_SPEC, list_merits
from blueprints.core.reads.settings import get_settings
from blueprints.core.reads.training import TRAINING_DAY_SPEC, list_training_days
from blueprints.core.reads.users import USER_SPEC, list_users
from models import db
from tests.factories import make_cadet, make_training_day, make_user

DEAD_REDIS = "redis://127.0.0.1:6390/0"


def _state(spec, **kwargs) -> ListState:
    return ListState(spec, **{"sort": spec.default_sort, "desc": spec.default_desc, **kwargs})


def _hits(domain: str) -> tuple[int, int]:
    found = cache_stats.stats().get(domain, {})
    return found.get("hit", 0), found.get("miss", 0)


def _read_twice(read, *args):
    """Read, then read again; the second read must be a cache hit (else freshness proves nothing)."""
    first = read(*args)
    return first, read(*args)


@pytest.fixture
def admin(app):
    return make_user("admin", "cache-admin")


# --- read, write, read again: fresh at once, per domain -------------------------------------


def test_cadets_fresh_after_edit_and_bulk_archive(app, admin):
    cid = make_cadet(admin, last_name="Before")
    state = _state(CADET_SPEC, sort="name")
    hits0, misses0 = _hits("cadets")
    first, again = _read_twice(list_cadets, state)
    assert again == first
    hits1, misses1 = _hits("cadets")
    assert (hits1 - hits0, misses1 - misses0) == (1, 1)
    update_cadet(admin, cid, {"last_name": "After"})
    assert [r["last_name"] for r in list_cadets(state)["data"]] == ["After"]
    archive_cadets(admin, [cid])
    assert list_cadets(state)["data"] == []


def test_grades_fresh_after_single_and_bulk_update(app, admin):
    cid = make_cadet(admin)
    state = _state(GRADE_SPEC, sort="final_grade", desc=True)
    _read_twice(list_grades, state)
    version = update_grade(admin, cid, {"prelim_score": 90})
    assert list_grades(state)["data"][0]["grades"]["prelim_score"] == 90
    bulk_update_grades(admin, [{"cadet_id": cid, "prelim_score": 91, "version": version}])
    assert list_grades(state)["data"][0]["grades"]["prelim_score"] == 91


def test_merits_fresh_after_recording(app, admin):
    cid = make_cadet(admin)
    state = _state(MERIT_SPEC, sort="date_recorded", desc=True)
    first, _ = _read_twice(list_merits, state)
    assert first["total"] == 0
    record_merit(admin, {"cadet_id": cid, "type": "merit", "points": 5, "reason": "Drill"})
    page = list_merits(state)
    assert page["total"] == 1 and page["data"][0]["points"] == 5
    # The cadet list shows merit totals, so it must be fresh as well.
    assert list_cadets(_state(CADET_SPEC, sort="name"))["data"][0]["grades"]["merit_points"] == 5


def test_training_days_fresh_after_create_and_edit(app, admin):
    state = _state(TRAINING_DAY_SPEC, sort="date", desc=True)
    first, _ = _read_twice(list_training_days, state)
    assert first["total"] == 0
    day = create_training_day(admin, {"date": "2026-09-05", "title": "Drill"})
    assert [d["title"] for d in list_training_days(state)["data"]] == ["Drill"]
    update_training_day(admin, day, {"title": "Parade"})
    assert [d["title"] for d in list_training_days(state)["data"]] == ["Parade"]


def test_attendance_fresh_after_bulk_call(app, admin):
    cid = make_cadet(admin)
    day = make_training_day(admin)
    state = _state(ATTENDANCE_SPEC, sort="name")
    days_state = _state(TRAINING_DAY_SPEC, sort="date")
    _read_twice(list_attendance, state)
    _read_twice(list_training_days, days_state)
    bulk_attendance(admin, {"training_day_id": day, "cadet_ids": [cid], "status": "present"})
    assert [r["status"] for r in list_attendance(state)["data"]] == ["present"]
    assert list_training_days(days_state)["data"][0]["present_count"] == 1
    bulk_attendance(admin, {"training_day_id": day, "cadet_ids": [cid], "status": "absent", "on_conflict": "update"})
    assert [r["status"] for r in list_attendance(state)["data"]] == ["absent"]
    assert list_cadets(_state(CADET_SPEC))["data"][0]["grades"]["attendance_present"] == 0


def test_settings_fresh_after_update(app, admin):
    hits0, _ = _hits("settings")
    first, _ = _read_twice(get_settings)
    assert _hits("settings")[0] == hits0 + 1
    update_settings(admin, {"unit_name": "Cavalier Battalion"})
    assert get_settings()["unit_name"] == "Cavalier Battalion"
    assert first["unit_name"] != "Cavalier Battalion"


def test_users_fresh_after_update(app, admin):
    other = make_user("training_staff", "staffer")
    state = _state(USER_SPEC, sort="username")
    _read_twice(list_users, state)
    update_user(admin, other.id, {"role": "admin"})
    roles = {u["username"]: u["role"] for u in list_users(state)["data"]}
    assert roles["staffer"] == "admin"


# --- counting, switching off ---------------------------------------------------------------


def test_cache_off_runs_the_builder_every_time(app):
    app.config["MUSTER_CACHE"] = False
    calls = []
    for _ in range(3):
        assert cache.cached("perf:off", ("cadets",), (1,), lambda: calls.append(1) or "v") == "v"
    assert len(calls) == 3
    app.config["MUSTER_CACHE"] = True
    for _ in range(3):
        cache.cached("perf:on", ("cadets",), (1,), lambda: calls.append(1) or "v")
    assert len(calls) == 4


def test_config_reads_muster_cache_off_from_the_environment():
    from config import load_config

    assert load_config({"MUSTER_CACHE": "off"})["MUSTER_CACHE"] is False
    assert load_config({})["MUSTER_CACHE"] is True


# --- fail-open -------------------------------------------------------------------------------


@contextmanager
def _other_app(base: Flask, **config) -> Iterator[Flask]:
    """A second app on the same database with other cache settings (e.g. an unreachable Redis)."""
    other = create_app({"MUSTER_ENV": "testing", "TESTING": True, "WTF_CSRF_ENABLED": False,
                        "SECRET_KEY": base.config["SECRET_KEY"],
                        "SQLALCHEMY_DATABASE_URI": base.config["SQLALCHEMY_DATABASE_URI"],
                        "CACHE_KEY_PREFIX": base.config["CACHE_KEY_PREFIX"], **config})
    try:
        yield other
    finally:
        with other.app_context():
            db.session.remove()
            db.engine.dispose()
        cache._pending_clears.clear()


def test_unreachable_redis_is_a_miss_not_an_error(app, admin):
    cid = make_cadet(admin, last_name="Reachable")
    with _other_app(app, REDIS_URL=DEAD_REDIS, REDIS_SOCKET_TIMEOUT=0.1) as broken:
        with broken.app_context():
            errors0 = cache_stats.stats().get("cadets", {}).get("error", 0)
            page = list_cadets(_state(CADET_SPEC))
            assert [r["id"] for r in page["data"]] == [cid]
            assert cache_stats.stats()["cadets"]["error"] == errors0 + 1
            # Writes still commit; the failed clear is remembered, reads keep coming from the database.
            update_cadet(db.session.merge(admin), cid, {"last_name": "StillFresh"})
            assert cache._pending_clears >= {"cadets"}
            assert list_cadets(_state(CADET_SPEC))["data"][0]["last_name"] == "StillFresh"
            assert get_settings()["semester"] == "1st"


def test_no_stale_value_after_a_clear_made_while_redis_was_down(app, admin):
    """Process A caches a page; a write whose clear fails (Redis down) must not leave A serving it."""
    if not app.config.get("REDIS_URL"):
        pytest.skip("needs Redis: the in-process cache cannot be unreachable")
    cid = make_cadet(admin, last_name="Old")
    state = _state(CADET_SPEC)
    _read_twice(list_cadets, state)
    with _other_app(app, REDIS_URL=DEAD_REDIS, REDIS_SOCKET_TIMEOUT=0.1) as broken:
        with broken.app_context():
            update_cadet(db.session.merge(admin), cid, {"last_name": "New"})
        # Redis is back for this process: the pending clear is applied before the next read.
        assert cache._pending_clears
        assert list_cadets(state)["data"][0]["last_name"] == "New"
        assert not cache._pending_clears


# --- single rebuild under concurrent misses --------------------------------------------------


@pytest.mark.parametrize("backend", ["in-process", "redis"])
def test_concurrent_misses_rebuild_once(app, backend):
    redis_url = os.environ.get("REDIS_URL") if backend == "redis" else None
    if backend == "redis" and not redis_url:
        pytest.skip("REDIS_URL is not set")
    with _other_app(app, REDIS_URL=redis_url) as other:
        builds, results = [], []
        start = threading.Barrier(8)

        def slow_build() -> dict:
            builds.append(1)
            time.sleep(0.3)  # long enough that every thread misses while the first one builds
            return {"rows": [1, 2, 3]}

        def worker() -> None:
            with other.app_context():
                start.wait()
                results.append(cache.cached("perf:stampede", ("cadets",), ("cold",), slow_build))

        threads = [threading.Thread(target=worker) for _ in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert results == [{"rows": [1, 2, 3]}] * 8
        assert len(builds) == 1
