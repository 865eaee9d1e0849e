"""admissions: roster_registration, the roster entries with a live application per level, kept
by triggers on application (the eligible list's "not registered yet" at city scale)

Revision ID: 9c4e1f7a2b60
Revises: f3b8d2a61c07
Create Date: 2026-12-05 16:30:00

"""
from alembic import op
import sqlalchemy as sa


# revision identifiers, used by Alembic.
revision = '9c4e1f7a2b60'
down_revision = 'f3b8d2a61c07'
branch_labels = None
depends_on = None

# A live application (any status but withdrawn) marks its child's roster entry for its level;
# the mark goes with the application (foreign key, ON DELETE CASCADE: a deleted application, a
# deleted child's applications). Inserting and changing an application keep it by trigger; an
# update that does not touch the status, the child or the level does not fire (WHEN), so a
# round's mass status updates between live statuses cost nothing here.
MARK_ROWS = (  # a statement's inserted rows (PostgreSQL's transition table)
    "INSERT INTO roster_registration (admission_level_id, roster_entry_id, application_id) "
    "SELECT n.admission_level_id, child.roster_entry_id, n.id FROM new_rows AS n "
    "JOIN child ON child.id = n.child_id WHERE n.status <> 'withdrawn'"
)
MARK_ROW = (  # one inserted or changed row
    "INSERT INTO roster_registration (admission_level_id, roster_entry_id, application_id) "
    "SELECT NEW.admission_level_id, child.roster_entry_id, NEW.id FROM child "
    "WHERE child.id = NEW.child_id AND NEW.status <> 'withdrawn'"
)
UNMARK = "DELETE FROM roster_registration WHERE application_id = OLD.id"
CHANGED = (
    "(OLD.status = 'withdrawn') <> (NEW.status = 'withdrawn') OR OLD.child_id <> NEW.child_id "
    "OR OLD.admission_level_id <> NEW.admission_level_id"
)
TRIGGERS = ("trg_application_insert_registration", "trg_application_update_registration")


def upgrade():
    op.create_table(
        'roster_registration',
        sa.Column('admission_level_id', sa.Integer(), nullable=False),
        sa.Column('roster_entry_id', sa.Integer(), nullable=False),
        sa.Column('application_id', sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(['admission_level_id'], ['admission_level.id'],
                                name=op.f('fk_roster_registration_admission_level_id_admission_level'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['application_id'], ['application.id'],
                                name=op.f('fk_roster_registration_application_id_application'),
                                ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['roster_entry_id'], ['roster_entry.id'],
                                name=op.f('fk_roster_registration_roster_entry_id_roster_entry'),
                                ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('admission_level_id', 'roster_entry_id', name=op.f('pk_roster_registration')),
        sa.UniqueConstraint('application_id', name=op.f('uq_roster_registration_application_id')),
    )
    op.execute(
        "INSERT INTO roster_registration (admission_level_id, roster_entry_id, application_id) "
        "SELECT application.admission_level_id, child.roster_entry_id, application.id FROM application "
        "JOIN child ON child.id = application.child_id WHERE application.status <> 'withdrawn'"
    )
    if op.get_bind().dialect.name == "postgresql":
        # Inserts per statement (a bench's or an import's 100,000 rows in one pass), changes per row.
        op.execute(
            "CREATE FUNCTION admissions_register_inserted() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {MARK_ROWS}; RETURN NULL; END $$"
        )
        op.execute(
            "CREATE FUNCTION admissions_register_changed() RETURNS trigger LANGUAGE plpgsql AS "
            f"$$ BEGIN {UNMARK}; {MARK_ROW}; RETURN NULL; END $$"
        )
        op.execute(
            f"CREATE TRIGGER {TRIGGERS[0]} AFTER INSERT ON application REFERENCING NEW TABLE AS new_rows "
            "FOR EACH STATEMENT EXECUTE FUNCTION admissions_register_inserted()"
        )
        op.execute(
            f"CREATE TRIGGER {TRIGGERS[1]} AFTER UPDATE OF status, child_id, admission_level_id ON application "
            f"FOR EACH ROW WHEN ({CHANGED}) EXECUTE FUNCTION admissions_register_changed()"
        )
    else:
        op.execute(
            f"CREATE TRIGGER {TRIGGERS[0]} AFTER INSERT ON application FOR EACH ROW "
            f"BEGIN {MARK_ROW}; END"
        )
        op.execute(
            f"CREATE TRIGGER {TRIGGERS[1]} AFTER UPDATE OF status, child_id, admission_level_id ON application "
            f"FOR EACH ROW WHEN {CHANGED} "
            f"BEGIN {UNMARK}; {MARK_ROW}; END"
        )


def downgrade():
    postgresql = op.get_bind().dialect.name == "postgresql"
    for name in TRIGGERS:
        op.execute(f"DROP TRIGGER IF EXISTS {name}" + (" ON application" if postgresql else ""))
    if postgresql:
        op.execute("DROP FUNCTION IF EXISTS admissions_register_inserted()")
        op.execute("DROP FUNCTION IF EXISTS admissions_register_changed()")
    op.drop_table('roster_registration')
