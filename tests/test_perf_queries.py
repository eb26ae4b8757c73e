"""Performance proofs for reads: pooled connections (1), no N+1 on any list (2-3), deep pages (7).

Counts are statements sent to the database, so they hold on SQLite and PostgreSQL alike. Caching is
switched off while counting: a hit would run no query at all and prove nothing.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import date, timedelta

import pytest
from sqlalchemy import create_engine, func, insert, select, text

from blueprints.core.audit import record_audit
from blueprints.core.database import engine_options
from blueprints.core.liststate import ListState
from blueprints.core.operations import unit_of_work
from blueprints.core.operations.tokens import revoke_token
from blueprints.core.reads.attendance import ATTENDANCE_SPEC, list_attendance
from blueprints.core.reads.audit import AUDIT_SPEC, list_audit
from blueprints.core.reads.cadets import CADET_SPEC, list_cadets
from blueprints.core.reads.grades import GRADE_SPEC, list_grades
from blueprints.core.reads.merits import MERIT_SPEC, list_merits
from blueprints.core.reads.training import TRAINING_DAY_SPEC, list_training_days
from blueprints.core.reads.users import USER_SPEC, list_users
from blueprints.core.seed import seed
from config import ConfigError, load_config
from models import ApiToken, Cadet, User, UserSettings, db
from tests.conftest import is_postgres, on_this_thread, statements_sent
from tests.factories import PASSWORD, login, make_token, make_user

ROWS = 120  # more than the biggest page, so a 100-row page is full


# --- 1. connection pooling ---------------------------------------------------------------------


def test_pool_is_sized_to_the_server_threads_with_timeouts():
    """Pure settings: pool size follows WAITRESS_THREADS unless DB_POOL_SIZE says otherwise."""
    config = load_config({"WAITRESS_THREADS": "12", "DATABASE_URL": "postgresql://u@db/muster"})
    options = engine_options(config)
    assert options["pool_size"] == 12
    assert "pool_pre_ping" not in options  # a socket check on checkout instead: no round trip
    assert options["connect_args"]["connect_timeout"] == 10
    assert "statement_timeout=30000" in options["connect_args"]["options"]
    explicit = load_config({"WAITRESS_THREADS": "12", "DB_POOL_SIZE": "5", "DATABASE_URL": "postgres://u@db/m"})
    assert engine_options(explicit)["pool_size"] == 5


def test_random_page_cost_is_sent_unless_the_server_keeps_its_own():
    url = {"DATABASE_URL": "postgresql://u@db/muster"}
    assert "-c random_page_cost=1.1" in engine_options(load_config(url))["connect_args"]["options"]
    assert "random_page_cost=2.0" in engine_options(load_config({**url, "DB_RANDOM_PAGE_COST": "2"}))[
        "connect_args"]["options"]
    assert "random_page_cost" not in engine_options(load_config({**url, "DB_RANDOM_PAGE_COST": "server"}))[
        "connect_args"]["options"]
    for bad in ("0", "-1", "cheap", "nan", "inf"):
        with pytest.raises(ConfigError):
            load_config({**url, "DB_RANDOM_PAGE_COST": bad})


def test_postgres_engine_pool_and_session_settings(app):
    if not is_postgres():
        pytest.skip("connection pool settings apply to PostgreSQL only")
    engine = db.engine
    expected = app.config["DB_POOL_SIZE"]
    assert expected == app.config["WAITRESS_THREADS"] or "DB_POOL_SIZE" in os.environ
    assert engine.pool.size() == expected
    assert engine.pool._pre_ping is False  # replaced by a socket check on checkout (no round trip)
    with engine.connect() as conn:
        assert conn.execute(text("SHOW statement_timeout")).scalar() == "30s"
        params = conn.connection.driver_connection.info.get_parameters()
        assert params.get("connect_timeout") == "10"
        assert conn.execute(text("SHOW application_name")).scalar() == "muster"
        # Sent with each connection, or (behind PgBouncer, which drops startup options) set on the database.
        assert float(conn.execute(text("SHOW random_page_cost")).scalar()) == app.config["DB_RANDOM_PAGE_COST"]
    # A value the database does not hold itself (CI sets 1.1 there): it can only have come with the connection.
    other = create_engine(engine.url, **engine_options({**app.config, "DB_RANDOM_PAGE_COST": 1.3}))
    try:
        with other.connect() as conn:
            assert float(conn.execute(text("SHOW random_page_cost")).scalar()) == 1.3
    finally:
        other.dispose()


# --- 2-3. no N+1 in the read layer -----------------------------------------------------------


def _add_audit_rows(n: int) -> None:
    with unit_of_work() as session:
        for i in range(n):
            record_audit(session, None, "cadets", "UPDATE", i, {"n": i})


def _add_users(n: int) -> None:
    """Many users at once; hashing a password per user would make this test slow for no gain."""
    hashed = db.session.scalar(select(User.password_hash).limit(1))
    with unit_of_work() as session:
        ids = session.scalars(insert(User).returning(User.id), [
            {"username": f"bulk{i:04d}", "email": f"bulk{i:04d}@example.test", "password_hash": hashed,
             "role": "training_staff", "is_active": True, "failed_logins": 0} for i in range(n)]).all()
        session.execute(insert(UserSettings), [{"user_id": uid} for uid in ids])


def _dataset() -> None:
    """Every list gets more than 100 rows: cadets/grades, merit logs, attendance, days, audit, users."""
    make_user("admin", "perf-admin")
    seed(ROWS, 3, seed_value=7)  # ROWS cadets, ~ROWS merit logs, 3 x ROWS attendance records
    _add_training_days(ROWS - 3)
    _add_audit_rows(ROWS)
    _add_users(ROWS)
    assert db.session.scalar(select(func.count(Cadet.id))) == ROWS


def _add_training_days(n: int) -> None:
    from models import TrainingDay

    with unit_of_work() as session:
        session.execute(insert(TrainingDay), [
            {"date": date(2025, 1, 1) + timedelta(days=i), "title": f"Extra {i}"} for i in range(n)])


READS: dict[str, tuple[Callable, object]] = {
    "list_cadets": (list_cadets, CADET_SPEC),
    "list_grades": (list_grades, GRADE_SPEC),
    "list_merits": (list_merits, MERIT_SPEC),
    "list_training_days": (list_training_days, TRAINING_DAY_SPEC),
    "list_attendance": (list_attendance, ATTENDANCE_SPEC),
    "list_audit": (list_audit, AUDIT_SPEC),
    "list_users": (list_users, USER_SPEC),
}


@pytest.fixture
def dataset(app):
    _dataset()
    app.config["MUSTER_CACHE"] = False
    return app


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", os.environ.get("DATABASE_URL", "")).startswith("postgres"),
                    reason="PostgreSQL pool behaviour")
def test_a_connection_the_server_closed_is_replaced_before_use(app, client):
    """Every pooled connection killed by the server: the next requests still answer (the checkout
    check sees the closed socket; pool_pre_ping, which would cost a round trip, is off)."""
    admin = make_user("admin", "pool-admin")
    headers = {"Authorization": f"Bearer {make_token(admin)}"}
    assert client.get("/api/cadets", headers=headers).status_code == 200
    db.session.remove()
    others = ("FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() "
              "AND application_name = 'muster'")
    with db.engine.connect() as conn:
        conn.execute(text(f"SELECT pg_terminate_backend(pid) {others}"))
        # pg_terminate_backend only signals: wait until the backends have exited and closed their sockets
        # (the request right after could otherwise check out one still open, about to die: a 503).
        deadline = time.monotonic() + 10
        while conn.execute(text(f"SELECT count(*) {others}")).scalar() and time.monotonic() < deadline:
            time.sleep(0.02)
    app.config["MUSTER_CACHE"] = False
    for _ in range(3):
        assert client.get("/api/cadets", headers=headers).status_code == 200


@pytest.mark.skipif(not os.environ.get("TEST_DATABASE_URL", os.environ.get("DATABASE_URL", "")).startswith("postgres"),
                    reason="PostgreSQL transactions")
def test_reads_run_in_autocommit_and_writes_in_one_transaction(app, client):
    """A GET reads without BEGIN/ROLLBACK; a write, whatever the method, is one real transaction."""
    admin = make_user("admin", "tx-admin")
    headers = {"Authorization": f"Bearer {make_token(admin)}"}
    app.config["MUSTER_CACHE"] = False
    # The day's first request recounts the held training days (a write); the test's first in a new database.
    assert client.get("/api/cadets", headers=headers).status_code == 200

    def verb_and_autocommit(conn, statement, parameters, executemany):
        return statement.split()[0].upper(), conn.connection.driver_connection.autocommit

    with statements_sent(db.engine, on_this_thread(), note=verb_and_autocommit) as seen:
        assert client.get("/api/cadets", headers=headers).status_code == 200
        reads, seen[:] = list(seen), []
        body = {"student_id": "2026-900001", "last_name": "Tx", "first_name": "Ann"}
        assert client.post("/api/cadets", json=body, headers=headers).status_code == 201
    assert reads and all(autocommit for _, autocommit in reads)
    writes = [autocommit for verb, autocommit in seen if verb in ("INSERT", "UPDATE", "DELETE")]
    assert writes and not any(writes)


@pytest.mark.parametrize("name", sorted(READS))
def test_list_read_costs_the_same_queries_for_10_and_100_rows(dataset, count_queries, name):
    read, spec = READS[name]
    small_state = ListState(spec, per_page=10, sort=spec.default_sort, desc=spec.default_desc)
    big_state = replace(small_state, per_page=100)
    with count_queries() as small:
        small_page = read(small_state)
    with count_queries() as big:
        big_page = read(big_state)
    assert len(small_page["data"]) == 10
    assert len(big_page["data"]) == 100
    assert len(big) == len(small), f"{name}: {len(small)} statements for 10 rows, {len(big)} for 100: {big}"
    assert len(small) <= 3  # the page, its count (or estimate), nothing per row


@pytest.mark.parametrize("name", ["list_cadets", "list_grades"])
def test_every_allowed_sort_and_filter_costs_the_same_queries(dataset, count_queries, name):
    read, spec = READS[name]
    for sort in spec.sorts:
        for desc in (False, True):
            state = ListState(spec, per_page=10, sort=sort, desc=desc, filters=(("company", "Alpha"),), search="a")
            with count_queries() as small:
                read(state)
            with count_queries() as big:
                read(replace(state, per_page=100))
            assert len(small) == len(big), (sort, desc)


# --- 2-3. no N+1 over HTTP: every list endpoint and list page that exists --------------------

_PAGE_BLUEPRINTS = ("cadets", "grades", "training", "merits", "admin")
_SKIP_WORDS = ("export", "csv", "new", "create", "logout", "import", "edit", "delete", "sheet")


def _list_rules(app, api: bool) -> list[str]:
    """GET rules without URL arguments: /api/... JSON lists, or the table pages of the page blueprints."""
    out = []
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.arguments or rule.endpoint == "static":
            continue
        blueprint = rule.endpoint.partition(".")[0]
        if api != (blueprint == "api"):
            continue
        if not api and blueprint not in _PAGE_BLUEPRINTS:
            continue
        if any(word in rule.rule.lower() or word in rule.endpoint.lower() for word in _SKIP_WORDS):
            continue
        out.append(rule.rule)
    return sorted(set(out))


def _http_counts(client, count_queries, path: str, size_param: str, headers: dict) -> tuple[int, int, int]:
    client.get(path, headers=headers)  # warm-up: token bookkeeping, lazy settings
    counts = []
    for size in (10, 100):
        with count_queries() as log:
            response = client.get(f"{path}?{size_param}={size}", headers=headers)
        counts.append(len(log))
    return response.status_code, counts[0], counts[1]


def test_every_api_list_endpoint_costs_the_same_queries_for_10_and_100_rows(dataset, client, count_queries):
    paths = _list_rules(dataset, api=True)
    if not paths:
        pytest.skip("no /api list endpoints registered yet")
    admin = db.session.scalar(select(User).where(User.username == "perf-admin"))
    headers = {"Authorization": f"Bearer {make_token(admin)}"}
    checked, failures = [], []
    for path in paths:
        status, small, big = _http_counts(client, count_queries, path, "limit", headers)
        if status != 200:
            continue
        response = client.get(f"{path}?limit=100", headers=headers)
        if not isinstance((response.get_json(silent=True) or {}).get("data"), list):
            continue  # not a list endpoint
        checked.append(path)
        if small != big:
            failures.append(f"{path}: {small} statements for limit=10, {big} for limit=100")
    assert checked, f"no API list endpoint answered 200 with a data list among {paths}"
    assert not failures, failures


def test_every_list_page_costs_the_same_queries_for_10_and_100_rows(dataset, client, count_queries):
    paths = _list_rules(dataset, api=False)
    if not paths:
        pytest.skip("no list pages registered yet")
    admin = db.session.scalar(select(User).where(User.username == "perf-admin"))
    assert login(client, admin, PASSWORD).status_code in (302, 303)
    checked, failures, broken = [], [], []
    for path in paths:
        try:
            status, small, big = _http_counts(client, count_queries, path, "per_page", {})
        except Exception as exc:  # a page still being built (e.g. its template) is other tests' concern
            broken.append(f"{path}: {type(exc).__name__}")
            continue
        if status != 200:
            continue
        checked.append(path)
        if small != big:
            failures.append(f"{path}: {small} statements for per_page=10, {big} for per_page=100")
    assert not failures, failures
    if not checked:
        pytest.skip(f"no list page answered 200 yet among {paths}; broken: {broken}")


# --- 7. deep pages ---------------------------------------------------------------------------


def test_keyset_walk_returns_every_row_once_in_id_order(app):
    make_user("admin", "walker")
    seed(57, 0, seed_value=3)
    app.config["MUSTER_CACHE"] = False
    expected = list(db.session.scalars(select(Cadet.id).where(Cadet.is_archived.is_(False)).order_by(Cadet.id)))
    seen: list[int] = []
    after, pages = 0, 0  # the read layer walks from any id; 0 is before the first
    while True:
        page = list_cadets(ListState(CADET_SPEC, per_page=10, sort="name", after=after))
        seen.extend(row["id"] for row in page["data"])
        pages += 1
        after = page["next_after"]
        if after is None:
            break
        assert pages < 20, "the walk does not end"
    assert seen == expected
    assert len(set(seen)) == len(seen) == 57


def _sorts(plan: str) -> list[str]:
    """Sort nodes of a plan, except an incremental sort presorted on the unique student_id (groups of one)."""
    lines = [line.strip().removeprefix("->").strip() for line in plan.splitlines()]
    out = []
    for i, line in enumerate(lines):
        if re.match(r"(Incremental )?Sort\s+\(", line):
            presorted = next((x for x in lines[i + 1:i + 3] if x.startswith("Presorted Key:")), "")
            if presorted.removeprefix("Presorted Key: ").removeprefix("cadets.") != "student_id":
                out.append(line)
    return out


def _plan(stmt) -> str:
    compiled = stmt.compile(db.engine, compile_kwargs={"literal_binds": True})
    return "\n".join(db.session.execute(text(f"EXPLAIN {compiled}")).scalars())


@pytest.mark.parametrize("spec", [CADET_SPEC, GRADE_SPEC], ids=["cadets", "grades"])
def test_deep_page_of_every_allowed_sort_is_read_through_an_index(app, spec):
    """Page 1,900 of 50 in each sort and direction: its keys (the select the page joins its rows to)
    walk an index; no Seq Scan + Sort of the table. A grade sort's keys are an index-only scan of
    grades, through the partial index of the list's archived state.

    On a small test table the planner would rightly prefer a sequential scan, so sequential scans
    and explicit sorts are priced out: a plan that still needs a Sort has no index to follow.
    """
    if not is_postgres():
        pytest.skip("EXPLAIN plans are PostgreSQL's")
    from blueprints.core.reads import _page_keys
    from blueprints.core.reads.cadets import _id_base, _sorted_on_grades

    seed(30, 0, seed_value=5)
    db.session.execute(text("ANALYZE cadets"))
    db.session.execute(text("ANALYZE grades"))
    db.session.execute(text("SET LOCAL enable_seqscan = off"))
    db.session.execute(text("SET LOCAL enable_sort = off"))
    bad = []
    unindexed = {"attendance_score", "aptitude_score", "subject_score", "merit_points", "demerit_points",
                 "attendance_present"}  # see the note on the grades indexes in models.py
    for sort in set(spec.sorts) - unindexed:
        for desc in (False, True):
            state = ListState(spec, page=1900, per_page=50, sort=sort, desc=desc)
            plan = _plan(_page_keys(_id_base(state), state, state.page, None))
            only = "Index Only Scan" in plan and "_active on grades" in plan and "cadets" not in plan
            if _sorts(plan) or "Seq Scan" in plan or (_sorted_on_grades(state) and not only):
                bad.append(f"{sort} {'desc' if desc else 'asc'}:\n{plan}")
    db.session.rollback()
    assert not bad, "\n\n".join(bad)


def test_a_warm_cached_api_list_needs_no_database_at_all(app, client, count_queries):
    """Token lookup and the list body both come from the cache: zero statements on a warm hit."""
    user = make_user("training_staff")
    headers = {"Authorization": f"Bearer {make_token(user)}"}
    assert client.get("/api/cadets?limit=10", headers=headers).status_code == 200  # fills the cache
    with count_queries() as log:
        response = client.get("/api/cadets?limit=10", headers=headers)
    assert response.status_code == 200
    assert list(log) == []
    # revoking clears the cached lookup: the next call is refused at once
    token_id = db.session.scalar(select(func.max(ApiToken.id)))
    revoke_token(db.session.get(User, user.id), token_id)
    assert client.get("/api/cadets?limit=10", headers=headers).status_code == 401


@pytest.mark.parametrize("sort", ["name", "-final_grade", "student_id", "-company", "subject_score"])
def test_deferred_join_pages_cover_every_row_once_in_order(app, sort):
    """Pages fetched key-first (deferred join) concatenate to exactly the fully sorted list."""
    app.config["MUSTER_CACHE"] = False
    seed(37, 2, seed_value=11)
    full = list_grades(ListState.from_args({"sort": sort, "limit": "100"}, GRADE_SPEC, size_param="limit"))
    paged = []
    for page in range(1, 9):
        state = ListState.from_args({"sort": sort, "limit": "5", "page": str(page)}, GRADE_SPEC, size_param="limit")
        paged += list_grades(state)["data"]
    assert [c["id"] for c in paged] == [c["id"] for c in full["data"]]
    assert len({c["id"] for c in paged}) == 37
