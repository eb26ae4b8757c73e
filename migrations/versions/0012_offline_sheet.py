"""Attendance records carry a version, so an offline sheet's queued marks can name the one they saw

Revision ID: 0012
Revises: 0011_list_totals_keyset
"""

import sqlalchemy as sa
from alembic import op


revision = "0012"
down_revision = "0011_list_totals_keyset"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("attendance_records") as batch_op:
        batch_op.add_column(sa.Column("version", sa.Integer(), server_default="1", nullable=False))


def downgrade():
    with op.batch_alter_table("attendance_records") as batch_op:
        batch_op.drop_column("version")
