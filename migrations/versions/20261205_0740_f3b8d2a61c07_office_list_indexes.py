"""admissions: indexes for the office's long lists (keyset paging by name, children without a seat)

Revision ID: f3b8d2a61c07
Revises: 4b9e2f6a1c37
Create Date: 2026-12-05 07:40:00

- roster_entry (full_name, id): the eligible list reads its pages along the name order.
- application (admission_level_id, status, offer_deadline) replaces (admission_level_id, status):
  the placement page finds the offers past their answer-by time without reading every offer.
- application (admission_level_id) WHERE assigned_by_id IS NOT NULL: the office's own offers.
"""

from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = "f3b8d2a61c07"
down_revision = "4b9e2f6a1c37"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("roster_entry", schema=None) as batch_op:
        batch_op.create_index("ix_roster_entry_name", ["full_name", "id"], unique=False)
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.create_index(
            "ix_application_level_status_deadline",
            ["admission_level_id", "status", "offer_deadline"],
            unique=False,
        )
        batch_op.drop_index("ix_application_level_status")
        batch_op.create_index(
            "ix_application_office_offer",
            ["admission_level_id"],
            unique=False,
            postgresql_where=sa.text("assigned_by_id IS NOT NULL"),
            sqlite_where=sa.text("assigned_by_id IS NOT NULL"),
        )


def downgrade():
    with op.batch_alter_table("application", schema=None) as batch_op:
        batch_op.drop_index("ix_application_office_offer")
        batch_op.create_index("ix_application_level_status", ["admission_level_id", "status"], unique=False)
        batch_op.drop_index("ix_application_level_status_deadline")
    with op.batch_alter_table("roster_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_roster_entry_name")
