"""QR self check-in: a per-day nonce signed into the day's code, and an optional late cut-off

Existing days get a random nonce each, so every day has a code from the start.

Revision ID: 0006
Revises: 0005
"""

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("training_days", schema=None) as batch_op:
        batch_op.add_column(sa.Column("checkin_nonce", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("checkin_cutoff", sa.Time(), nullable=True))
    days = sa.table("training_days", sa.column("id", sa.Integer), sa.column("checkin_nonce", sa.String))
    conn = op.get_bind()
    for (day_id,) in conn.execute(sa.select(days.c.id)).all():
        conn.execute(days.update().where(days.c.id == day_id).values(checkin_nonce=secrets.token_urlsafe(12)))
    with op.batch_alter_table("training_days", schema=None) as batch_op:
        batch_op.alter_column("checkin_nonce", existing_type=sa.String(length=32), nullable=False)


def downgrade():
    with op.batch_alter_table("training_days", schema=None) as batch_op:
        batch_op.drop_column("checkin_cutoff")
        batch_op.drop_column("checkin_nonce")
