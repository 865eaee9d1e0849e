"""primary classes by Circular 27: qualities and competences at four points, the year result

Revision ID: 68a284065573
Revises: a1db389fd9fb
Create Date: 2026-12-04 23:04:29.972854

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '68a284065573'
down_revision = 'a1db389fd9fb'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('cb_primary_evaluation',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pupil_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('point', sa.String(length=3), nullable=False),
    sa.Column('comment', sa.String(length=500), nullable=False),
    sa.Column('updated_by_id', sa.Integer(), nullable=True),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.CheckConstraint("point IN ('gk1','ck1','gk2','cn')", name=op.f('ck_cb_primary_evaluation_point')),
    sa.ForeignKeyConstraint(['class_id'], ['cb_class.id'], name=op.f('fk_cb_primary_evaluation_class_id_cb_class'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['pupil_id'], ['cb_pupil.id'], name=op.f('fk_cb_primary_evaluation_pupil_id_cb_pupil'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['updated_by_id'], ['user.id'], name=op.f('fk_cb_primary_evaluation_updated_by_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cb_primary_evaluation')),
    sa.UniqueConstraint('pupil_id', 'class_id', 'point', name=op.f('uq_cb_primary_evaluation_pupil_id_class_id_point'))
    )
    with op.batch_alter_table('cb_primary_evaluation', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cb_primary_evaluation_class_id'), ['class_id'], unique=False)

    op.create_table('cb_primary_year_result',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('pupil_id', sa.Integer(), nullable=False),
    sa.Column('class_id', sa.Integer(), nullable=False),
    sa.Column('proposed', sa.String(length=4), nullable=False),
    sa.Column('result', sa.String(length=4), nullable=False),
    sa.Column('reason', sa.String(length=500), nullable=False),
    sa.Column('confirmed_at', sa.DateTime(), nullable=False),
    sa.Column('confirmed_by_id', sa.Integer(), nullable=True),
    sa.CheckConstraint("proposed IN ('HTXS','HTT','HT','CHT')", name=op.f('ck_cb_primary_year_result_proposed')),
    sa.CheckConstraint("result IN ('HTXS','HTT','HT','CHT')", name=op.f('ck_cb_primary_year_result_result')),
    sa.ForeignKeyConstraint(['class_id'], ['cb_class.id'], name=op.f('fk_cb_primary_year_result_class_id_cb_class'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['confirmed_by_id'], ['user.id'], name=op.f('fk_cb_primary_year_result_confirmed_by_id_user'), ondelete='SET NULL'),
    sa.ForeignKeyConstraint(['pupil_id'], ['cb_pupil.id'], name=op.f('fk_cb_primary_year_result_pupil_id_cb_pupil'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cb_primary_year_result')),
    sa.UniqueConstraint('pupil_id', 'class_id', name=op.f('uq_cb_primary_year_result_pupil_id_class_id'))
    )
    with op.batch_alter_table('cb_primary_year_result', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cb_primary_year_result_class_id'), ['class_id'], unique=False)

    op.create_table('cb_primary_level',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('evaluation_id', sa.Integer(), nullable=False),
    sa.Column('criterion', sa.String(length=12), nullable=False),
    sa.Column('level', sa.String(length=1), nullable=False),
    sa.CheckConstraint("criterion IN ('yeu_nuoc','nhan_ai','cham_chi','trung_thuc','trach_nhiem','tu_chu','giao_tiep','giai_quyet','ngon_ngu','tinh_toan','khoa_hoc','cong_nghe','tin_hoc','tham_mi','the_chat')", name=op.f('ck_cb_primary_level_criterion')),
    sa.CheckConstraint("level IN ('T','D','C')", name=op.f('ck_cb_primary_level_level')),
    sa.ForeignKeyConstraint(['evaluation_id'], ['cb_primary_evaluation.id'], name=op.f('fk_cb_primary_level_evaluation_id_cb_primary_evaluation'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cb_primary_level')),
    sa.UniqueConstraint('evaluation_id', 'criterion', name=op.f('uq_cb_primary_level_evaluation_id_criterion'))
    )


def downgrade():
    op.drop_table('cb_primary_level')
    with op.batch_alter_table('cb_primary_year_result', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cb_primary_year_result_class_id'))

    op.drop_table('cb_primary_year_result')
    with op.batch_alter_table('cb_primary_evaluation', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cb_primary_evaluation_class_id'))

    op.drop_table('cb_primary_evaluation')
