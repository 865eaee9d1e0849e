"""intake: pupils repeating a grade (the homeroom teacher's mark) and leavers archived

cb_enrolment.repeats: the homeroom teacher marks a pupil who repeats the grade; the rollover
keeps them back. cb_pupil.left_at: a leaver of the school's last grade, archived at the rollover
(never deleted: last year's records stay readable).

Revision ID: b3e9f4a62c71
Revises: a7c5e2d91b40
Create Date: 2026-12-04 20:01:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b3e9f4a62c71'
down_revision = 'a7c5e2d91b40'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cb_enrolment', schema=None) as batch_op:
        batch_op.add_column(sa.Column('repeats', sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table('cb_pupil', schema=None) as batch_op:
        batch_op.add_column(sa.Column('left_at', sa.DateTime(), nullable=True))


def downgrade():
    with op.batch_alter_table('cb_pupil', schema=None) as batch_op:
        batch_op.drop_column('left_at')
    with op.batch_alter_table('cb_enrolment', schema=None) as batch_op:
        batch_op.drop_column('repeats')
