"""PostgreSQL: a request that only reads sends its statements alone (no BEGIN, no ROLLBACK); a
write, a locking read or a server-side cursor begins the transaction, which commits or rolls back
as before (app.transactions)."""

from __future__ import annotations

import os
import tempfile

import psycopg
import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import District
from app.transactions import reads_only
from tests.factories import create_user

INTRANS = psycopg.pq.TransactionStatus.INTRANS


def test_only_plain_selects_run_outside_a_transaction():
    assert reads_only('SELECT "user".id FROM "user" WHERE "user".id = %(id)s')
    assert reads_only("  select 1")
    for statement in (
        "SELECT id FROM school WHERE id = %(id)s FOR UPDATE",
        "SELECT id FROM school FOR NO KEY UPDATE SKIP LOCKED",
        "SELECT id FROM school FOR SHARE",
        "SELECT id FROM school FOR KEY SHARE",
        "SELECT nextval('audit_log_id_seq')",
        "SELECT pg_advisory_xact_lock(1)",
        "SELECT set_config('work_mem', '64MB', true)",
        "WITH s AS (UPDATE user_session SET last_seen_at = now() RETURNING id) SELECT id FROM s",
        "INSERT INTO district (name) VALUES ('x')",
        "SET LOCAL work_mem = '64MB'",
    ):
        assert not reads_only(statement), statement


@pytest.fixture
def pg(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only: SQLite's driver begins before the first write anyway")
    return app


def _status():
    return db.session.connection().connection.dbapi_connection.info.transaction_status


def test_reads_leave_no_transaction_and_writes_begin_one(pg):
    with pg.app_context():
        db.session.execute(sa.select(District.id)).all()
        assert _status() == psycopg.pq.TransactionStatus.IDLE
        db.session.execute(sa.select(District.id).with_for_update()).all()
        assert _status() == INTRANS  # the lock lasts until the commit
        jobs.rollback()
        db.session.add(District(name="kept", code="K1"))
        db.session.flush()
        assert _status() == INTRANS
        jobs.rollback()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(District)) == 0
        db.session.add(District(name="kept", code="K1"))
        jobs.commit()
        assert db.session.scalar(sa.select(District.name)) == "kept"
        db.session.remove()


def test_a_server_side_cursor_begins_a_transaction(pg):
    with pg.app_context():
        db.session.add_all([District(name=f"d{i}", code=f"D{i}") for i in range(3)])
        jobs.commit()
        result = db.session.execute(sa.select(District.name).execution_options(yield_per=2))
        assert len(result.all()) == 3
        db.session.remove()


def test_an_autocommit_connection_asked_for_stays_one(pg):
    with pg.app_context():
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.insert(District.__table__).values(name="at once", code="A1"))
            assert conn.connection.dbapi_connection.info.transaction_status != INTRANS
        assert db.session.scalar(sa.select(District.name)) == "at once"
        db.session.remove()


def test_a_logged_in_page_sends_its_statement_alone(pg, client):
    parent = create_user("parent")
    jobs.commit()
    client.login_as(parent)
    assert client.get("/home").status_code == 200
    with pg.app_context():
        engine = db.engine
    fd, path = tempfile.mkstemp()

    def trace(dbapi_connection, record, proxy):
        dbapi_connection.pgconn.trace(fd)
        dbapi_connection.pgconn.set_trace_flags(psycopg.pq.Trace.SUPPRESS_TIMESTAMPS)

    sa.event.listen(engine, "checkout", trace)
    try:
        assert client.get("/home").status_code == 200
    finally:
        sa.event.remove(engine, "checkout", trace)
        with pg.app_context():
            db.session.remove()
        for conn in list(engine.pool._pool.queue):
            conn.dbapi_connection.pgconn.untrace()
        os.close(fd)
    with open(path) as fh:
        sent = [line.split("\t") for line in fh if line.startswith("F\t")]  # what the app sent
    os.unlink(path)
    kinds = [fields[2].strip() for fields in sent]
    assert "Query" not in kinds, sent  # no BEGIN, no ROLLBACK
    assert kinds.count("Sync") == 1, sent  # one statement: one round trip
