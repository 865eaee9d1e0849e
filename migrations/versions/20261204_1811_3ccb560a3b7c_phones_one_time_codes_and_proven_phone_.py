"""phones: one-time codes and proven phone numbers (and proven email addresses)

A phone number belongs to whoever proves it with a code sent by SMS (app.auth.verification):
`phone_code` holds the codes (hashed) and `user.phone_verified_at` when the account's phone was
proven. A parent account with an unproven phone sees no child until it enters a code.

Existing accounts: a parent account counts as proven only when the audit log shows that it was
activated with the printed code its child's school handed out (`contactbook.account_activated`)
and never registered by itself (`user.register`): the school linked that number to the child and
gave the code to the family in person, so those families keep working without a step. A
self-registered parent account stays unproven: anyone could register any number, and the
stranger the issue describes is one of these; its holder enters a code sent to the phone at the
next login (the real owner of the number can also take it over with "forgot password"). Accounts
not yet activated and staff accounts (they log in by email) stay unproven.

`user.email_verified_at`: when a parent followed the link sent to the address (app.auth.email_link);
None for every existing account (addresses from class lists were never proven by their owner).

Revision ID: 3ccb560a3b7c
Revises: 3c02b3da9fc7
Create Date: 2026-12-04 17:19:56.314028

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '3ccb560a3b7c'
down_revision = '3c02b3da9fc7'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('phone_code',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('purpose', sa.String(length=10), nullable=False),
    sa.Column('phone', sa.String(length=15), nullable=False),
    sa.Column('user_id', sa.Integer(), nullable=True),
    sa.Column('code_hash', sa.String(length=64), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('payload', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(), nullable=False),
    sa.Column('expires_at', sa.DateTime(), nullable=False),
    sa.Column('used_at', sa.DateTime(), nullable=True),
    sa.CheckConstraint("purpose IN ('register','confirm','phone','reset')", name=op.f('ck_phone_code_purpose')),
    sa.ForeignKeyConstraint(['user_id'], ['user.id'], name=op.f('fk_phone_code_user_id_user'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_phone_code'))
    )
    with op.batch_alter_table('phone_code', schema=None) as batch_op:
        batch_op.create_index('ix_phone_code_phone', ['phone', 'created_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_phone_code_user_id'), ['user_id'], unique=False)

    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.add_column(sa.Column('phone_verified_at', sa.DateTime(), nullable=True))
        batch_op.add_column(sa.Column('email_verified_at', sa.DateTime(), nullable=True))

    op.execute(
        sa.text(
            """
            UPDATE "user" SET phone_verified_at = COALESCE(last_login_at, created_at)
            WHERE role = 'parent' AND password_hash IS NOT NULL AND phone IS NOT NULL
              AND EXISTS (SELECT 1 FROM audit_log a WHERE a.action = 'contactbook.account_activated'
                          AND a.target_type = 'user' AND a.target_id = CAST("user".id AS VARCHAR(40)))
              AND NOT EXISTS (SELECT 1 FROM audit_log a WHERE a.action = 'user.register'
                              AND a.target_type = 'user' AND a.target_id = CAST("user".id AS VARCHAR(40)))
            """
        )
    )


def downgrade():
    with op.batch_alter_table('user', schema=None) as batch_op:
        batch_op.drop_column('email_verified_at')
        batch_op.drop_column('phone_verified_at')

    with op.batch_alter_table('phone_code', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_phone_code_user_id'))
        batch_op.drop_index('ix_phone_code_phone')

    op.drop_table('phone_code')
