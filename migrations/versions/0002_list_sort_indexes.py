"""indexes for every allowed cadets/grades list sort, primary key as tie-breaker

Deep pages (page 1,900 of 100,000 cadets) walk an index in list order instead of sorting the table.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29 23:30:00.000000

"""
from alembic import op

# revision identifiers, used by Alembic.
revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

CADET_INDEXES = {
    'ix_cadets_platoon': ['platoon', 'id'],
    'ix_cadets_course': ['course', 'id'],
    'ix_cadets_year_level': ['year_level', 'id'],
    'ix_cadets_status': ['status', 'id'],
    'ix_cadets_created_at': ['created_at', 'id'],
}
GRADE_INDEXES = {
    'ix_grades_transmuted_grade': ['transmuted_grade', 'cadet_id'],
    'ix_grades_attendance_score': ['attendance_score', 'cadet_id'],
    'ix_grades_aptitude_score': ['aptitude_score', 'cadet_id'],
    'ix_grades_subject_score': ['subject_score', 'cadet_id'],
    'ix_grades_remarks': ['remarks', 'cadet_id'],
    'ix_grades_merit_points': ['merit_points', 'cadet_id'],
    'ix_grades_demerit_points': ['demerit_points', 'cadet_id'],
    'ix_grades_attendance_present': ['attendance_present', 'cadet_id'],
}


def upgrade():
    with op.batch_alter_table('cadets', schema=None) as batch_op:
        batch_op.drop_index('ix_cadets_company_platoon')
        batch_op.create_index('ix_cadets_company_platoon', ['company', 'platoon', 'id'], unique=False)
        for name, columns in CADET_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)
    with op.batch_alter_table('grades', schema=None) as batch_op:
        for name, columns in GRADE_INDEXES.items():
            batch_op.create_index(name, columns, unique=False)


def downgrade():
    with op.batch_alter_table('grades', schema=None) as batch_op:
        for name in reversed(list(GRADE_INDEXES)):
            batch_op.drop_index(name)
    with op.batch_alter_table('cadets', schema=None) as batch_op:
        for name in reversed(list(CADET_INDEXES)):
            batch_op.drop_index(name)
        batch_op.drop_index('ix_cadets_company_platoon')
        batch_op.create_index('ix_cadets_company_platoon', ['company', 'platoon'], unique=False)
