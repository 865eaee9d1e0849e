"""accounts: where a session logged in from, staff activation codes, login codes by SMS

`user_session.ip_prefix` keeps the start of the address a session logged in from (the sessions
page shows it); `user.must_change_password` with `activation_code_hash`/`activation_expires_at`
make an administrator's initial password or activation code good for one login only, then a
new password; `phone_code.purpose` gains 'login' (the code asked for after many failed logins).

Revision ID: a7c31e5d90b2
Revises: 7d3e5b1a9c20
Create Date: 2026-12-04 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = 'a7c31e5d90b2'
down_revision = '7d3e5b1a9c20'
branch_labels = None
depends_on = None

OLD = "purpose IN ('register','confirm','phone','reset')"
NEW = "purpose IN ('register','confirm','phone','reset','login')"


def upgrade():
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.add_column(sa.Column('ip_prefix', sa.String(length=45), server_default='', nullable=False))
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('must_change_password', sa.Boolean(), server_default=sa.false(), nullable=False)
        )
        batch_op.add_column(sa.Column('activation_code_hash', sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column('activation_expires_at', sa.DateTime(), nullable=True))
    with op.batch_alter_table('phone_code', schema=None) as batch_op:
        batch_op.drop_constraint('purpose', type_='check')
        batch_op.create_check_constraint('purpose', NEW)


def downgrade():
    op.execute("DELETE FROM phone_code WHERE purpose = 'login'")
    with op.batch_alter_table('phone_code', schema=None) as batch_op:
        batch_op.drop_constraint('purpose', type_='check')
        batch_op.create_check_constraint('purpose', OLD)
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('activation_expires_at')
        batch_op.drop_column('activation_code_hash')
        batch_op.drop_column('must_change_password')
    with op.batch_alter_table('user_session', schema=None) as batch_op:
        batch_op.drop_column('ip_prefix')
