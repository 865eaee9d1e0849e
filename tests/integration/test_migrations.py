"""Alembic: one linear history, head matches the models, every revision goes down and up again.

Runs on SQLite always and on PostgreSQL when a server is reachable (DATABASE_URL or local).
"""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import downgrade, upgrade

from app import create_app
from app.extensions import db
from tests.conftest import _answers, _pg_server_url, create_pg_database, make_config


def _pg_url():
    return _pg_server_url() or (
        "postgresql+psycopg://postgres@127.0.0.1:5432/postgres" if _answers("127.0.0.1", 5432) else None
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_db(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'm.db'}"
        return
    server = _pg_url()
    if not server:
        pytest.skip("no PostgreSQL server reachable")
    url, drop = create_pg_database(server)
    yield url
    drop()


@pytest.fixture
def migration_app(empty_db, tmp_path):
    app = create_app(make_config(empty_db, tmp_path))
    with app.app_context():
        yield app

        db.session.remove()
        db.engine.dispose()


def _script(app):
    return ScriptDirectory.from_config(
        app.extensions["migrate"].migrate.get_config(app.extensions["migrate"].directory)
    )


def test_history_is_linear_and_named_by_date(migration_app):
    script = _script(migration_app)
    assert len(script.get_heads()) == 1, "more than one head: merge or rebase migrations"
    for rev in script.walk_revisions():
        name = os.path.basename(rev.path)
        assert name[:8].isdigit() and name[8] == "_" and name[9:13].isdigit(), name


def test_upgrade_to_head_matches_models(migration_app):
    upgrade()
    with db.engine.connect() as conn:
        ctx = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(ctx, db.metadata)
    assert diff == [], f"models and migrations differ: {diff}"


def test_every_revision_down_and_up(migration_app):
    script = _script(migration_app)
    revisions = list(reversed(list(script.walk_revisions())))  # oldest first
    for rev in revisions:
        upgrade(revision=rev.revision)
        downgrade(revision=rev.down_revision or "base")
        upgrade(revision=rev.revision)
    downgrade(revision="base")
    tables = set(sa.inspect(db.engine).get_table_names()) - {"alembic_version"}
    assert tables == set(), f"downgrade to base left tables: {tables}"
    upgrade()
