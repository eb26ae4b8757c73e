"""grades.is_archived, a trigger-kept copy of the cadet's flag, and partial sort indexes per archived state

A numbered page of grades sorted by a grade (e.g. page 1,900 by -final_grade) filtered on
cadets.is_archived, so PostgreSQL joined and sorted all 100,000 rows to skip 94,950 of them. With the
flag on grades, each sort index is split by it: the page's ids come from an index-only scan of the
list's own rows, and only the page's rows are joined.

Revision ID: 0013
Revises: 0012
"""

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

SORTS = {"ix_grades_final_grade": "final_grade", "ix_grades_transmuted_grade": "transmuted_grade",
         "ix_grades_remarks": "remarks"}
WHERE = {"active": {"postgresql_where": sa.text("is_archived IS false"), "sqlite_where": sa.text("is_archived IS 0")},
         "archived": {"postgresql_where": sa.text("is_archived IS true"), "sqlite_where": sa.text("is_archived IS 1")}}

# A copy of triggers.GRADES_ARCHIVED_PG / GRADES_ARCHIVED_SQLITE (then in models.py) as they were at this revision.
_FOLLOW = ("UPDATE grades AS g SET is_archived = c.is_archived FROM {rows} "
           "WHERE g.{key} AND g.is_archived IS DISTINCT FROM c.is_archived")
PG = [
    f"""CREATE OR REPLACE FUNCTION grades_archived_follow() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_TABLE_NAME = 'cadets' THEN {_FOLLOW.format(rows="new_rows AS c", key="cadet_id = c.id")};
    ELSE {_FOLLOW.format(rows="new_rows AS n JOIN cadets AS c ON c.id = n.cadet_id", key="id = n.id")};
    END IF;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER grades_archived_cadets AFTER UPDATE ON cadets REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION grades_archived_follow()",
    "CREATE TRIGGER grades_archived_insert AFTER INSERT ON grades REFERENCING NEW TABLE AS new_rows "
    "FOR EACH STATEMENT EXECUTE FUNCTION grades_archived_follow()",
    *(f"ALTER TABLE {table} ENABLE ALWAYS TRIGGER grades_archived_{kind}"
      for table, kind in (("cadets", "cadets"), ("grades", "insert"))),
]
SQLITE = [
    "CREATE TRIGGER grades_archived_cadets AFTER UPDATE OF is_archived ON cadets BEGIN "
    "UPDATE grades SET is_archived = new.is_archived WHERE cadet_id = new.id AND is_archived IS NOT new.is_archived; "
    "END",
    "CREATE TRIGGER grades_archived_insert AFTER INSERT ON grades "
    "WHEN (SELECT is_archived FROM cadets WHERE id = new.cadet_id) IS NOT new.is_archived BEGIN "
    "UPDATE grades SET is_archived = (SELECT is_archived FROM cadets WHERE id = new.cadet_id) WHERE id = new.id; END",
]


def upgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    with op.batch_alter_table("grades") as batch_op:
        batch_op.add_column(sa.Column("is_archived", sa.Boolean(), server_default="0", nullable=False))
    if postgres:
        op.execute("LOCK TABLE cadets IN SHARE MODE")  # no archive or restore between the copy and the triggers
    op.execute("UPDATE grades SET is_archived = true WHERE cadet_id IN (SELECT id FROM cadets WHERE is_archived)")
    for sql in PG if postgres else SQLITE:
        op.execute(sql)
    with op.batch_alter_table("grades") as batch_op:
        for name, column in SORTS.items():
            batch_op.drop_index(name)
            for state, where in WHERE.items():
                batch_op.create_index(f"{name}_{state}", [column, "cadet_id"], unique=False, **where)


def downgrade():
    postgres = op.get_bind().dialect.name == "postgresql"
    for trigger, table in (("grades_archived_cadets", "cadets"), ("grades_archived_insert", "grades")):
        op.execute(f"DROP TRIGGER IF EXISTS {trigger}" + (f" ON {table}" if postgres else ""))
    if postgres:
        op.execute("DROP FUNCTION IF EXISTS grades_archived_follow()")
    with op.batch_alter_table("grades") as batch_op:
        for name, column in SORTS.items():
            for state in WHERE:
                batch_op.drop_index(f"{name}_{state}")
            batch_op.create_index(name, [column, "cadet_id"], unique=False)
        batch_op.drop_column("is_archived")
