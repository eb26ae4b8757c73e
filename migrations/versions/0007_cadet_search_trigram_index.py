"""Trigram index for cadet search (PostgreSQL only)

Search splits the text into words and every word must occur in the cadet's name or student id
(blueprints/core/reads/cadets.py: cadet_search). `LIKE '%word%'` cannot use a b-tree; a pg_trgm GIN
index on the very expression the search filters on can. SQLite has no pg_trgm and scans; it serves
small units only.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# Must stay identical to models.CADET_SEARCH_SQL and reads/cadets.py SEARCH_TEXT (the planner
# only uses an expression index for the same expression).
SEARCH_EXPRESSION = ("lower(last_name || ' ' || first_name || ' ' || coalesce(middle_name, '') || ' ' "
                     "|| coalesce(suffix, '') || ' ' || student_id)")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    op.execute(f"CREATE INDEX IF NOT EXISTS ix_cadets_search_trgm ON cadets USING gin ({SEARCH_EXPRESSION} gin_trgm_ops)")


def downgrade():
    if op.get_bind().dialect.name != "postgresql":
        return
    op.execute("DROP INDEX IF EXISTS ix_cadets_search_trgm")
