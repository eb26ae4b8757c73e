"""Session versions and failed sign-ins of unknown names

users.session_version is part of every session cookie; logout, a password change or reset, deactivation
and a role change bump it, which ends the user's sessions. signin_failures counts failed sign-ins for
names that match no account, like users.failed_logins, so a lockout answers alike for every name.

Revision ID: 0005
Revises: 0003
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="1", nullable=False))
    op.create_table(
        "signin_failures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name_key", sa.String(length=80), nullable=False),
        sa.Column("failed_logins", sa.Integer(), nullable=False),
        sa.Column("first_failed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_signin_failures")),
        sa.UniqueConstraint("name_key", name=op.f("uq_signin_failures_name_key")),
    )
    with op.batch_alter_table("signin_failures", schema=None) as batch_op:
        batch_op.create_index("ix_signin_failures_first_failed_at", ["first_failed_at"], unique=False)


def downgrade():
    with op.batch_alter_table("signin_failures", schema=None) as batch_op:
        batch_op.drop_index("ix_signin_failures_first_failed_at")
    op.drop_table("signin_failures")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
