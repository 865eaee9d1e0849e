"""Fan-out jobs: send one chunk of deliveries, send due digests.

Exactly-once design (a worker may be killed with -9 at any instant):
1. Claim: one UPDATE … SET status='sending', claim_token=T WHERE id IN (chunk) AND status='queued'
   (atomic on SQLite and PostgreSQL: a row is claimed by one job only; a duplicate job claims
   nothing). Committed before anything is sent.
2. Send each message, then mark *that* delivery sent in its own tiny autocommit UPDATE
   (… WHERE id=? AND claim_token=T). On PostgreSQL these status commits use
   synchronous_commit=off: visible at once, durable within ~0.6 s; only a crash of the database
   server itself (not of a worker) could forget the last fraction of a second of "sent" marks.
3. While a chunk runs, its claims are renewed (claimed_at) every lease/3 seconds. A killed
   worker's rows stay 'sending'; the relay puts them back to 'queued' once the lease expires.
The one window left is between the SMTP server's 250 reply and the status commit right after it
(a few hundred microseconds per message; no SMTP client can close it): a kill exactly there
re-sends that single message, with the *same* Message-ID (<n…-d…@…>) so that mail clients that
de-duplicate by Message-ID show it once. The kill -9 test counts every message the SMTP server
accepts, by Message-ID, and requires exactly one each.
The SMTP connection is reused for the whole chunk; an SMS goes through the gateway with the
delivery's reference as Idempotency-Key.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections import defaultdict
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from .. import jobs
from ..extensions import db
from ..models import User
from . import render, rules
from .channels import EmailBody, EmailChannel, SendError, SmsChannel, message_id
from .models import Delivery, Notification
from .service import chunk_size, clock

log = logging.getLogger(__name__)
D = Delivery.__table__


def lease_seconds() -> int:
    from flask import current_app

    return int(current_app.config.get("NOTIFY_LEASE_SECONDS", 120))


class _StatusWriter:
    """An autocommit connection for claims and per-delivery status updates (one commit each)."""

    def __init__(self):
        self.conn = db.engine.connect().execution_options(isolation_level="AUTOCOMMIT")
        self.pg = self.conn.dialect.name == "postgresql"
        if self.pg:
            self.conn.exec_driver_sql("SET synchronous_commit TO off")
        self.token = uuid.uuid4().hex
        self.last_beat = time.monotonic()
        # The per-message "sent" mark is the hot path: a fixed DB-API statement (prepared on
        # PostgreSQL), no SQL construction per message.
        self.cursor = self.conn.connection.dbapi_connection.cursor()
        mark = (
            "UPDATE delivery SET status = 'sent', sent_at = {p}, attempts = attempts + 1, claim_token = NULL, "
            "last_error = NULL WHERE id = {p} AND claim_token = {p}"
        )
        self.mark_sql = mark.format(p="%s" if self.pg else "?")

    def close(self) -> None:
        try:
            self.cursor.close()
            if self.pg:
                self.conn.exec_driver_sql("RESET synchronous_commit")
        finally:
            self.conn.close()

    def claim(self, where, now: datetime) -> list[int]:
        stmt = (
            sa.update(D)
            .where(D.c.status == rules.QUEUED, *where)
            .values(status=rules.SENDING, claimed_at=now, claim_token=self.token)
            .returning(D.c.id)
        )
        return list(self.conn.execute(stmt).scalars())

    def heartbeat(self) -> None:
        if time.monotonic() - self.last_beat >= lease_seconds() / 3:
            self.conn.execute(
                sa.update(D)
                .where(D.c.claim_token == self.token, D.c.status == rules.SENDING)
                .values(claimed_at=clock())
            )
            self.last_beat = time.monotonic()

    def sent_one(self, delivery_id: int) -> None:
        if self.pg:
            self.cursor.execute(self.mark_sql, (clock(), delivery_id, self.token), prepare=True)
        else:
            self.cursor.execute(self.mark_sql, (clock(), delivery_id, self.token))

    def sent(self, ids: list[int]) -> None:
        self.conn.execute(
            sa.update(D)
            .where(D.c.id.in_(ids), D.c.claim_token == self.token)
            .values(
                status=rules.SENT,
                sent_at=clock(),
                attempts=D.c.attempts + 1,
                claim_token=None,
                last_error=None,
            )
        )

    def failed(self, ids: list[int], attempts: int, err: SendError, scheduled: bool) -> datetime | None:
        """Record a failed attempt; returns the retry time (None = permanent failure)."""
        status, retry_at = rules.after_failure(attempts, err.transient, clock())
        self.conn.execute(
            sa.update(D)
            .where(D.c.id.in_(ids), D.c.claim_token == self.token)
            .values(
                status=status,
                attempts=D.c.attempts + 1,
                not_before=retry_at,
                claim_token=None,
                last_error=str(err)[:300],
                enqueued_at=retry_at if (retry_at and scheduled) else None,
            )
        )
        log.warning("delivery %s attempt %d failed (%s): %s", ids[:3], attempts, status, err)
        return retry_at

    def defer(self, ids: list[int], retry_at: datetime, scheduled: bool, error: str) -> None:
        """Give back claimed rows that were never tried (the mail server is unreachable)."""
        self.conn.execute(
            sa.update(D)
            .where(D.c.id.in_(ids), D.c.claim_token == self.token)
            .values(
                status=rules.QUEUED,
                claim_token=None,
                not_before=retry_at,
                last_error=error[:300],
                enqueued_at=retry_at if scheduled else None,
            )
        )


def send_deliveries(delivery_ids: list[int]) -> int:
    """Send one chunk of email/SMS deliveries (idempotent: only rows still queued are sent)."""
    now = clock()
    writer = _StatusWriter()
    retries: dict[datetime, list[int]] = defaultdict(list)
    scheduled = jobs.redis_connection() is not None
    sent = 0
    try:
        claimed = writer.claim(
            [
                D.c.id.in_(delivery_ids),
                D.c.digest.is_(False),
                sa.or_(D.c.not_before.is_(None), D.c.not_before <= now),
            ],
            now,
        )
        if not claimed:
            return 0
        rows = db.session.execute(
            sa.select(
                Delivery.id,
                Delivery.channel,
                Delivery.attempts,
                Delivery.notification_id,
                User.email,
                User.phone,
                User.locale,
                User.active,
            )
            .join(User, User.id == Delivery.recipient_id)
            .where(Delivery.id.in_(claimed))
            .order_by(Delivery.id)
        ).all()
        notes = {
            n.id: n
            for n in db.session.scalars(
                sa.select(Notification)
                .options(joinedload(Notification.school))
                .where(Notification.id.in_({r.notification_id for r in rows}))
            )
        }
        bodies: dict[tuple[int, str | None], EmailBody] = {}
        sms = SmsChannel()
        skipped: list[int] = []
        with EmailChannel() as mail:
            for row in rows:
                if row.channel == rules.EMAIL and mail.unreachable is not None:
                    skipped.append(row.id)  # the mail server is down: not tried, given back below
                    continue
                n = notes[row.notification_id]
                try:
                    if not row.active:
                        raise SendError(False, None, "account deactivated")
                    if row.channel == rules.EMAIL:
                        if not row.email:
                            raise SendError(False, None, "no email address")
                        body = bodies.get((n.id, row.locale))
                        if body is None:
                            body = bodies[(n.id, row.locale)] = EmailBody(*render.render_email(n, row.locale))
                        raw = body.for_recipient(row.email, message_id(f"n{n.id}", f"d{row.id}"))
                        mail.send(body.sender, row.email, raw)
                    else:
                        if not row.phone:
                            raise SendError(False, None, "no phone number")
                        sms.send(row.phone, render.render_sms(n), f"delivery-{row.id}")
                except Exception as err:  # noqa: BLE001 - one bad message must not stall the chunk
                    retry_at = writer.failed(
                        [row.id], row.attempts + 1, _as_send_error(err, row.id), scheduled
                    )
                    if retry_at is not None:
                        retries[retry_at].append(row.id)
                else:
                    writer.sent_one(row.id)
                    sent += 1
                writer.heartbeat()
        if skipped:
            retry_at = clock() + rules.backoff(1)
            writer.defer(skipped, retry_at, scheduled, str(mail.unreachable))
            retries[retry_at].extend(skipped)
    finally:
        writer.close()
    if scheduled:
        for at, ids in retries.items():
            jobs.enqueue_many(send_deliveries, [[c] for c in rules.chunks(ids, chunk_size())], at=at)
        ensure_relay_scheduled()
    return sent


def _as_send_error(err: Exception, delivery_id: int) -> SendError:
    """A channel error as it is, anything else (a message that cannot be rendered, a bug) as a
    transient error: recorded on the row and retried with backoff, then failed for good after
    MAX_ATTEMPTS, instead of leaving the whole chunk claimed and re-run forever by the relay."""
    if isinstance(err, SendError):
        return err
    log.exception("delivery %s: unexpected error", delivery_id)
    return SendError(True, None, f"internal error: {type(err).__name__}: {err}")


def deliveries_not_enqueued(arg_lists: list, at: datetime | None) -> None:
    """The jobs for these chunks never reached Redis: mark their rows as handed to no job."""
    ids = [i for args in arg_lists for i in args[0]]
    for part in rules.chunks(ids, 5000):
        db.session.execute(
            sa.update(D).where(D.c.id.in_(part), D.c.status == rules.QUEUED).values(enqueued_at=None)
        )


def digests_not_enqueued(arg_lists: list, at: datetime | None) -> None:
    """The digest jobs of these recipients (due at `at`) never reached Redis: same as above."""
    people = [i for args in arg_lists for i in args[0]]
    for part in rules.chunks(people, 5000):
        db.session.execute(
            sa.update(D)
            .where(
                D.c.recipient_id.in_(part),
                D.c.digest.is_(True),
                D.c.status == rules.QUEUED,
                D.c.not_before == at,
            )
            .values(enqueued_at=None)
        )


def _relay_key() -> str:
    return f"notifications-relay:{jobs.queue().name}"


def ensure_relay_scheduled() -> bool:
    """With Redis: make sure one relay job is scheduled within NOTIFY_RELAY_INTERVAL seconds
    (one SET NX per call). Workers call it after each chunk, so a worker killed mid-batch is
    cleaned up by the others even where no `notifications relay --loop` service runs."""
    from flask import current_app

    conn = jobs.redis_connection()
    if conn is None:
        return False
    interval = int(current_app.config.get("NOTIFY_RELAY_INTERVAL", 60))
    if not conn.set(_relay_key(), "1", nx=True, ex=interval + 30):
        return False
    jobs.enqueue_many(relay_job, [[]], at=clock() + timedelta(seconds=interval))
    return True


def relay_job() -> dict:
    """The periodic relay pass; schedules the next one while unfinished deliveries remain."""
    from .relay import pending_work, relay

    result = relay()
    conn = jobs.redis_connection()
    if conn is not None:
        conn.delete(_relay_key())
        if pending_work():
            ensure_relay_scheduled()
    return result


def send_digests(recipient_ids: list[int]) -> int:
    """Send each recipient one email with all their due digest deliveries (idempotent)."""
    now = clock()
    writer = _StatusWriter()
    scheduled = jobs.redis_connection() is not None
    sent = 0
    retries: dict[datetime, list[int]] = defaultdict(list)
    try:
        claimed = writer.claim(
            [D.c.recipient_id.in_(recipient_ids), D.c.digest.is_(True), D.c.not_before <= now], now
        )
        if not claimed:
            return 0
        rows = db.session.scalars(
            sa.select(Delivery)
            .options(
                joinedload(Delivery.notification).joinedload(Notification.school),
                joinedload(Delivery.recipient),
            )
            .where(Delivery.id.in_(claimed))
            .order_by(Delivery.recipient_id, Delivery.id)
        ).all()
        per_person: dict[int, list[Delivery]] = defaultdict(list)
        for d in rows:
            per_person[d.recipient_id].append(d)
        with EmailChannel() as mail:
            for deliveries in per_person.values():
                user = deliveries[0].recipient
                ids = [d.id for d in deliveries]
                try:
                    if not user.active or not user.email:
                        raise SendError(False, None, "no email address")
                    body = EmailBody(*render.render_digest([d.notification for d in deliveries], user.locale))
                    mail.send(
                        body.sender,
                        user.email,
                        body.for_recipient(user.email, message_id("digest", f"d{ids[0]}")),
                    )
                except Exception as err:  # noqa: BLE001 - one bad digest must not stall the others
                    retry_at = writer.failed(
                        ids, max(d.attempts for d in deliveries) + 1, _as_send_error(err, ids[0]), scheduled
                    )
                    if retry_at is not None:
                        retries[retry_at].append(user.id)
                else:
                    writer.sent(ids)
                    sent += 1
                writer.heartbeat()
    finally:
        writer.close()
    if scheduled:
        for at, people in retries.items():
            jobs.enqueue_many(send_digests, [[c] for c in rules.chunks(people, chunk_size())], at=at)
    return sent
