"""seats: how many schools besides the catchment school a family may rank, per level

The limit was a constant (3) for every level; each level of a season now has its own, set by the
city before its window opens (3 for the levels that exist, as before).

Revision ID: 5e7a1c93b2d4
Revises: 3ccb560a3b7c
Create Date: 2026-12-04 17:45:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '5e7a1c93b2d4'
down_revision = '3ccb560a3b7c'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('admission_level', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('max_other_choices', sa.Integer(), server_default=sa.text('3'), nullable=False)
        )
        batch_op.create_check_constraint('max_other_choices', 'max_other_choices BETWEEN 0 AND 10')


def downgrade():
    with op.batch_alter_table('admission_level', schema=None) as batch_op:
        batch_op.drop_constraint('max_other_choices', type_='check')
        batch_op.drop_column('max_other_choices')
