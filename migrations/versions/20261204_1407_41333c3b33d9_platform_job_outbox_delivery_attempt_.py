"""platform job outbox; delivery attempt markers

job_outbox: every job that must run after a commit, written in that commit (app/outbox.py).
delivery: attempt_at (set before an email/SMS is handed over), takeovers and lost_attempts (claims
of a stopped sender taken over; attempts whose outcome is unknown), for the sender's report.

Revision ID: 41333c3b33d9
Revises: 4800dccd6ec1
Create Date: 2026-12-04 14:07:12.894185

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '41333c3b33d9'
down_revision = '4800dccd6ec1'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('job_outbox',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('path', sa.String(length=200), nullable=False),
    sa.Column('args', sa.JSON(), nullable=False),
    sa.Column('kwargs', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('not_before', sa.DateTime(), nullable=True),
    sa.Column('handed_at', sa.DateTime(), nullable=True),
    sa.Column('handovers', sa.Integer(), nullable=False),
    sa.Column('claim_token', sa.String(length=32), nullable=True),
    sa.Column('claimed_until', sa.DateTime(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('last_error', sa.String(length=300), nullable=True),
    sa.Column('failed_at', sa.DateTime(), nullable=True),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_job_outbox')),
    sqlite_autoincrement=True,
    )
    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_job_outbox_not_before'), ['not_before'], unique=False)

    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.add_column(sa.Column('attempt_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('takeovers', sa.Integer(), server_default=sa.text('0'), nullable=False))
        batch_op.add_column(sa.Column('lost_attempts', sa.Integer(), server_default=sa.text('0'), nullable=False))



def downgrade():
    with op.batch_alter_table('delivery', schema=None) as batch_op:
        batch_op.drop_column('lost_attempts')
        batch_op.drop_column('takeovers')
        batch_op.drop_column('attempt_at')

    with op.batch_alter_table('job_outbox', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_job_outbox_not_before'))

    op.drop_table('job_outbox')
