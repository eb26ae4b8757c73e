"""Cold (cache-miss) reads: list statements kept compiled per list state give the rows a freshly built
statement gives, see every write, and a cold table page runs the API's statement plus its menus only."""

from __future__ import annotations

import time
from dataclasses import replace

import pytest
from sqlalchemy import event, select

from blueprints.core import keyset
from blueprints.core.liststate import ListState
from blueprints.core.operations.cadets import archive_cadets, update_cadet
from blueprints.core.operations.grades import update_grade
from blueprints.core.reads import compiled
from blueprints.core.reads.cadets import CADET_SPEC, fetch_cadets, list_cadets
from blueprints.core.reads.grades import GRADE_SPEC
from blueprints.core.seed import seed
from models import Cadet, db
from tests.conftest import is_postgres
from tests.factories import PASSWORD, login, make_token, make_user


@pytest.fixture
def cold(app):
    """40 seeded cadets (some archived), the cache off: every read is a miss."""
    admin = make_user("admin", "cold-admin")
    seed(40, 3, seed_value=5)
    app.config["MUSTER_CACHE"] = False
    compiled.forget()
    return admin


def _states() -> list[ListState]:
    base = [ListState(spec, per_page=7, sort=spec.default_sort) for spec in (CADET_SPEC, GRADE_SPEC)]
    states = []
    for state in base:
        for sort in ("name", "final_grade", "company", "year_level"):
            for desc in (False, True):
                states.append(replace(state, sort=sort, desc=desc, page=2))
        states += [
            replace(state, filters=(("company", "Alpha"),)),
            replace(state, filters=(("archived", "all"), ("year_level", 2))),
            replace(state, filters=(("archived", "archived"),)),
            replace(state, search="a", per_page=5),
            replace(state, search="zzzz-nobody"),
            replace(state, after=10, sort="id"),
            replace(state, page=99),  # past the end: clamped on pages, empty on the API
        ]
    states.append(replace(base[1], filters=(("remarks", "Failed"),)))
    return states


@pytest.mark.parametrize("clamp_page", [False, True])
def test_compiled_pages_equal_freshly_built_ones(cold, clamp_page):
    for state in _states():
        fresh = fetch_cadets(state, clamp_page, compiled_as=None)
        first = list_cadets(state, clamp_page=clamp_page)  # compiles
        again = list_cadets(state, clamp_page=clamp_page)  # runs the kept SQL
        assert first == fresh == again, state
        assert [list(row) for row in first["data"]] == [list(row) for row in fresh["data"]]  # key order too
    assert compiled._entries or not is_postgres()  # PostgreSQL ran the kept statements


def test_compiled_cursor_pages_equal_freshly_built_ones(cold):
    state = ListState(GRADE_SPEC, per_page=6, sort="final_grade", desc=True, cursor="")
    for _ in range(4):  # walk forward by the signed cursors, comparing each page
        fresh = fetch_cadets(state, False, compiled_as=None)
        assert list_cadets(state) == fresh == list_cadets(state)
        if not fresh["next_after"]:
            break
        seek = keyset.load(fresh["next_after"], state.scope)
        state = replace(state, cursor=fresh["next_after"], seek=seek)


def test_compiled_pages_see_every_write(cold):
    state = ListState(GRADE_SPEC, per_page=50, sort="final_grade", desc=True)
    before = list_cadets(state)
    cadet_id = before["data"][-1]["id"]
    update_cadet(cold, cadet_id, {"first_name": "Renamed"})
    update_grade(cold, cadet_id, {"prelim_score": 100, "midterm_score": 100, "final_score": 100})
    after = list_cadets(state)
    assert after == fetch_cadets(state, False, compiled_as=None)
    row = next(r for r in after["data"] if r["id"] == cadet_id)
    assert row["first_name"] == "Renamed"
    assert after["data"].index(row) < before["data"].index(next(r for r in before["data"] if r["id"] == cadet_id))
    archive_cadets(cold, [cadet_id])
    archived = list_cadets(state)
    assert archived["total"] == before["total"] - 1
    assert cadet_id not in [r["id"] for r in archived["data"]]


def test_a_kept_page_is_run_without_building_a_select(cold, monkeypatch, count_queries):
    """Once its statement is kept, a numbered page near the front runs it as it is: none of the
    selects fetch_page needs is built, one statement is sent, and a write shows at once."""
    import blueprints.core.reads.cadets as cadets_reads

    if not is_postgres():
        pytest.skip("statements are kept on PostgreSQL only")
    states = [s for s in _states() if s.after is None and s.page < 99]
    built = {state: list_cadets(state) for state in states}  # compiles each
    for name in ("_id_base", "_count_base", "_kept_total", "_with_default_archived"):
        monkeypatch.setattr(cadets_reads, name, lambda *a, **k: pytest.fail("a select was built"))
    for state, first in built.items():
        if not first["data"]:
            continue  # an empty page counts its total in a second statement: fetch_page builds it
        with count_queries() as log:
            assert list_cadets(state) == first, state
        assert len(log) == 1, log
    monkeypatch.undo()
    empty = next(s for s in states if s.search == "zzzz-nobody")
    with count_queries() as log:  # the kept page (no rows), then its total: the page is not run again
        assert list_cadets(empty) == built[empty] and not built[empty]["data"]
    assert len(log) == 2, log
    state = next(s for s in states if s.spec is CADET_SPEC and not s.filters and not s.search)
    renamed = built[state]["data"][0]["id"]
    update_cadet(cold, renamed, {"first_name": "Kept"})
    for page in (list_cadets(state), fetch_cadets(state, False, compiled_as=None)):
        assert next(row for row in page["data"] if row["id"] == renamed)["first_name"] == "Kept"


def test_an_id_anchor_whose_sort_values_changed_gives_the_new_page(cold):
    """after=N with a sort seeks past row N's sort values as the database holds them now: the kept
    statement is keyed by those values, never by the id alone."""
    spec = GRADE_SPEC
    anchor = db.session.scalars(select(Cadet.id).where(Cadet.is_archived.is_(False)).order_by(Cadet.id)).first()
    state = ListState(spec, per_page=5, sort="final_grade", desc=True, cursor=f"id:{anchor}")
    list_cadets(state)
    update_grade(cold, anchor, {"prelim_score": 0, "midterm_score": 0, "final_score": 0})
    assert list_cadets(state) == fetch_cadets(state, False, compiled_as=None)


def test_a_cold_table_page_runs_its_apis_statement_and_the_menus_only(cold, client, count_queries):
    token = make_token(cold)
    staff = make_user("training_staff", "cold-staff")
    for page, api in (("/cadets/?per_page={n}", "/api/cadets?limit={n}"),
                      ("/grades/?per_page={n}&sort=-final_grade", "/api/grades?limit={n}&sort=-final_grade")):
        for user in (cold, staff):
            client.get("/logout")
            assert login(client, user, PASSWORD).status_code in (302, 303)
            client.get(page.format(n=10))  # warm-up: the session, lazy settings
            for n in (10, 25):
                with count_queries() as page_log:
                    assert client.get(page.format(n=n)).status_code == 200
                with count_queries() as api_log:
                    assert client.get(api.format(n=n), headers={"Authorization": f"Bearer {token}"}).status_code == 200
                page_list = page_log.matching(r"FROM cadets JOIN grades")
                assert page_list == api_log.matching(r"FROM cadets JOIN grades") and len(page_list) == 1
                assert len(page_log.matching(r"WITH RECURSIVE")) == 1  # the filter menus
                assert len([s for s in page_log if "FROM users" not in s]) == 2, page_log  # and who is asking


def test_kept_statements_are_bounded(cold):
    compiled.forget()
    for page in range(1, compiled.MAX_ENTRIES + 20):
        compiled._remember(("test", page), None)
    assert len(compiled._entries) == compiled.MAX_ENTRIES
    assert ("test", 1) not in compiled._entries and ("test", compiled.MAX_ENTRIES + 19) in compiled._entries
    compiled.forget()


def test_list_links_carry_each_change(app):
    """ListState.params with changes: the same links as the state with those fields replaced."""
    state = ListState(CADET_SPEC, page=3, per_page=25, sort="company", desc=True, search="li",
                      filters=(("company", "Alpha"), ("archived", "all")))
    for changes in ({}, {"page": 1}, {"per_page": 100, "page": 1}, {"sort": "name", "desc": False, "page": 1},
                    {"filters": (("status", "Ongoing"),), "page": 1}, {"cursor": "abc", "backward": True},
                    {"cursor": "abc", "backward": False, "page": 4}, {"search": ""}):
        expected = replace(state, **changes).params()
        if changes.get("cursor"):
            expected["before" if changes.get("backward") else "after"] = changes["cursor"]
            expected = dict(sorted(expected.items()))
        assert state.params(**changes) == expected, changes



def test_a_kept_statement_raises_driver_errors_as_sqlalchemy_does(cold):
    """A kept statement runs on the driver's cursor: its errors still reach the app as SQLAlchemy's
    (the error handlers map those to 503s), and a lost connection is invalidated, not pooled again."""
    import psycopg
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    if not is_postgres():
        pytest.skip("statements are kept on PostgreSQL only")
    slow = ("test:slow",)
    failed: list[str] = []

    def note(context):  # as the dashboard's recorder hears a failed statement
        failed.append(context.statement)

    event.listen(db.engine, "handle_error", note)
    db.session.execute(text("SET LOCAL statement_timeout = 50"))  # this transaction only
    with pytest.raises(OperationalError) as timed_out:
        compiled.run(slow, lambda: text("SELECT pg_sleep(0.5)"))
    assert isinstance(timed_out.value.orig, psycopg.errors.QueryCanceled)
    assert not timed_out.value.connection_invalidated
    event.remove(db.engine, "handle_error", note)
    assert failed == ["SELECT pg_sleep(0.5)"]
    db.session.rollback()

    pid = db.session.connection().connection.driver_connection.info.backend_pid
    with db.engine.connect() as other:
        other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        for _ in range(500):  # it only signals: wait until the backend has gone
            if not other.execute(text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid"), {"pid": pid}).scalar():
                break
            time.sleep(0.01)
    with pytest.raises(OperationalError) as lost:
        compiled.run(("test:one",), lambda: text("SELECT 1"))
    assert lost.value.connection_invalidated
    db.session.rollback()
    assert compiled.run(("test:one",), lambda: text("SELECT 1"))[1] == [(1,)]  # on a fresh connection
    compiled.forget()
