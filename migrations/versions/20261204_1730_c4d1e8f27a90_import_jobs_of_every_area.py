"""import jobs of every area: the kind is no longer limited to admissions' three

The import job is the platform's (app.imports): each area registers the kinds it imports, and
the contact book's classes.xlsx runs as one too. The kind is checked by the registry when the job
is created; the table no longer lists admissions' kinds. Downgrade restores the check (and fails
if a contact book import job exists: delete those first).

Revision ID: c4d1e8f27a90
Revises: b7e3c2a91d5f
Create Date: 2026-12-04 17:30:00.000000

"""
from alembic import op


# revision identifiers, used by Alembic.
revision = 'c4d1e8f27a90'
down_revision = 'b7e3c2a91d5f'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('import_job', schema=None) as batch_op:
        batch_op.drop_constraint('kind', type_='check')


def downgrade():
    with op.batch_alter_table('import_job', schema=None) as batch_op:
        batch_op.create_check_constraint('kind', "kind IN ('schools','catchments','roster')")
