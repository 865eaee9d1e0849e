"""admissions: admission_season.places_version, bumped by triggers on school, catchment and
import_job, so that the families' pages cache the district's schools per version

Revision ID: 4b9e2f6a1c37
Revises: d7c41e9a0b52
Create Date: 2026-12-05 07:40:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '4b9e2f6a1c37'
down_revision = 'd7c41e9a0b52'
branch_labels = None
depends_on = None

BUMP = "UPDATE admission_season SET places_version = places_version + 1"
# (table, events): any write to a school or a catchment line; an import job's status (a roster
# or catchment upload finishing changes the demand behind the spare seats)
WATCHED = (("school", ("INSERT", "UPDATE", "DELETE")), ("catchment", ("INSERT", "UPDATE", "DELETE")),
           ("import_job", ("UPDATE OF status",)))


def _name(table, event):
    return f"trg_{table}_{event.split()[0].lower()}_places_version"


def upgrade():
    with op.batch_alter_table('admission_season', schema=None) as batch_op:
        batch_op.add_column(sa.Column('places_version', sa.Integer(), server_default=sa.text('0'), nullable=False))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE FUNCTION admissions_bump_places_version() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {BUMP}; RETURN NULL; END $$"
        )
        for table, events in WATCHED:
            for event in events:
                op.execute(
                    f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} "
                    "FOR EACH STATEMENT EXECUTE FUNCTION admissions_bump_places_version()"
                )
    else:
        for table, events in WATCHED:
            for event in events:
                op.execute(
                    f"CREATE TRIGGER {_name(table, event)} AFTER {event} ON {table} "
                    f"FOR EACH ROW BEGIN {BUMP}; END"
                )


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for table, events in WATCHED:
        for event in events:
            op.execute(f"DROP TRIGGER IF EXISTS {_name(table, event)}" + (f" ON {table}" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS admissions_bump_places_version()")
    with op.batch_alter_table('admission_season', schema=None) as batch_op:
        batch_op.drop_column('places_version')
