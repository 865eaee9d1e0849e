"""Send jobs: one chunk of email/SMS deliveries, or the due daily summaries of some recipients.

They run from the platform outbox (app.jobs), so at least once; what makes that safe is the claim
(claims.py): a job sends only the rows it claimed atomically from 'queued', so a duplicate job, a
retried one or one handed over after a Redis outage claims nothing twice.

What is guaranteed (the kill test in tests/integration/test_notifications_kill.py proves it, with
ten kill -9 of a worker's process group in one 600-family send):
- nothing is lost: a killed job's claim lapses after NOTIFY_LEASE_SECONDS and the relay hands
  its rows to another job;
- in-app deliveries are exactly once (the row written in the sender's transaction is the message);
- email and SMS: at most once, except for the one message that was being handed to the server
  when the job was killed. That message was marked (claims.Claims.begin) before it left, so it
  is sent again — with the same Message-ID (`<n…-d…@…>`), or the same Idempotency-Key for SMS —
  and counted on the sender's report as possibly sent twice. The next message is never started
  before the previous one's outcome is committed, so a kill leaves at most one such message.
  No SMTP client can close that window (the server may have accepted a message whose reply
  never arrived); this one makes it one message wide and says so.
The SMTP connection is reused for the whole chunk.
"""

from __future__ import annotations

import logging

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from ..extensions import db
from ..models import User
from . import render, rules
from .channels import EmailBody, EmailChannel, SendError, SmsChannel, message_id
from .claims import Claims
from .models import Delivery, Notification
from .push import PushChannel, digest_payload, payload, subscriptions_by_user, topic
from .settings import clock

log = logging.getLogger(__name__)
D = Delivery.__table__


def send_deliveries(delivery_ids: list[int]) -> int:
    """Send one chunk of email/SMS deliveries (idempotent: only rows still queued are sent)."""
    now = clock()
    sent = 0
    with Claims() as claims:
        claimed = claims.claim(
            [
                D.c.id.in_(delivery_ids),
                D.c.digest.is_(False),
                sa.or_(D.c.not_before.is_(None), D.c.not_before <= now),
            ],
            now,
        )
        if not claimed:
            return 0
        with claims.hold():
            rows = db.session.execute(
                sa.select(
                    Delivery.id,
                    Delivery.channel,
                    Delivery.attempts,
                    Delivery.notification_id,
                    Delivery.recipient_id,
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
            bodies: dict[tuple, EmailBody | bytes] = {}  # per notification and language
            sms = SmsChannel()
            devices = subscriptions_by_user(r.recipient_id for r in rows if r.channel == rules.PUSH)
            skipped: list[int] = []
            done = None  # the last message sent, its outcome recorded with the next one's marker
            with EmailChannel() as mail, PushChannel(claims.conn) as push:
                try:
                    for row in rows:
                        if row.channel == rules.EMAIL and mail.unreachable is not None:
                            skipped.append(row.id)  # the mail server is down: not tried, given back below
                            continue
                        held = (
                            claims.begin([row.id]) if done is None else claims.sent_then_begin(done, row.id)
                        )
                        done = None
                        if not held:
                            log.warning("delivery %s: claim taken over, left to its new holder", row.id)
                            continue
                        try:
                            if row.channel == rules.PUSH:
                                _send_push(row, notes[row.notification_id], bodies, devices, push)
                            else:
                                _send_one(row, notes[row.notification_id], bodies, mail, sms)
                        except Exception as err:  # noqa: BLE001 - one bad message must not stall the chunk
                            claims.failed([row.id], row.attempts + 1, _as_send_error(err, row.id))
                        else:
                            done = row.id
                            sent += 1
                finally:
                    if done is not None:
                        claims.sent([done])
            if skipped:
                claims.give_back(skipped, clock() + rules.backoff(1), str(mail.unreachable))
    return sent


def _send_one(row, n: Notification, bodies: dict, mail: EmailChannel, sms: SmsChannel) -> None:
    if not row.active:
        raise SendError(False, None, "account deactivated")
    if row.channel == rules.EMAIL:
        if not row.email:
            raise SendError(False, None, "no email address")
        body = bodies.get((n.id, row.locale))
        if body is None:
            body = bodies[(n.id, row.locale)] = EmailBody(*render.render_email(n, row.locale))
        mail.send(body.sender, row.email, body.for_recipient(row.email, message_id(f"n{n.id}", f"d{row.id}")))
    else:
        if not row.phone:
            raise SendError(False, None, "no phone number")
        sms.send(row.phone, render.render_sms(n), f"delivery-{row.id}")


def _send_push(row, n: Notification, bodies: dict, devices: dict, push: PushChannel) -> None:
    if not row.active:
        raise SendError(False, None, "account deactivated")
    data = bodies.get(("push", n.id, row.locale))
    if data is None:  # the same words for every recipient of a notification in a language
        data = bodies[("push", n.id, row.locale)] = payload(n, row.locale)
    push.send(devices.get(row.recipient_id, []), data, topic(n), n.urgent)


def _as_send_error(err: Exception, delivery_id: int) -> SendError:
    """A channel error as it is, anything else (a message that cannot be rendered, a bug) as a
    transient error: recorded on the row and retried with backoff, then failed for good after
    MAX_ATTEMPTS, instead of leaving the whole chunk claimed and re-run forever by the relay."""
    if isinstance(err, SendError):
        return err
    log.exception("delivery %s: unexpected error", delivery_id)
    return SendError(True, None, f"internal error: {type(err).__name__}: {err}")


def send_digests(recipient_ids: list[int]) -> int:
    """Send each recipient one email with all their due digest deliveries (idempotent)."""
    now = clock()
    sent = 0
    with Claims() as claims:
        claimed = claims.claim(
            [D.c.recipient_id.in_(recipient_ids), D.c.digest.is_(True), D.c.not_before <= now], now
        )
        if not claimed:
            return 0
        with claims.hold():
            rows = db.session.scalars(
                sa.select(Delivery)
                .options(
                    joinedload(Delivery.notification).joinedload(Notification.school),
                    joinedload(Delivery.recipient),
                )
                .where(Delivery.id.in_(claimed))
                .order_by(Delivery.recipient_id, Delivery.id)
            ).all()
            per_person: dict[tuple[int, str], list[Delivery]] = {}
            for d in rows:
                per_person.setdefault((d.recipient_id, d.channel), []).append(d)
            devices = subscriptions_by_user(uid for uid, channel in per_person if channel == rules.PUSH)
            with EmailChannel() as mail, PushChannel(claims.conn) as push:
                for (uid, channel), deliveries in per_person.items():
                    user = deliveries[0].recipient
                    ids = [d.id for d in deliveries]
                    if not claims.begin(ids):
                        log.warning("digest %s: claim taken over, left to its new holder", ids[:3])
                        continue
                    try:
                        notes = [d.notification for d in deliveries]
                        if not user.active:
                            raise SendError(False, None, "account deactivated")
                        if channel == rules.PUSH:
                            push.send(
                                devices.get(uid, []),
                                digest_payload(notes, user.locale),
                                f"digest{uid}",
                                False,
                            )
                        else:
                            if not user.email:
                                raise SendError(False, None, "no email address")
                            body = EmailBody(*render.render_digest(notes, user.locale))
                            mail.send(
                                body.sender,
                                user.email,
                                body.for_recipient(user.email, message_id("digest", f"d{ids[0]}")),
                            )
                    except Exception as err:  # noqa: BLE001 - one bad digest must not stall the others
                        attempt = max(d.attempts for d in deliveries) + 1
                        claims.failed(ids, attempt, _as_send_error(err, ids[0]))
                    else:
                        claims.sent(ids)
                        sent += 1
    return sent
