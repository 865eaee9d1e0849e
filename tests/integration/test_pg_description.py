"""PostgreSQL: the app's cursors describe a result as psycopg does, with the Column objects made
only when read (app.pgcursor)."""

from __future__ import annotations

from collections.abc import Sequence

import psycopg
import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import District
from app.pgcursor import Cursor, Description

ATTRS = ("name", "type_code", "display_size", "internal_size", "precision", "scale", "null_ok")


@pytest.fixture
def raw(app):
    """The app's own pooled psycopg connection (made by its engine)."""
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only: the cursor is psycopg's")
        conn = db.engine.raw_connection()
        try:
            yield conn.dbapi_connection
        finally:
            conn.close()


def _described(cursor, query: str):
    """What psycopg's own cursor says of `query`, column by column."""
    cursor.execute(query)
    return [tuple(getattr(c, a) for a in ATTRS) for c in psycopg.Cursor.description.fget(cursor)]


QUERY = (
    "SELECT 1::int AS n, 'x'::varchar(20) AS label, 2.5::numeric(6,2) AS amount, "
    "now() AS at, NULL::date AS day, '{}'::json AS doc"
)


def test_the_app_engine_makes_these_cursors(raw):
    cursor = raw.cursor()
    assert isinstance(cursor, Cursor)
    cursor.execute("SELECT 1 AS one")
    assert isinstance(cursor.description, Description)


def test_a_description_is_psycopgs(raw):
    cursor = raw.cursor()
    expected = _described(cursor, QUERY)
    cursor.execute(QUERY)
    description = cursor.description
    assert len(description) == 6
    assert [tuple(getattr(c, a) for a in ATTRS) for c in description] == expected
    assert [c[0] for c in description] == ["n", "label", "amount", "at", "day", "doc"]
    assert description[1].name == "label" and description[-1].name == "doc"
    assert [c.name for c in description[1:3]] == ["label", "amount"]
    assert isinstance(description, Sequence)


def test_a_description_read_later_describes_its_own_result(raw):
    cursor = raw.cursor()
    expected = _described(cursor, QUERY)
    cursor.execute(QUERY)
    first = cursor.description
    cursor.execute("SELECT 'other'::text AS other")  # the cursor moves on before anyone reads
    assert [tuple(getattr(c, a) for a in ATTRS) for c in first] == expected
    assert [c.name for c in cursor.description] == ["other"]


def test_no_description_where_psycopg_has_none(raw):
    cursor = raw.cursor()
    cursor.execute("CREATE TEMPORARY TABLE pgcursor_t (id int)")
    assert cursor.description is None
    cursor.execute("INSERT INTO pgcursor_t VALUES (1)")
    assert cursor.description is None
    cursor.execute("INSERT INTO pgcursor_t VALUES (2) RETURNING id")
    assert [c.name for c in cursor.description] == ["id"]
    cursor.execute("SELECT")  # rows, no columns: an empty description, as psycopg's
    assert cursor.description is not None and len(cursor.description) == 0
    assert list(cursor.description) == psycopg.Cursor.description.fget(cursor) == []  # empty lists
    raw.rollback()


def test_sqlalchemy_results_read_through_it(app):
    with app.app_context():
        if db.engine.dialect.name != "postgresql":
            pytest.skip("PostgreSQL only")
        db.session.add_all([District(name="Ba Đình", code="BD"), District(name="Hoàn Kiếm", code="HK")])
        db.session.commit()
        for _ in range(2):  # a cache miss (metadata from the description), then a hit
            rows = db.session.execute(sa.select(District.code, District.name).order_by(District.code)).all()
            assert [tuple(r) for r in rows] == [("BD", "Ba Đình"), ("HK", "Hoàn Kiếm")]
            assert list(rows[0]._mapping) == ["code", "name"]
        text_rows = db.session.execute(sa.text("SELECT code AS c, name AS n FROM district ORDER BY code"))
        assert text_rows.keys() == ["c", "n"] and text_rows.first().n == "Ba Đình"
        db.session.remove()
