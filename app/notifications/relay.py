"""The notification relay pass: hands over the deliveries no job will send.

One pass (`relay()`, registered with app.jobs.register_relay, so every worker runs it every
JOB_RELAY_INTERVAL seconds, and so do `flask --app app notifications relay [--loop]` and the web
processes after requests):
1. takes over the rows of a stopped sending job: 'sending' with a claim older than the lease
   (NOTIFY_LEASE_SECONDS) go back to 'queued' (claims.take_over_lapsed counts them for the
   sender's report);
2. hands over due 'queued' rows no job holds: due (`not_before` passed: quiet hours over, a retry
   due) and not handed to a job within NOTIFY_STALE_SECONDS (`enqueued_at`);
3. hands over the daily summaries that are due.
The hand-over is a set of send jobs in the platform outbox, committed with the rows' marks: they
reach the workers at once, or when Redis is back. Duplicate jobs are harmless: a job only sends
rows it claims atomically. Without REDIS_URL the jobs run right here, in this process.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from .. import jobs
from ..extensions import db
from . import rules, settings
from .claims import take_over_lapsed
from .fanout import SEND, SEND_DIGESTS
from .models import Delivery

log = logging.getLogger(__name__)
D = Delivery.__table__


def relay(
    *,
    now: datetime | None = None,
    lease_seconds: float | None = None,
    stale_seconds: float | None = None,
    limit: int = 200_000,
) -> dict[str, int]:
    """One pass (its own transaction, committed with the jobs it hands over); returns what it did."""
    now = now or settings.clock()
    lease = settings.lease_seconds() if lease_seconds is None else lease_seconds
    stale = timedelta(seconds=settings.stale_seconds() if stale_seconds is None else stale_seconds)
    released = take_over_lapsed(now, lease)
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
    for part in rules.chunks(people, 5000):
        db.session.execute(
            sa.update(D).where(due, D.c.digest.is_(True), D.c.recipient_id.in_(part)).values(enqueued_at=now)
        )
    size = settings.chunk_size()
    # Ahead of the queue: these have waited already (a stopped sender's, due after quiet hours,
    # a retry), and must not wait behind a backlog of new sends.
    jobs.enqueue_many_after_commit(SEND, [[c] for c in rules.chunks(ids, size)], front=True)
    jobs.enqueue_many_after_commit(SEND_DIGESTS, [[c] for c in rules.chunks(people, size)], front=True)
    jobs.commit()
    result = {"released": released, "requeued": len(ids), "digests": len(people)}
    if any(result.values()):
        log.info("notifications relay: %s", result)
    return result
