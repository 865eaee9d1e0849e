"""The outbox relay: finds deliveries no job will pick up and hands them to the workers again.

Run it periodically (`flask --app app notifications relay --loop`, or once from cron); with Redis
the workers also keep one relay job scheduled (tasks.ensure_relay_scheduled) while work is
unfinished. It
1. returns to 'queued' the rows of a dead worker: 'sending' with a claim older than the lease;
2. re-enqueues due 'queued' rows whose job was lost (Redis down at commit, a job that failed,
   a retry or quiet-hours job that never fired): due (`not_before` passed) and not handed to a
   job within `stale` seconds (`enqueued_at`);
3. enqueues the daily digests that are due.
Duplicate jobs are harmless: a job only sends rows it claims atomically.
In-process mode (no REDIS_URL) this is also how deferred (quiet hours), retried and digest
messages go out: the relay runs their jobs right here when they are due. The web processes run
such passes themselves after requests (autorelay.py), so no operator action is needed for that.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from .. import jobs
from ..extensions import db
from . import rules
from .models import Delivery
from .service import chunk_size, clock

log = logging.getLogger(__name__)
D = Delivery.__table__


def relay(
    *,
    now: datetime | None = None,
    lease_seconds: float | None = None,
    stale_seconds: float | None = None,
    limit: int = 200_000,
) -> dict[str, int]:
    """One pass. Commits its own small transactions; returns what it did."""
    from . import tasks

    now = now or clock()
    lease = timedelta(
        seconds=current_app.config.get("NOTIFY_LEASE_SECONDS", 120)
        if lease_seconds is None
        else lease_seconds
    )
    stale = timedelta(
        seconds=current_app.config.get("NOTIFY_STALE_SECONDS", 300)
        if stale_seconds is None
        else stale_seconds
    )
    released = (
        db.session.execute(
            sa.update(D)
            .where(D.c.status == rules.SENDING, D.c.claimed_at <= now - lease)
            .values(status=rules.QUEUED, claim_token=None, enqueued_at=None)
        ).rowcount
        or 0
    )
    due = sa.and_(
        D.c.status == rules.QUEUED,
        sa.or_(D.c.not_before.is_(None), D.c.not_before <= now),
        sa.or_(D.c.enqueued_at.is_(None), D.c.enqueued_at <= now - stale),
    )
    ids = list(
        db.session.scalars(sa.select(D.c.id).where(due, D.c.digest.is_(False)).order_by(D.c.id).limit(limit))
    )
    people = list(
        db.session.scalars(
            sa.select(D.c.recipient_id)
            .where(due, D.c.digest.is_(True))
            .group_by(D.c.recipient_id)
            .order_by(D.c.recipient_id)
            .limit(limit)
        )
    )
    for part in rules.chunks(ids, 5000):
        db.session.execute(sa.update(D).where(D.c.id.in_(part)).values(enqueued_at=now))
    if people:
        for part in rules.chunks(people, 5000):
            db.session.execute(
                sa.update(D)
                .where(due, D.c.digest.is_(True), D.c.recipient_id.in_(part))
                .values(enqueued_at=now)
            )
    db.session.commit()  # marks first: if enqueueing fails, the next pass after `stale` retries
    size = chunk_size()
    jobs.enqueue_many(tasks.send_deliveries, [[c] for c in rules.chunks(ids, size)])
    jobs.enqueue_many(tasks.send_digests, [[c] for c in rules.chunks(people, size)])
    result = {"released": released, "requeued": len(ids), "digests": len(people)}
    if any(result.values()):
        log.info("notifications relay: %s", result)
    return result


def pending_work() -> bool:
    """Are there unfinished email/SMS deliveries (one probe on the partial pending index)?"""
    return (
        db.session.execute(
            sa.select(D.c.id).where(D.c.status.in_((rules.QUEUED, rules.SENDING))).limit(1)
        ).first()
        is not None
    )
