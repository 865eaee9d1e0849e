"""PostgreSQL: a result's column descriptions are built when something reads them.

psycopg builds `cursor.description` afresh on every read: a `Column` object per column of the
result (its name decoded, its type looked up). SQLAlchemy reads it after every statement, but on
a statement it has run before (its compiled cache: nearly all of the app's) it only checks that
the description is not `None`; the columns themselves go unread. A logged-in page reads about 55
columns over its statements, some 3 µs each.

Here the app's psycopg connections make cursors whose `description` is a sequence of the same
`Column` objects, built on first use of its items (`len()` needs none). They are built from the
result the description was taken from, so a description read after the cursor ran another
statement still describes its own result. `None` exactly when psycopg says `None`.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import psycopg
import sqlalchemy as sa

_psycopg_description = psycopg.Cursor.description.fget
_ROWS = frozenset(
    {psycopg.pq.ExecStatus.TUPLES_OK, psycopg.pq.ExecStatus.SINGLE_TUPLE, psycopg.pq.ExecStatus.TUPLES_CHUNK}
)


class _ResultOf:
    """What `psycopg.Column` reads of a cursor, as it was when the description was taken."""

    __slots__ = ("pgresult", "_encoding", "adapters")

    def __init__(self, pgresult, encoding: str, adapters) -> None:
        self.pgresult, self._encoding, self.adapters = pgresult, encoding, adapters


class Description(Sequence):
    """`cursor.description`, its `Column` objects made when first read."""

    __slots__ = ("_cursor", "_result", "_columns")

    def __init__(self, cursor: psycopg.Cursor, result) -> None:
        self._cursor, self._result, self._columns = cursor, result, None

    def _built(self) -> list[psycopg.Column]:
        if self._columns is None:
            cursor, result = self._cursor, self._result
            if cursor.pgresult is result:
                self._columns = _psycopg_description(cursor) or []
            else:  # the cursor has moved on: describe the result this was taken from
                at = _ResultOf(result, cursor._encoding, cursor.adapters)
                self._columns = [psycopg.Column(at, i) for i in range(result.nfields)]
            self._cursor = None
        return self._columns

    def __len__(self) -> int:
        return self._result.nfields

    def __getitem__(self, index: Any) -> Any:
        return self._built()[index]

    def __iter__(self) -> Iterator[psycopg.Column]:
        return iter(self._built())

    def __repr__(self) -> str:
        return repr(self._built())


class Cursor(psycopg.Cursor):
    """psycopg's cursor with a description built on first read."""

    __slots__ = ()

    @property
    def description(self) -> Description | None:
        result = self.pgresult
        # psycopg's own test: columns, or a result that said it returned rows ("SELECT ;")
        if result is None or not (result.nfields or result.status in _ROWS):
            return None
        return Description(self, result)


def install(engine: sa.Engine) -> bool:
    """Give `engine`'s new psycopg connections this cursor; returns whether it applies."""
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
        return False
    sa.event.listen(engine, "connect", _connected)
    return True


def _connected(dbapi_connection, connection_record) -> None:
    dbapi_connection.cursor_factory = Cursor
