"""intake: kindergarten records (developmental evaluation by domain, height and weight checks)

Revision ID: c8d2a5f03e19
Revises: b3e9f4a62c71
Create Date: 2026-12-04 20:02:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'c8d2a5f03e19'
down_revision = 'b3e9f4a62c71'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'cb_kg_evaluation',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('pupil_id', sa.Integer(), nullable=False),
        sa.Column('term_id', sa.Integer(), nullable=False),
        sa.Column('domain', sa.String(length=20), nullable=False),
        sa.Column('result', sa.String(length=2), nullable=False),
        sa.Column('comment', sa.String(length=500), nullable=False),
        sa.Column('updated_by_id', sa.Integer(), nullable=True),
        sa.Column('updated_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint(
            "domain IN ('physical','cognitive','language','social_emotional','aesthetic')",
            name=op.f('ck_cb_kg_evaluation_domain'),
        ),
        sa.CheckConstraint("result IN ('D','CD')", name=op.f('ck_cb_kg_evaluation_result')),
        sa.ForeignKeyConstraint(['pupil_id'], ['cb_pupil.id'], name=op.f('fk_cb_kg_evaluation_pupil_id_cb_pupil'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['term_id'], ['cb_term.id'], name=op.f('fk_cb_kg_evaluation_term_id_cb_term'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_cb_kg_evaluation_updated_by_id_user'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cb_kg_evaluation')),
        sa.UniqueConstraint('pupil_id', 'term_id', 'domain', name=op.f('uq_cb_kg_evaluation_pupil_id_term_id_domain')),
    )
    with op.batch_alter_table('cb_kg_evaluation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cb_kg_evaluation_term_id'), ['term_id'], unique=False)
    op.create_table(
        'cb_kg_growth',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('pupil_id', sa.Integer(), nullable=False),
        sa.Column('class_id', sa.Integer(), nullable=False),
        sa.Column('measured_on', sa.Date(), nullable=False),
        sa.Column('height_cm', sa.Numeric(precision=4, scale=1), nullable=False),
        sa.Column('weight_kg', sa.Numeric(precision=4, scale=1), nullable=False),
        sa.Column('recorded_by_id', sa.Integer(), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.CheckConstraint('height_cm > 0 AND weight_kg > 0', name=op.f('ck_cb_kg_growth_positive')),
        sa.ForeignKeyConstraint(['class_id'], ['cb_class.id'], name=op.f('fk_cb_kg_growth_class_id_cb_class'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['pupil_id'], ['cb_pupil.id'], name=op.f('fk_cb_kg_growth_pupil_id_cb_pupil'), ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['recorded_by_id'], ['user.id'], name=op.f('fk_cb_kg_growth_recorded_by_id_user'), ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_cb_kg_growth')),
        sa.UniqueConstraint('pupil_id', 'measured_on', name=op.f('uq_cb_kg_growth_pupil_id_measured_on')),
    )
    with op.batch_alter_table('cb_kg_growth', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cb_kg_growth_class_id'), ['class_id'], unique=False)


def downgrade():
    with op.batch_alter_table('cb_kg_growth', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cb_kg_growth_class_id'))
    op.drop_table('cb_kg_growth')
    with op.batch_alter_table('cb_kg_evaluation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cb_kg_evaluation_term_id'))
    op.drop_table('cb_kg_evaluation')
