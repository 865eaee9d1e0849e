"""PostgreSQL: a transaction begins at the first statement that needs one.

psycopg opens a transaction (a BEGIN round trip) before the first statement on a connection, so a
page that only reads cost three round trips for one SELECT: BEGIN, the SELECT, and the ROLLBACK
when the request's session closed; that ROLLBACK also made psycopg forget which statements it had
seen, so the statement every logged-in page runs (the session's) was never prepared.

Here the app's pooled connections wait in psycopg's autocommit mode, and leave it (psycopg then
sends its BEGIN as before) at the first statement that is not a plain read: any write, a locking
read (`FOR UPDATE`/`FOR SHARE`), a read that changes state (`nextval`, advisory locks,
`set_config`), a server-side cursor, `SET`, anything that is not a SELECT. From there on the
connection is in one transaction, committed or rolled back as before (psycopg's commit() and
rollback() send COMMIT and ROLLBACK only when the server has a transaction open). A request that
only read sends neither BEGIN nor ROLLBACK: its statements alone.

Why the reads before the first write may run outside the transaction: at READ COMMITTED
(PostgreSQL's default, the app's) each statement takes its own snapshot inside a transaction too,
and a plain SELECT holds no lock beyond its own execution; so a read answers the same either way.
What differs: `now()` in those reads is the statement's time, not the transaction's.

Connections that asked for an isolation level of their own (`execution_options(isolation_level=
…)`, e.g. an autocommit connection for claims) are left alone: SQLAlchemy sets and resets it.
SQLite is unchanged (its driver already begins before the first write only).
"""

from __future__ import annotations

import functools
import re

import psycopg
import sqlalchemy as sa

# What may run outside a transaction: a SELECT that neither locks nor changes anything.
_PLAIN_SELECT = re.compile(r"\s*SELECT\b", re.IGNORECASE)
_NOT_PLAIN = re.compile(
    r"\bFOR\s+(?:NO\s+KEY\s+)?UPDATE\b|\bFOR\s+(?:KEY\s+)?SHARE\b"
    r"|\b(?:nextval|setval|set_config|pg_advisory\w*|pg_notify|pg_terminate_backend|pg_cancel_backend)\s*\(",
    re.IGNORECASE,
)
_IDLE = psycopg.pq.TransactionStatus.IDLE


@functools.lru_cache(maxsize=4096)  # the statements are few and their strings come from caches
def reads_only(statement: str) -> bool:
    """Whether `statement` may run outside a transaction: a plain SELECT."""
    return bool(_PLAIN_SELECT.match(statement)) and not _NOT_PLAIN.search(statement)


def install(engine: sa.Engine) -> bool:
    """Begin lazily on `engine`'s connections (psycopg only); returns whether it applies."""
    if engine.dialect.name != "postgresql" or engine.dialect.driver != "psycopg":
        return False
    sa.event.listen(engine, "checkout", _checked_out)
    sa.event.listen(engine, "before_cursor_execute", _before_statement)
    return True


def _checked_out(dbapi_connection, connection_record, connection_proxy) -> None:
    # Outside a transaction (the pool rolled back what was left): wait in autocommit mode. A
    # connection whose isolation level SQLAlchemy had changed was reset at check-in, which also
    # takes it out of autocommit mode: it comes back here.
    if not dbapi_connection.autocommit and dbapi_connection.info.transaction_status == _IDLE:
        dbapi_connection.autocommit = True


def _before_statement(conn, cursor, statement, parameters, context, executemany) -> None:
    dbapi_connection = cursor.connection
    if not dbapi_connection.autocommit:
        return  # in a transaction already (psycopg began it), or an isolation level of its own
    if conn.get_execution_options().get("isolation_level") is not None:
        return  # the code asked for autocommit (or another level) itself
    if reads_only(statement) and not isinstance(cursor, psycopg.ServerCursor):
        return
    # psycopg sends BEGIN before this statement; the transaction lasts until COMMIT or ROLLBACK,
    # and the connection waits in autocommit mode again after its next check-out.
    dbapi_connection.autocommit = False
