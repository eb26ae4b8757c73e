"""How tests stay apart: a PostgreSQL database per pytest-xdist worker, and emptying the tables between
tests without TRUNCATE's cost.

Under xdist (`make test` runs it) each worker gets `<TEST_DATABASE_URL's database>_<worker id>`, dropped and
created afresh when the worker starts, with the base database's settings (CI sets statement_timeout there
for PgBouncer). TEST_DATABASE_REPLICA_URLS is pointed at the same name: the database is created on the
primary, so the streaming replica replays its creation, and the worker waits until it has. The cache
needs nothing per worker: every test's CACHE_KEY_PREFIX holds the process id (conftest).
"""

from __future__ import annotations

import os
import time

import psycopg
from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import URL, make_url

from config import normalise_database_url
from models import db


def use_worker_databases() -> None:
    """In an xdist worker on PostgreSQL, point the test URLs at this worker's own, fresh database."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    url = os.environ.get("TEST_DATABASE_URL") or os.environ.get("DATABASE_URL")
    if not worker or not url or not normalise_database_url(url).startswith("postgresql"):
        return
    base = make_url(normalise_database_url(url))
    name = f"{base.database}_{worker}"
    created_at = _recreate(base, name)
    os.environ["TEST_DATABASE_URL"] = _render(base.set(database=name))
    replicas = [make_url(u.strip()) for u in os.environ.get("TEST_DATABASE_REPLICA_URLS", "").split(",") if u.strip()]
    if replicas:
        os.environ["TEST_DATABASE_REPLICA_URLS"] = ",".join(_render(r.set(database=name)) for r in replicas)
        for replica in replicas:
            _wait_for_replay(replica, created_at)


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)


def _libpq(url: URL, database: str) -> str:
    return _render(url.set(drivername="postgresql", database=database))


def _recreate(base: URL, name: str) -> str:
    """Drop and create the database `name` with `base`'s settings; the primary's WAL position after."""
    with psycopg.connect(_libpq(base, "postgres"), autocommit=True) as conn:
        settings = conn.execute(
            "SELECT unnest(s.setconfig) FROM pg_db_role_setting s JOIN pg_database d ON d.oid = s.setdatabase "
            "WHERE d.datname = %s AND s.setrole = 0", (base.database,)).fetchall()
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        for (setting,) in settings:
            key, value = setting.split("=", 1)
            conn.execute(sql.SQL("ALTER DATABASE {} SET {} = {}").format(
                sql.Identifier(name), sql.Identifier(key), sql.Literal(value)))
        return conn.execute("SELECT pg_current_wal_lsn()::text").fetchone()[0]


def _wait_for_replay(replica: URL, lsn: str, timeout: float = 30.0) -> None:
    """Until the replica has replayed the drop and the creation (a replica still holding the last run's
    database of that name refuses connections to it while it replays the drop)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with psycopg.connect(_libpq(replica, "postgres"), autocommit=True, connect_timeout=3) as conn:
                if conn.execute("SELECT pg_last_wal_replay_lsn() >= %s::pg_lsn", (lsn,)).fetchone()[0]:
                    return
        except psycopg.OperationalError:
            return  # the replica is down: test_replicas says so, loudly, when it runs
        time.sleep(0.1)


# --- emptying the tables -------------------------------------------------------------------------------

# On PostgreSQL a TRUNCATE of every table cost hundreds of milliseconds per test (new files for each table
# and index, the old ones unlinked at commit): more than most tests. A DELETE of the few tables a test
# wrote costs a few. The planner must not tell the difference, so a table is still truncated when it
# has statistics (an ANALYZE by the app's bulk load) or 10 pages or more: below that, a never-analyzed
# table is costed as 10 pages whatever it holds, exactly like a truncated one (its indexes may keep a
# leaf page: the same plans). Autovacuum is off on the test tables so that no statistics appear behind a
# test's back. Used sequences restart at 1, as TRUNCATE ... RESTART IDENTITY did.
_EMPTY_PG = """
DO $$
DECLARE
    tables text[] := ARRAY[TABLES];
    stale text[];
    t text;
BEGIN
    SELECT array_agg(quote_ident(relname)) INTO stale FROM pg_class
        WHERE relname = ANY (tables) AND relkind = 'r' AND relnamespace = to_regnamespace(current_schema())
        AND (reltuples >= 0 OR pg_relation_size(oid) >= 10 * current_setting('block_size')::int);
    IF stale IS NOT NULL THEN
        EXECUTE 'TRUNCATE ' || array_to_string(stale, ', ') || ' CASCADE';
    END IF;
    FOREACH t IN ARRAY tables || ARRAY['cadet_total_deltas', 'cadet_totals'] LOOP
        EXECUTE 'DELETE FROM ' || quote_ident(t);  -- the totals again last: deleting cadets fired triggers
    END LOOP;
    PERFORM setval(quote_ident(schemaname) || '.' || quote_ident(sequencename), 1, false)
        FROM pg_sequences WHERE schemaname = current_schema() AND last_value IS NOT NULL;
END $$
"""


def disable_autovacuum() -> None:
    """No autovacuum on the test tables: statistics appear only when the app runs ANALYZE itself."""
    if db.engine.dialect.name == "postgresql":
        for table in db.metadata.sorted_tables:
            db.session.execute(text(f"ALTER TABLE {table.name} SET (autovacuum_enabled = false, "
                                    "toast.autovacuum_enabled = false)"))
        db.session.commit()


def empty_tables() -> None:
    """Every table empty and every id sequence back at 1, as if freshly created."""
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]  # children before parents
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(_EMPTY_PG.replace("TABLES", ", ".join(f"'{name}'" for name in tables))))
    else:
        for name in [*tables, "cadet_totals"]:  # again last: deleting cadets fired its triggers
            db.session.execute(text(f"DELETE FROM {name}"))
    db.session.commit()
