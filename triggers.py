"""The database triggers that keep derived rows and columns exact, in every writer's own transaction.

Triggers rather than code in the operations: every writer is covered (operations, the seed's COPY, a
migration, psql), and the change commits or rolls back with the write. Each list holds the
statements for one database; attach() installs them after its table is created (create_all: the
tests, a new SQLite file). Migrations keep frozen copies of the versions they install.
- cadet_totals: how many cadets share one (archived, company, platoon, status), the lists' totals.
- grades.is_archived: a copy of its cadet's flag, so a grade-sorted list reads one partial index.
- cache_clears: each outbox row is announced by NOTIFY when its transaction commits.
"""

from __future__ import annotations

from sqlalchemy import DDL, Table, event

# cadet_totals. PostgreSQL: statement-level triggers with transition tables append one delta row per
# key per statement (models.CadetTotalDelta). SQLite runs one writer at a time: row triggers update
# cadet_totals in place.
_KEY = "is_archived, coalesce(company, ''), coalesce(platoon, ''), status"
_APPEND = ("INSERT INTO cadet_total_deltas (is_archived, company, platoon, status, n) SELECT k1, k2, k3, k4, sum(d) "
           "FROM ({rows}) AS x(k1, k2, k3, k4, d) GROUP BY k1, k2, k3, k4 HAVING sum(d) <> 0")
_NEW, _OLD = f"SELECT {_KEY}, 1 FROM new_rows", f"SELECT {_KEY}, -1 FROM old_rows"
CADET_TOTALS_PG = [
    f"""CREATE OR REPLACE FUNCTION cadet_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN {_APPEND.format(rows=_NEW)};
    ELSIF TG_OP = 'DELETE' THEN {_APPEND.format(rows=_OLD)};
    ELSE {_APPEND.format(rows=_NEW + " UNION ALL " + _OLD)};
    END IF;
    RETURN NULL;
END $$""",
    *(f"CREATE TRIGGER cadet_totals_{op.lower()} AFTER {op} ON cadets REFERENCING {ref} "
      "FOR EACH STATEMENT EXECUTE FUNCTION cadet_totals_apply()"
      for op, ref in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows"),
                      ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"))),
    # Also under session_replication_role = replica (the seed's bulk load, logical replication).
    *(f"ALTER TABLE cadets ENABLE ALWAYS TRIGGER cadet_totals_{kind}" for kind in ("insert", "delete", "update")),
]
_SQLITE_ADD = ("INSERT INTO cadet_totals (is_archived, company, platoon, status, n) VALUES ({r}.is_archived, "
               "coalesce({r}.company, ''), coalesce({r}.platoon, ''), {r}.status, {d}) "
               "ON CONFLICT (is_archived, company, platoon, status) DO UPDATE SET n = n + excluded.n;")
CADET_TOTALS_SQLITE = [
    f"CREATE TRIGGER cadet_totals_insert AFTER INSERT ON cadets BEGIN {_SQLITE_ADD.format(r='new', d=1)} END",
    f"CREATE TRIGGER cadet_totals_delete AFTER DELETE ON cadets BEGIN {_SQLITE_ADD.format(r='old', d=-1)} END",
    "CREATE TRIGGER cadet_totals_update AFTER UPDATE OF is_archived, company, platoon, status ON cadets "
    f"BEGIN {_SQLITE_ADD.format(r='old', d=-1)} {_SQLITE_ADD.format(r='new', d=1)} END",
]


# grades.is_archived follows cadets.is_archived. A cadet statement's trigger copies its rows' flags
# to their grades rows; a grades insert takes its cadet's flag (a new cadet is active, so that update
# usually finds nothing to change).
_FOLLOW = ("UPDATE grades AS g SET is_archived = c.is_archived FROM {rows} "
           "WHERE g.{key} AND g.is_archived IS DISTINCT FROM c.is_archived")
GRADES_ARCHIVED_PG = [
    f"""CREATE OR REPLACE FUNCTION grades_archived_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'cadets' THEN {_FOLLOW.format(rows="new_rows AS c", key="cadet_id = c.id")};
    ELSE {_FOLLOW.format(rows="new_rows AS n JOIN cadets AS c ON c.id = n.cadet_id", key="id = n.id")};
    END IF;
    RETURN NULL;
END $$""",
    # PostgreSQL allows no column list (UPDATE OF is_archived) on a trigger with a transition table;
    # the flag test in the UPDATE keeps other cadet edits to one index probe per row.
    "CREATE TRIGGER grades_archived_cadets AFTER UPDATE ON cadets REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION grades_archived_follow()",
    "CREATE TRIGGER grades_archived_insert AFTER INSERT ON grades REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION grades_archived_follow()",
    *(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER grades_archived_{kind}"
      for table, kind in (("cadets", "cadets"), ("grades", "insert"))),
]
GRADES_ARCHIVED_SQLITE = [
    "CREATE TRIGGER grades_archived_cadets AFTER UPDATE OF is_archived ON cadets BEGIN "
    "UPDATE grades SET is_archived = new.is_archived WHERE cadet_id = new.id AND is_archived IS NOT new.is_archived; "
    "END",
    "CREATE TRIGGER grades_archived_insert AFTER INSERT ON grades "
    "WHEN (SELECT is_archived FROM cadets WHERE id = new.cadet_id) IS NOT new.is_archived BEGIN "
    "UPDATE grades SET is_archived = (SELECT is_archived FROM cadets WHERE id = new.cadet_id) WHERE id = new.id; END",
]


# Each outbox row is announced to every listening process when its transaction commits, whatever
# becomes of the writer after (blueprints/core/outbox_watch.py): the processes poll the outbox only
# while a clear is pending, not every second. Payload "<namespace>:<id>". SQLite has no NOTIFY: it polls.
CACHE_CLEARS_NOTIFY_PG = [
    """CREATE OR REPLACE FUNCTION cache_clears_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('muster_cache_clears', NEW.namespace || ':' || NEW.id);
    RETURN NULL;
END $$""",
    "CREATE TRIGGER cache_clears_notify AFTER INSERT ON cache_clears "
    "FOR EACH ROW EXECUTE FUNCTION cache_clears_notify()",
    # Also under session_replication_role = replica (the seed's bulk load).
    "ALTER TABLE cache_clears ENABLE ALWAYS TRIGGER cache_clears_notify",
]


def attach(*, cadet_totals: Table, grades: Table, cache_clears: Table) -> None:
    """Install each database's triggers when their table is created (create_all)."""
    for table, postgres, sqlite in ((cadet_totals, CADET_TOTALS_PG, CADET_TOTALS_SQLITE),
                                    (grades, GRADES_ARCHIVED_PG, GRADES_ARCHIVED_SQLITE),
                                    (cache_clears, CACHE_CLEARS_NOTIFY_PG, [])):
        for sql in postgres:  # DDL formats with %: the PL/pgSQL's own % signs are doubled
            event.listen(table, "after_create", DDL(sql.replace("%", "%%")).execute_if(dialect="postgresql"))
        for sql in sqlite:
            event.listen(table, "after_create", DDL(sql).execute_if(dialect="sqlite"))
