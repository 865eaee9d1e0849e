"""admissions: the office's figures as counters kept on write (admission_counter), backfilled

Revision ID: d7c41e9a0b52
Revises: 68a284065573
Create Date: 2026-12-04 23:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'd7c41e9a0b52'
down_revision = '68a284065573'
branch_labels = None
depends_on = None

BACKFILL = """
INSERT INTO admission_counter (admission_level_id, scope, scope_id, is_trial, status, hour,
                               applications, first_choice, catchment, any_choice, placed, claims)
SELECT lv, scope, sid, trial, st, hr, SUM(n_app), SUM(n_first), SUM(n_catch), SUM(n_any), SUM(n_placed), SUM(n_claims)
FROM (
  SELECT a.admission_level_id AS lv, 'school' AS scope, c.school_id AS sid, a.is_trial AS trial,
         a.status AS st, '' AS hr, 0 AS n_app, CASE WHEN c.rank = 1 THEN 1 ELSE 0 END AS n_first,
         CASE WHEN c.is_catchment THEN 1 ELSE 0 END AS n_catch, 1 AS n_any, 0 AS n_placed,
         CASE WHEN a.allocated_school_id IS NOT NULL AND a.allocated_school_id <> c.school_id
              AND (a.allocated_rank IS NULL OR c.rank < a.allocated_rank) THEN 1 ELSE 0 END AS n_claims
    FROM application a JOIN application_choice c ON c.application_id = a.id
  UNION ALL
  SELECT a.admission_level_id, 'school', a.allocated_school_id, a.is_trial, a.status, '', 0, 0, 0, 0, 1, 0
    FROM application a WHERE a.allocated_school_id IS NOT NULL
  UNION ALL
  SELECT a.admission_level_id, 'school_hour', c.school_id, a.is_trial, '', {hour}, 1, 0, 0, 0, 0, 0
    FROM application a JOIN application_choice c ON c.application_id = a.id
  UNION ALL
  SELECT a.admission_level_id, 'ward', k.ward_id, a.is_trial, a.status, '', 1, 0, 0, 0, 0, 0
    FROM application a JOIN child k ON k.id = a.child_id
  UNION ALL
  SELECT a.admission_level_id, 'ward_hour', k.ward_id, a.is_trial, '', {hour}, 1, 0, 0, 0, 0, 0
    FROM application a JOIN child k ON k.id = a.child_id
) AS parts
GROUP BY lv, scope, sid, trial, st, hr
"""


def upgrade():
    op.create_table('admission_counter',
    sa.Column('admission_level_id', sa.Integer(), nullable=False),
    sa.Column('scope', sa.String(length=12), nullable=False),
    sa.Column('scope_id', sa.Integer(), nullable=False),
    sa.Column('is_trial', sa.Boolean(), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('hour', sa.String(length=13), nullable=False),
    sa.Column('applications', sa.Integer(), nullable=False),
    sa.Column('first_choice', sa.Integer(), nullable=False),
    sa.Column('catchment', sa.Integer(), nullable=False),
    sa.Column('any_choice', sa.Integer(), nullable=False),
    sa.Column('placed', sa.Integer(), nullable=False),
    sa.Column('claims', sa.Integer(), nullable=False),
    sa.CheckConstraint("scope IN ('school','ward','school_hour','ward_hour')", name=op.f('ck_admission_counter_scope')),
    sa.ForeignKeyConstraint(['admission_level_id'], ['admission_level.id'], name=op.f('fk_admission_counter_admission_level_id_admission_level'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('admission_level_id', 'scope', 'scope_id', 'is_trial', 'status', 'hour', name=op.f('pk_admission_counter'))
    )
    bind = op.get_bind()
    if bind.dialect.name == 'postgresql':
        hour = "to_char(a.submitted_at, 'YYYY-MM-DD HH24')"
    else:
        hour = "strftime('%Y-%m-%d %H', a.submitted_at)"
    op.execute(sa.text(BACKFILL.format(hour=hour)))


def downgrade():
    op.drop_table('admission_counter')
