"""A sending job's hold on its deliveries: the claim, the attempt marker, the outcome.

Every write here goes through one autocommit connection of the job's own, so each is committed
(visible to the relay and to a job that takes over) before the next step; on PostgreSQL with
synchronous_commit=off: a killed worker loses nothing it wrote, only a crash of the database
server itself could forget its last fraction of a second of marks.

Per message, strictly in this order (docs/notifications.md, "What is guaranteed"):
1. `begin(ids)`: attempts + 1 and the attempt marker `attempt_at` — refused (nothing is sent)
   when the claim is no longer this job's;
2. the channel sends the message (the whole SMTP exchange, up to the server's reply to the end
   of its data) — nothing of the next message is written before step 3;
3. `sent(ids)` or `failed(...)`: the outcome, the marker cleared. A success is recorded in the
   same statement as the next message's step 1 (`sent_and_begin`, PostgreSQL) or by itself
   after the last message.
A job killed between 1 and 3 leaves the row 'sending' with its marker set: the relay takes it
over when the lease lapses and counts the open attempt in `lost_attempts`.
"""

from __future__ import annotations

import logging
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa

from ..extensions import db
from ..leases import Heartbeat
from . import rules
from .channels import SendError
from .models import Delivery
from .settings import clock, clock_function, lease_seconds

log = logging.getLogger(__name__)
D = Delivery.__table__


class Claims:
    """`with Claims() as claims:` an autocommit connection and a claim token; `claims.hold()`
    keeps the claim alive (a heartbeat thread renews `claimed_at` every lease/3 seconds)."""

    def __init__(self):
        self.conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.pg = self.conn.dialect.name == "postgresql"
        if self.pg:
            self.conn.exec_driver_sql("SET synchronous_commit TO off")
        self.token = uuid.uuid4().hex
        self.lease = lease_seconds()
        # The per-message statements are the hot path: fixed DB-API statements (prepared on
        # PostgreSQL), no SQL construction per message.
        self.cursor = self.conn.connection.dbapi_connection.cursor()
        p = "%s" if self.pg else "?"
        self.begin_sql = (
            f"UPDATE delivery SET attempts = attempts + 1, attempt_at = {p} "
            f"WHERE id = {p} AND claim_token = {p} AND status = 'sending'"
        )
        self.sent_sql = (
            f"UPDATE delivery SET status = 'sent', sent_at = {p}, claim_token = NULL, attempt_at = NULL, "
            f"last_error = NULL WHERE id = {p} AND claim_token = {p}"
        )
        # PostgreSQL: the outcome of one message and the attempt marker of the next in one
        # statement (one round trip and one commit per message instead of two); both rows still
        # carry their own claim check, and the marker still precedes the next message's sending.
        self.sent_begin_sql = f"WITH done AS ({self.sent_sql}) {self.begin_sql}" if self.pg else None

    def __enter__(self) -> Claims:
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.cursor.close()
            if self.pg:
                self.conn.exec_driver_sql("RESET synchronous_commit")
        finally:
            self.conn.close()

    def _run(self, sql: str, params: tuple) -> int:
        if self.pg:
            self.cursor.execute(sql, params, prepare=True)
        else:
            self.cursor.execute(sql, params)
        return self.cursor.rowcount

    def claim(self, where, now: datetime) -> list[int]:
        """Take the queued rows matching `where` (atomic: a row is claimed by one job only)."""
        stmt = (
            sa.update(D)
            .where(D.c.status == rules.QUEUED, *where)
            .values(status=rules.SENDING, claimed_at=now, claim_token=self.token)
            .returning(D.c.id)
        )
        return list(self.conn.execute(stmt).scalars())

    def hold(self) -> Heartbeat:
        token, now = self.token, clock_function()

        def renew(conn: sa.Connection) -> None:
            conn.execute(
                sa.update(D)
                .where(D.c.claim_token == token, D.c.status == rules.SENDING)
                .values(claimed_at=now())
            )

        return Heartbeat(db.engine, renew, self.lease / 3, f"deliveries-{token[:8]}")

    def begin(self, ids: list[int]) -> bool:
        """The attempt marker, committed before the message leaves. False: the claim was taken
        over (this job was too slow to renew it) — do not send, the new holder will."""
        now = clock()
        if len(ids) == 1:
            return self._run(self.begin_sql, (now, ids[0], self.token)) == 1
        result = self.conn.execute(
            sa.update(D)
            .where(D.c.id.in_(ids), D.c.claim_token == self.token, D.c.status == rules.SENDING)
            .values(attempts=D.c.attempts + 1, attempt_at=now)
        )
        return result.rowcount == len(ids)

    def sent_and_begin(self, done: int | None, next_id: int) -> bool:
        """`sent([done])` (when `done` is given) then `begin([next_id])`: one statement on
        PostgreSQL, so that a message's outcome and the next one's marker are committed together
        before the next message leaves."""
        if done is None:
            return self.begin([next_id])
        if self.sent_begin_sql is None:
            self.sent([done])
            return self.begin([next_id])
        now = clock()
        return self._run(self.sent_begin_sql, (now, done, self.token, now, next_id, self.token)) == 1

    def sent(self, ids: list[int]) -> None:
        now = clock()
        if len(ids) == 1:
            self._run(self.sent_sql, (now, ids[0], self.token))
            return
        self.conn.execute(
            sa.update(D)
            .where(D.c.id.in_(ids), D.c.claim_token == self.token)
            .values(status=rules.SENT, sent_at=now, claim_token=None, attempt_at=None, last_error=None)
        )

    def failed(self, ids: list[int], attempt: int, err: SendError) -> datetime | None:
        """Record a failed attempt (number `attempt`); returns the retry time (None = for good).
        A row to retry waits in the table: the relay hands it over when it is due."""
        status, retry_at = rules.after_failure(attempt, err.transient, clock())
        self.conn.execute(
            sa.update(D)
            .where(D.c.id.in_(ids), D.c.claim_token == self.token)
            .values(
                status=status,
                not_before=retry_at,
                claim_token=None,
                attempt_at=None,
                last_error=str(err)[:300],
                enqueued_at=None,
            )
        )
        log.warning("delivery %s attempt %d failed (%s): %s", ids[:3], attempt, status, err)
        return retry_at

    def give_back(self, ids: list[int], retry_at: datetime, error: str) -> None:
        """Give back claimed rows that were never tried (the mail server is unreachable)."""
        self.conn.execute(
            sa.update(D)
            .where(D.c.id.in_(ids), D.c.claim_token == self.token)
            .values(
                status=rules.QUEUED,
                claim_token=None,
                not_before=retry_at,
                last_error=error[:300],
                enqueued_at=None,
            )
        )


def take_over_lapsed(now: datetime, lease: float) -> int:
    """Return to 'queued' the rows of a sending job whose claim lapsed (a worker killed), in the
    session's transaction: counted in `takeovers`, and an attempt left open (its marker still
    set: the message may have reached the server) in `lost_attempts`."""
    return (
        db.session.execute(
            sa.update(D)
            .where(D.c.status == rules.SENDING, D.c.claimed_at <= now - timedelta(seconds=lease))
            .values(
                status=rules.QUEUED,
                claim_token=None,
                enqueued_at=None,
                takeovers=D.c.takeovers + 1,
                lost_attempts=D.c.lost_attempts + sa.case((D.c.attempt_at.is_not(None), 1), else_=0),
                attempt_at=None,
            )
        ).rowcount
        or 0
    )
