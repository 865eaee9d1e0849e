"""contact book: a pupil's overall results of a term or year (Circular 22), confirmed by the
homeroom teacher

Revision ID: 7d3e5b1a9c20
Revises: 5e7a1c93b2d4
Create Date: 2026-12-04 20:00:00.000000

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "7d3e5b1a9c20"
down_revision = "5e7a1c93b2d4"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "cb_term_result",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("pupil_id", sa.Integer(), nullable=False),
        sa.Column("class_id", sa.Integer(), nullable=False),
        sa.Column("period", sa.String(length=4), nullable=False),
        sa.Column("learning", sa.String(length=2), nullable=False),
        sa.Column("conduct", sa.String(length=2), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(), nullable=False),
        sa.Column("confirmed_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("period IN ('1','2','year')", name=op.f("ck_cb_term_result_period")),
        sa.CheckConstraint("learning IN ('T','K','D','CD')", name=op.f("ck_cb_term_result_learning")),
        sa.CheckConstraint("conduct IN ('T','K','D','CD')", name=op.f("ck_cb_term_result_conduct")),
        sa.ForeignKeyConstraint(
            ["class_id"], ["cb_class.id"], name=op.f("fk_cb_term_result_class_id_cb_class"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["confirmed_by_id"], ["user.id"], name=op.f("fk_cb_term_result_confirmed_by_id_user"), ondelete="SET NULL"
        ),
        sa.ForeignKeyConstraint(
            ["pupil_id"], ["cb_pupil.id"], name=op.f("fk_cb_term_result_pupil_id_cb_pupil"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cb_term_result")),
        sa.UniqueConstraint("pupil_id", "class_id", "period", name=op.f("uq_cb_term_result_pupil_id_class_id_period")),
    )
    with op.batch_alter_table("cb_term_result", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_cb_term_result_class_id"), ["class_id"], unique=False)


def downgrade():
    with op.batch_alter_table("cb_term_result", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_cb_term_result_class_id"))
    op.drop_table("cb_term_result")
