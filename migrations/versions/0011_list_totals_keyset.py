"""Maintained list totals: cadets per (archived, company, platoon, status), kept by triggers

The lists' common totals (unfiltered, by company, platoon, status, archived or not) are sums of a
few rows of cadet_totals instead of a count(*) of cadets per request. Triggers on cadets keep it
exact in the writer's own transaction (models.CadetTotal); this fills it from the cadets there are.

Revision ID: 0011_list_totals_keyset
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011_list_totals_keyset"
down_revision = "0010"
branch_labels = None
depends_on = None

# A copy of triggers.CADET_TOTALS_PG / CADET_TOTALS_SQLITE (then in models.py) as they were at this revision.
_KEY = "is_archived, coalesce(company, ''), coalesce(platoon, ''), status"
_APPEND = ("INSERT INTO cadet_total_deltas (is_archived, company, platoon, status, n) SELECT k1, k2, k3, k4, sum(d) "
           "FROM ({rows}) AS x(k1, k2, k3, k4, d) GROUP BY k1, k2, k3, k4 HAVING sum(d) <> 0")
_NEW, _OLD = f"SELECT {_KEY}, 1 FROM new_rows", f"SELECT {_KEY}, -1 FROM old_rows"
PG = [
    f"""CREATE OR REPLACE FUNCTION cadet_totals_apply() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN {_APPEND.format(rows=_NEW)};
    ELSIF TG_OP = 'DELETE' THEN {_APPEND.format(rows=_OLD)};
    ELSE {_APPEND.format(rows=_NEW + " UNION ALL " + _OLD)};
    END IF;
    RETURN NULL;
END $$""",
    *(f"CREATE TRIGGER cadet_totals_{op_.lower()} AFTER {op_} ON cadets REFERENCING {ref} "
      "FOR EACH STATEMENT EXECUTE FUNCTION cadet_totals_apply()"
      for op_, ref in (("INSERT", "NEW TABLE AS new_rows"), ("DELETE", "OLD TABLE AS old_rows"),
                       ("UPDATE", "OLD TABLE AS old_rows NEW TABLE AS new_rows"))),
    # Also under session_replication_role = replica (the seed's bulk load, logical replication).
    *(f"ALTER TABLE cadets ENABLE ALWAYS TRIGGER cadet_totals_{kind}" for kind in ("insert", "delete", "update")),
]
_SQLITE_ADD = ("INSERT INTO cadet_totals (is_archived, company, platoon, status, n) VALUES ({r}.is_archived, "
               "coalesce({r}.company, ''), coalesce({r}.platoon, ''), {r}.status, {d}) "
               "ON CONFLICT (is_archived, company, platoon, status) DO UPDATE SET n = n + excluded.n;")
SQLITE = [
    f"CREATE TRIGGER cadet_totals_insert AFTER INSERT ON cadets BEGIN {_SQLITE_ADD.format(r='new', d=1)} END",
    f"CREATE TRIGGER cadet_totals_delete AFTER DELETE ON cadets BEGIN {_SQLITE_ADD.format(r='old', d=-1)} END",
    "CREATE TRIGGER cadet_totals_update AFTER UPDATE OF is_archived, company, platoon, status ON cadets "
    f"BEGIN {_SQLITE_ADD.format(r='old', d=-1)} {_SQLITE_ADD.format(r='new', d=1)} END",
]


def upgrade():
    op.create_table(
        "cadet_totals",
        sa.Column("is_archived", sa.Boolean(), nullable=False),
        sa.Column("company", sa.String(length=50), nullable=False),
        sa.Column("platoon", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("is_archived", "company", "platoon", "status", name=op.f("pk_cadet_totals")),
    )
    op.create_table(
        "cadet_total_deltas",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("is_archived", sa.Boolean(), nullable=False),
        sa.Column("company", sa.String(length=50), nullable=False),
        sa.Column("platoon", sa.String(length=50), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cadet_total_deltas")),
    )
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        op.execute("LOCK TABLE cadets IN SHARE MODE")  # no cadet write between the fill and the triggers
    for sql in PG if postgres else SQLITE:
        op.execute(sql)
    op.execute(f"INSERT INTO cadet_totals (is_archived, company, platoon, status, n) SELECT {_KEY}, count(*) "
               "FROM cadets GROUP BY 1, 2, 3, 4")


def downgrade():
    for kind in ("insert", "delete", "update"):
        op.execute(f"DROP TRIGGER IF EXISTS cadet_totals_{kind}" + (" ON cadets" if op.get_bind().dialect.name
                                                                      == "postgresql" else ""))
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS cadet_totals_apply()")
    op.drop_table("cadet_totals")
    op.drop_table("cadet_total_deltas")
