"""notices: one notion of read, and urgent notices

A notification may name what it is about (`subject`, e.g. "announcement:12", "thread:7"): the
area that shows that thing marks the recipient's inbox items about it read (indexed lookup).
An announcement may be urgent (sent as the platform's "emergency" kind, every channel, past
quiet hours and summaries).

Revision ID: a7c3e51d9b20
Revises: 5e7a1c93b2d4
Create Date: 2026-12-04 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c3e51d9b20'
down_revision = '5e7a1c93b2d4'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=60), nullable=True))
        batch_op.create_index('ix_notification_subject', ['subject'], unique=False)
    with op.batch_alter_table('cb_announcement', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('urgent', sa.Boolean(), server_default=sa.text('false'), nullable=False)
        )


def downgrade():
    with op.batch_alter_table('cb_announcement', schema=None) as batch_op:
        batch_op.drop_column('urgent')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_subject')
        batch_op.drop_column('subject')
