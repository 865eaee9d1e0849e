"""push: Web Push as a notification channel (subscriptions, per-kind preference, SMS saved)

Revision ID: 7b3e9d2c4f11
Revises: c8d2a5f03e19
Create Date: 2026-12-04 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '7b3e9d2c4f11'
down_revision = 'c8d2a5f03e19'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'push_subscription',
        sa.Column('id', sa.Integer(), nullable=False),
        sa.Column('user_id', sa.Integer(), nullable=False),
        sa.Column('endpoint', sa.String(length=1000), nullable=False),
        sa.Column('p256dh', sa.String(length=200), nullable=False),
        sa.Column('auth', sa.String(length=100), nullable=False),
        sa.Column('user_agent', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(), nullable=False),
        sa.Column('last_success_at', sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_push_subscription_user_id_user'), ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id', name=op.f('pk_push_subscription')),
        sa.UniqueConstraint('endpoint', name=op.f('uq_push_subscription_endpoint')),
    )
    with op.batch_alter_table('push_subscription', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_push_subscription_user_id'), ['user_id'], unique=False)
    with op.batch_alter_table('notification_preference', schema=None) as batch_op:
        batch_op.add_column(sa.Column('push', sa.Boolean(), server_default=sa.true(), nullable=False))
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('sms_saved', sa.Integer(), server_default=sa.text('0'), nullable=False))
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_constraint('channel', type_='check')
        batch_op.create_check_constraint('channel', "channel IN ('in_app','email','sms','push')")


def downgrade():
    op.execute("DELETE FROM delivery WHERE channel = 'push'")
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_constraint('channel', type_='check')
        batch_op.create_check_constraint('channel', "channel IN ('in_app','email','sms')")
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_column('sms_saved')
    with op.batch_alter_table('notification_preference', schema=None) as batch_op:
        batch_op.drop_column('push')
    with op.batch_alter_table('push_subscription', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_push_subscription_user_id'))
    op.drop_table('push_subscription')
