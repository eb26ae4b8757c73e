"""cache_clears announces each row when its write commits (NOTIFY), so processes poll it only then

Every process polled the outbox once a second, a transaction with SELECT ... FOR UPDATE, even when
nothing was pending. The trigger's NOTIFY is delivered by PostgreSQL exactly when the write commits,
whatever becomes of the writer after; blueprints/core/outbox_watch.py listens. SQLite: no change (it polls).

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

# A copy of triggers.CACHE_CLEARS_NOTIFY_PG (then in models.py) as it was at this revision.
PG = [
    """CREATE OR REPLACE FUNCTION cache_clears_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('muster_cache_clears', NEW.namespace || ':' || NEW.id);
    RETURN NULL;
END $$""",
    "CREATE TRIGGER cache_clears_notify AFTER INSERT ON cache_clears "
    "FOR EACH ROW EXECUTE FUNCTION cache_clears_notify()",
    "ALTER TABLE cache_clears ENABLE ALWAYS TRIGGER cache_clears_notify",
]


def upgrade():
    if op.get_bind().dialect.name == "postgresql":
        for sql in PG:
            op.execute(sql)


def downgrade():
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS cache_clears_notify ON cache_clears")
        op.execute("DROP FUNCTION IF EXISTS cache_clears_notify()")
