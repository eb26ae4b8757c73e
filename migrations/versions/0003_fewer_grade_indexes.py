"""Fewer grade indexes; is_archived included in the name index

Adding a training day rewrites every grades row; each index on a grade component made that slower,
so the rarely used component sorts go without one. The default cadets list filters is_archived, so
the name index carries it and deep pages become an index-only scan on PostgreSQL.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

DROPPED = ("attendance_score", "aptitude_score", "subject_score", "merit_points", "demerit_points",
           "attendance_present")


def upgrade():
    with op.batch_alter_table("grades", schema=None) as batch_op:
        for column in DROPPED:
            batch_op.drop_index(f"ix_grades_{column}")
    with op.batch_alter_table("cadets", schema=None) as batch_op:
        batch_op.drop_index("ix_cadets_name")
        batch_op.create_index("ix_cadets_name", ["last_name", "first_name", "id"], unique=False,
                              postgresql_include=["is_archived"])


def downgrade():
    with op.batch_alter_table("cadets", schema=None) as batch_op:
        batch_op.drop_index("ix_cadets_name")
        batch_op.create_index("ix_cadets_name", ["last_name", "first_name", "id"], unique=False)
    with op.batch_alter_table("grades", schema=None) as batch_op:
        for column in DROPPED:
            batch_op.create_index(f"ix_grades_{column}", [column, "cadet_id"], unique=False)
