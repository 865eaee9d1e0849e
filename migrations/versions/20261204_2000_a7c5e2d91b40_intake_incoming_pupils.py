"""intake: incoming pupils' classes, and kindergarten classes (grade 0)

The children admissions confirmed at a school become its incoming pupils; staff split them into
classes (cb_intake_placement holds the split until it is confirmed). Kindergarten classes (age 5)
are grade 0 in the contact book. Downgrade fails while a grade-0 class or subject exists.

Revision ID: a7c5e2d91b40
Revises: a7c3e51d9b20
Create Date: 2026-12-04 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c5e2d91b40'
down_revision = 'a7c3e51d9b20'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'cb_intake_placement',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('school_id', sa.Integer(), nullable=False),
        sa.Column('academic_year_id', sa.Integer(), nullable=False),
        sa.Column('source_key', sa.String(length=60), nullable=False),
        sa.Column('grade', sa.Integer(), nullable=False),
        sa.Column('class_name', sa.String(length=20), nullable=False),
        sa.Column('pupil_id', sa.Integer(), nullable=True),
        sa.Column('confirmed_at', sa.DateTime(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('grade BETWEEN 0 AND 12', name=op.f('ck_cb_intake_placement_grade')),
        sa.ForeignKeyConstraint(['academic_year_id'], ['academic_year.id'], name=op.f('fk_cb_intake_placement_academic_year_id_academic_year')),
        sa.ForeignKeyConstraint(['pupil_id'], ['cb_pupil.id'], name=op.f('fk_cb_intake_placement_pupil_id_cb_pupil'), ondelete='SET NULL'),
        sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_cb_intake_placement_school_id_school'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cb_intake_placement')),
        sa.UniqueConstraint('school_id', 'academic_year_id', 'source_key', name=op.f('uq_cb_intake_placement_school_id_academic_year_id_source_key')),
    )
    with op.batch_alter_table('cb_intake_placement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cb_intake_placement_academic_year_id'), ['academic_year_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_cb_intake_placement_pupil_id'), ['pupil_id'], unique=False)
    for table in ('cb_class', 'cb_subject'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint('grade', type_='check')
            batch_op.create_check_constraint('grade', 'grade BETWEEN 0 AND 12')


def downgrade():
    for table in ('cb_class', 'cb_subject'):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint('grade', type_='check')
            batch_op.create_check_constraint('grade', 'grade BETWEEN 1 AND 12')
    with op.batch_alter_table('cb_intake_placement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cb_intake_placement_pupil_id'))
        batch_op.drop_index(batch_op.f('ix_cb_intake_placement_academic_year_id'))
    op.drop_table('cb_intake_placement')
