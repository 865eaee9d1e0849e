"""contact book: drop the pending notices (cb_notice)

Every contact book notice now goes through app.notifications.notify / notify_many in the
transaction of the change it announces; nothing writes or reads cb_notice any more. The relay of
the notifications outbox sends what a Redis outage leaves unsent. Downgrade recreates the empty
table.

Revision ID: b7e3c2a91d5f
Revises: 41333c3b33d9
Create Date: 2026-12-04 14:15:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'b7e3c2a91d5f'
down_revision = '41333c3b33d9'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('cb_notice', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_cb_notice_created_at'))

    op.drop_table('cb_notice')


def downgrade():
    op.create_table('cb_notice',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('event', sa.String(length=30), nullable=False),
    sa.Column('pupil_ids', sa.JSON(), nullable=False),
    sa.Column('context', sa.JSON(), nullable=False),
    sa.Column('sender_id', sa.Integer(), nullable=True),
    sa.Column('school_id', sa.Integer(), nullable=True),
    sa.Column('urgent', sa.Boolean(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.ForeignKeyConstraint(['school_id'], ['school.id'], name=op.f('fk_cb_notice_school_id_school'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['sender_id'], ['user.id'], name=op.f('fk_cb_notice_sender_id_user'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_cb_notice'))
    )
    with op.batch_alter_table('cb_notice', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cb_notice_created_at'), ['created_at'], unique=False)
