"""rounds nobody can steer: seed commitments, entry freeze versions, round attempts

The office's seed commitment and the beacon round per level and district, the frozen entry
list's public versions, and every attempt of an official round (docs/verification.md).

Revision ID: 3c02b3da9fc7
Revises: e5a17c3d9b42
Create Date: 2026-12-04 17:45:00.000000

"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "3c02b3da9fc7"
down_revision = "e5a17c3d9b42"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "entry_freeze",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admission_level_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("is_trial", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("root", sa.String(length=64), nullable=False),
        sa.Column("schools", sa.Integer(), nullable=False),
        sa.Column("entries", sa.Integer(), nullable=False),
        sa.Column("seats", sa.Integer(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("content", sa.JSON(), nullable=False),
        sa.Column("application_ids", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("version >= 1", name=op.f("ck_entry_freeze_version")),
        sa.ForeignKeyConstraint(
            ["admission_level_id"],
            ["admission_level.id"],
            name=op.f("fk_entry_freeze_admission_level_id_admission_level"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_entry_freeze_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["district.id"], name=op.f("fk_entry_freeze_district_id_district")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_entry_freeze")),
        sa.UniqueConstraint(
            "admission_level_id",
            "district_id",
            "is_trial",
            "version",
            name=op.f("uq_entry_freeze_admission_level_id_district_id_is_trial_version"),
        ),
    )
    with op.batch_alter_table("entry_freeze", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_entry_freeze_district_id"), ["district_id"], unique=False)

    op.create_table(
        "round_commitment",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("admission_level_id", sa.Integer(), nullable=False),
        sa.Column("district_id", sa.Integer(), nullable=False),
        sa.Column("is_trial", sa.Boolean(), nullable=False),
        sa.Column("secret", sa.String(length=64), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("committed_at", sa.DateTime(), nullable=False),
        sa.Column("beacon_round", sa.Integer(), nullable=True),
        sa.Column("beacon_randomness", sa.String(length=128), nullable=True),
        sa.Column("beacon_signature", sa.Text(), nullable=True),
        sa.Column("beacon_source", sa.String(length=300), nullable=True),
        sa.Column("beacon_entered_by_id", sa.Integer(), nullable=True),
        sa.Column("beacon_at", sa.DateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["admission_level_id"],
            ["admission_level.id"],
            name=op.f("fk_round_commitment_admission_level_id_admission_level"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["beacon_entered_by_id"],
            ["user.id"],
            name=op.f("fk_round_commitment_beacon_entered_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["district_id"], ["district.id"], name=op.f("fk_round_commitment_district_id_district")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_commitment")),
        sa.UniqueConstraint(
            "admission_level_id",
            "district_id",
            "is_trial",
            name=op.f("uq_round_commitment_admission_level_id_district_id_is_trial"),
        ),
    )
    with op.batch_alter_table("round_commitment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_round_commitment_district_id"), ["district_id"], unique=False)

    op.create_table(
        "round_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("round_id", sa.Integer(), nullable=False),
        sa.Column("number", sa.Integer(), nullable=False),
        sa.Column("freeze_id", sa.Integer(), nullable=False),
        sa.Column("lottery_seed", sa.String(length=64), nullable=True),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("result_sha256", sa.String(length=64), nullable=True),
        sa.Column("assigned", sa.Integer(), nullable=True),
        sa.Column("unassigned", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("created_by_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("status IN ('running','done','failed')", name=op.f("ck_round_attempt_status")),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["user.id"],
            name=op.f("fk_round_attempt_created_by_id_user"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["freeze_id"],
            ["entry_freeze.id"],
            name=op.f("fk_round_attempt_freeze_id_entry_freeze"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["round_id"],
            ["allocation_round.id"],
            name=op.f("fk_round_attempt_round_id_allocation_round"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_round_attempt")),
        sa.UniqueConstraint("round_id", "number", name=op.f("uq_round_attempt_round_id_number")),
    )
    with op.batch_alter_table("round_attempt", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_round_attempt_freeze_id"), ["freeze_id"], unique=False)


def downgrade():
    with op.batch_alter_table("round_attempt", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_round_attempt_freeze_id"))

    op.drop_table("round_attempt")
    with op.batch_alter_table("round_commitment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_round_commitment_district_id"))

    op.drop_table("round_commitment")
    with op.batch_alter_table("entry_freeze", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_entry_freeze_district_id"))

    op.drop_table("entry_freeze")
