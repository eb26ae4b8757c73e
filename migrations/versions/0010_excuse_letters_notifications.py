"""Excuse letters with their files, notifications, the email outbox, and the email opt-out

Revision ID: 0010
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("user_settings") as batch:
        batch.add_column(sa.Column("email_notifications", sa.Boolean(), server_default="1", nullable=False))
    op.create_table(
        "excuse_letters",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("cadet_id", sa.Integer(), nullable=False),
        sa.Column("training_day_id", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=1000), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("file_name", sa.String(length=120), nullable=False),
        sa.Column("content_type", sa.String(length=50), nullable=False),
        sa.Column("file_size", sa.Integer(), nullable=False),
        sa.Column("submitted_by_user_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_user_id", sa.Integer(), nullable=True),
        sa.Column("decided_by_name", sa.String(length=80), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(length=500), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'approved', 'rejected')", name=op.f("ck_excuse_letters_status")),
        sa.ForeignKeyConstraint(["cadet_id"], ["cadets.id"], name=op.f("fk_excuse_letters_cadet_id_cadets"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["training_day_id"], ["training_days.id"],
                                name=op.f("fk_excuse_letters_training_day_id_training_days"), ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["submitted_by_user_id"], ["users.id"],
                                name=op.f("fk_excuse_letters_submitted_by_user_id_users"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["decided_by_user_id"], ["users.id"],
                                name=op.f("fk_excuse_letters_decided_by_user_id_users"), ondelete="SET NULL"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_excuse_letters")),
    )
    op.create_index("ix_excuse_letters_queue", "excuse_letters", ["status", "training_day_id", "id"])
    op.create_index("ix_excuse_letters_cadet_day", "excuse_letters", ["cadet_id", "training_day_id"])
    op.create_table(
        "excuse_files",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("letter_id", sa.Integer(), nullable=False),
        sa.Column("content", sa.LargeBinary(), nullable=False),
        sa.Column("view_content", sa.LargeBinary(), nullable=True),
        sa.ForeignKeyConstraint(["letter_id"], ["excuse_letters.id"],
                                name=op.f("fk_excuse_files_letter_id_excuse_letters"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_excuse_files")),
        sa.UniqueConstraint("letter_id", name=op.f("uq_excuse_files_letter_id")),
    )
    op.create_table(
        "notifications",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=30), nullable=False),
        sa.Column("message", sa.String(length=300), nullable=False),
        sa.Column("link", sa.String(length=200), nullable=True),
        sa.Column("batch", sa.String(length=32), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_notifications_user_id_users"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
    )
    op.create_index("ix_notifications_user", "notifications", ["user_id", "read_at", "id"])
    op.create_index(op.f("ix_notifications_batch"), "notifications", ["batch"])
    op.create_table(
        "email_outbox",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("notification_id", sa.Integer(), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.String(length=300), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name=op.f("ck_email_outbox_status")),
        sa.ForeignKeyConstraint(["notification_id"], ["notifications.id"],
                                name=op.f("fk_email_outbox_notification_id_notifications"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_outbox")),
        sa.UniqueConstraint("notification_id", name=op.f("uq_email_outbox_notification_id")),
    )
    op.create_index("ix_email_outbox_due", "email_outbox", ["status", "next_attempt_at", "id"])


def downgrade():
    op.drop_table("email_outbox")
    op.drop_table("notifications")
    op.drop_table("excuse_files")
    op.drop_table("excuse_letters")
    with op.batch_alter_table("user_settings") as batch:
        batch.drop_column("email_notifications")
