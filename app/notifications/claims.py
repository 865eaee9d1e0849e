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
3. `sent(ids)` or `failed(...)`: the outcome, the marker cleared.
A message sent is recorded together with the next message's marker, in one statement
(`sent_then_begin`): the outcome of message k still commits before anything of message k+1
leaves, and a kill still leaves at most one message open — one round trip per message, not two.
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
        # Message k sent and message k+1's marker, one statement; k+1 only if still 'sending'.
        self.sent_then_begin_sql = (
            f"UPDATE delivery SET "
            f"status = CASE WHEN id = {p} THEN 'sent' ELSE status END, "
            f"sent_at = CASE WHEN id = {p} THEN {p} ELSE sent_at END, "
            f"claim_token = CASE WHEN id = {p} THEN NULL ELSE claim_token END, "
            f"last_error = CASE WHEN id = {p} THEN NULL ELSE last_error END, "
            f"attempts = CASE WHEN id = {p} THEN attempts ELSE attempts + 1 END, "
            f"attempt_at = CASE WHEN id = {p} THEN NULL ELSE {p} END "
            f"WHERE claim_token = {p} AND (id = {p} OR (id = {p} AND status = 'sending')) "
            f"RETURNING id"
        )

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

    def sent_then_begin(self, done: int, next_id: int) -> bool:
        """`sent([done])` and `begin([next_id])` in one committed statement (one round trip).
        False: `next_id` is no longer held by this job — do not send it."""
        now = clock()
        params = (done, done, now, done, done, done, done, now, self.token, done, next_id)
        if self.pg:
            self.cursor.execute(self.sent_then_begin_sql, params, prepare=True)
        else:
            self.cursor.execute(self.sent_then_begin_sql, params)
        return any(row[0] == next_id for row in self.cursor.fetchall())

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
