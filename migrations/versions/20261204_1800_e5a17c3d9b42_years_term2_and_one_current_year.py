"""years: the day term II starts, and at most one current academic year

The city administrator now creates the years and sets the current one (app.years). A year
carries the day term II starts across the city (schools' terms default to it). A partial unique
index keeps a single current year; an installation where several were marked keeps the latest.

Revision ID: e5a17c3d9b42
Revises: c4d1e8f27a90
Create Date: 2026-12-04 18:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'e5a17c3d9b42'
down_revision = 'c4d1e8f27a90'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('academic_year', schema=None) as batch_op:
        batch_op.add_column(sa.Column('term2_starts_on', sa.Date(), nullable=True))

    year = sa.table(
        'academic_year',
        sa.column('id', sa.Integer),
        sa.column('starts_on', sa.Date),
        sa.column('is_current', sa.Boolean),
    )
    bind = op.get_bind()
    current = bind.execute(
        sa.select(year.c.id).where(year.c.is_current.is_(True)).order_by(year.c.starts_on.desc()).limit(1)
    ).scalar()
    if current is not None:
        bind.execute(sa.update(year).where(year.c.id != current).values(is_current=False))

    with op.batch_alter_table('academic_year', schema=None) as batch_op:
        batch_op.create_index(
            'uq_academic_year_one_current',
            ['is_current'],
            unique=True,
            sqlite_where=sa.text('is_current'),
            postgresql_where=sa.text('is_current'),
        )


def downgrade():
    with op.batch_alter_table('academic_year', schema=None) as batch_op:
        batch_op.drop_index(
            'uq_academic_year_one_current',
            sqlite_where=sa.text('is_current'),
            postgresql_where=sa.text('is_current'),
        )
        batch_op.drop_column('term2_starts_on')
