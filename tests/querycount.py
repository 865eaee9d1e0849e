"""Count SQL statements, to prove list pages run a bounded number of queries (no N+1)."""

from __future__ import annotations

import contextlib

import sqlalchemy as sa

from app.extensions import db


class _Counter:
    def __init__(self):
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def __call__(self, conn, cursor, statement, parameters, context, executemany):
        self.statements.append(statement)


@contextlib.contextmanager
def count_queries(app):
    """Count statements on the app's engine while the block runs (all sessions, all threads)."""

    with app.app_context():
        engine = db.engine
    counter = _Counter()
    sa.event.listen(engine, "before_cursor_execute", counter)
    try:
        yield counter
    finally:
        sa.event.remove(engine, "before_cursor_execute", counter)
