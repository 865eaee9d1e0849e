"""The platform outbox: every job that must run after a commit is a row written in that commit.

A row is the job (`path`, `args`, `kwargs`) and its delivery state:

- written by `app.jobs.enqueue_after_commit` / `enqueue_many_after_commit` in the caller's
  transaction (nothing exists if it rolls back); due at once, or at `not_before`;
- handed over (`handed_at`, `handovers`) after the commit to RQ (job `<queue>-outbox-<id>-<n>`), or to
  this process without REDIS_URL;
- claimed by the runner that starts it (`claim_token`, `claimed_until`: a lease a heartbeat
  thread renews while the job runs) — a second hand-over of a claimed or finished row is a no-op;
- deleted in the job's own transaction when it succeeds, so the job's writes and the end of the
  row commit together; after a failure it is due again after a backoff (`attempts`,
  `last_error`), and after MAX_ATTEMPTS it stays with `failed_at` for the admin's failures page.

The relay (app.jobs.relay) hands over again what no runner will finish: due rows never handed, rows
whose lease lapsed (a runner killed), rows handed to RQ whose job is gone (Redis restarted empty,
or down when the commit tried to hand them over). See docs/notifications.md.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Mapped, mapped_column

from .extensions import db
from .models import utcnow
from .queues import Handover

MAX_ATTEMPTS = 4  # a first run and three retries
BACKOFF = (10, 60, 300)  # seconds before retry 1, 2, 3


class OutboxJob(db.Model):
    """One job to run after its transaction committed (see the module docstring)."""

    __tablename__ = "job_outbox"
    __table_args__ = {"sqlite_autoincrement": True}  # ids are never reused: they name RQ jobs
    id: Mapped[int] = mapped_column(primary_key=True)
    path: Mapped[str] = mapped_column(sa.String(200))
    args: Mapped[list] = mapped_column(sa.JSON)
    kwargs: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    not_before: Mapped[datetime | None] = mapped_column(index=True)
    handed_at: Mapped[datetime | None]
    handovers: Mapped[int] = mapped_column(default=0)
    claim_token: Mapped[str | None] = mapped_column(sa.String(32))
    claimed_until: Mapped[datetime | None]
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.String(300))
    failed_at: Mapped[datetime | None]


T = OutboxJob.__table__


def setting(name: str) -> float:
    return float(current_app.config[name])


def add(
    path: str, calls: list[tuple[list, dict]], at: datetime | None, front: bool = False
) -> list[Handover]:
    """Write one row per call in the session's transaction (one INSERT … RETURNING). Rows due now
    are marked as handed over: the caller hands them over right after the commit (and if that
    fails, the relay finds their RQ job missing and hands them over again)."""
    now = utcnow()
    due_now = at is None or at <= now
    rows = [
        {
            "path": path,
            "args": args,
            "kwargs": kwargs,
            "created_at": now,
            "not_before": None if due_now else at,
            "handed_at": now if due_now else None,
            "handovers": 1 if due_now else 0,
            "attempts": 0,
        }
        for args, kwargs in calls
    ]
    ids = db.session.execute(sa.insert(T).returning(T.c.id, sort_by_parameter_order=True), rows).scalars()
    return [Handover(i, 1, path, front) for i in ids] if due_now else []


def claim(outbox_id: int, lease: float) -> tuple[str, str, list, dict, int] | None:
    """Claim a due row for this runner, on a connection of its own (committed at once): returns
    (token, path, args, kwargs, attempt), or None when the row is finished, given up, not yet due
    or held by a live runner (a duplicate hand-over: nothing to do)."""
    now = utcnow()
    token = uuid.uuid4().hex
    params = {"oid": outbox_id, "now": now, "token": token, "until": now + timedelta(seconds=lease)}
    with db.engine.begin() as conn:
        row = conn.execute(_CLAIM, params).first()
    return None if row is None else (token, row.path, row.args or [], row.kwargs or {}, row.attempts)


# Built once (a job's claim and its end are two of the few statements an in-process job runs
# after the request's commit; building and keying them cost more than running them).
_CLAIM = (
    sa.update(T)
    .where(
        T.c.id == sa.bindparam("oid"),
        T.c.failed_at.is_(None),
        sa.or_(T.c.not_before.is_(None), T.c.not_before <= sa.bindparam("now")),
        sa.or_(T.c.claimed_until.is_(None), T.c.claimed_until < sa.bindparam("now")),
    )
    .values(claim_token=sa.bindparam("token"), claimed_until=sa.bindparam("until"), attempts=T.c.attempts + 1)
    .returning(T.c.path, T.c.args, T.c.kwargs, T.c.attempts)
)
_FINISH = sa.delete(T).where(T.c.id == sa.bindparam("oid"), T.c.claim_token == sa.bindparam("token"))


def renewer(token: str, lease: float):
    """The heartbeat's renewal of this claim (app.leases.Heartbeat)."""

    def renew(conn: sa.Connection) -> None:
        conn.execute(
            sa.update(T)
            .where(T.c.claim_token == token)
            .values(claimed_until=utcnow() + timedelta(seconds=lease))
        )

    return renew


def finish(outbox_id: int, token: str) -> bool:
    """Delete the row in the job's own transaction (committed with the job's writes). False when
    the claim is no longer this runner's (its lease lapsed and the row was handed over again):
    the caller then rolls its work back and leaves the job to the new runner."""
    return db.session.execute(_FINISH, {"oid": outbox_id, "token": token}).rowcount == 1


def give_back(outbox_id: int, token: str, attempt: int, error: BaseException) -> None:
    """After a failed run (own connection): due again after a backoff, or given up."""
    now = utcnow()
    values: dict = {
        "claim_token": None,
        "claimed_until": None,
        "last_error": f"{type(error).__name__}: {error}"[:300],
    }
    if attempt >= MAX_ATTEMPTS:
        values["failed_at"] = now
    else:
        values.update(not_before=now + timedelta(seconds=BACKOFF[attempt - 1]), handed_at=None)
    with db.engine.begin() as conn:
        conn.execute(sa.update(T).where(T.c.id == outbox_id, T.c.claim_token == token).values(**values))


def due(now: datetime, grace: timedelta, limit: int) -> list[sa.Row]:
    """Rows no runner holds that are due and were not handed over within `grace`:
    (id, handovers, handed, claimed) — `handed`: handed over and never claimed since."""
    q = (
        sa.select(
            T.c.id,
            T.c.handovers,
            (T.c.handed_at.is_not(None) & T.c.claimed_until.is_(None)).label("handed"),
        )
        .where(
            T.c.failed_at.is_(None),
            sa.or_(T.c.not_before.is_(None), T.c.not_before <= now),
            sa.or_(T.c.claimed_until.is_(None), T.c.claimed_until < now),
            sa.or_(T.c.handed_at.is_(None), T.c.handed_at <= now - grace),
        )
        .order_by(T.c.id)
        .limit(limit)
    )
    return list(db.session.execute(q))


def mark_handed(ids: list[int], now: datetime, grace: timedelta) -> list[Handover]:
    """Record a new hand-over of these rows (those still due: another relay may have been
    quicker) in the session's transaction; returns them for after the commit, to go ahead of
    the queue (they have waited already: a killed runner's job, one lost in Redis, a retry)."""
    out: list[Handover] = []
    for start in range(0, len(ids), 1000):
        stmt = (
            sa.update(T)
            .where(
                T.c.id.in_(ids[start : start + 1000]),
                T.c.failed_at.is_(None),
                sa.or_(T.c.claimed_until.is_(None), T.c.claimed_until < now),
                sa.or_(T.c.handed_at.is_(None), T.c.handed_at <= now - grace),
            )
            .values(handed_at=now, handovers=T.c.handovers + 1, claim_token=None, claimed_until=None)
            .returning(T.c.id, T.c.handovers, T.c.path)
        )
        out.extend(Handover(i, n, path, front=True) for i, n, path in db.session.execute(stmt))
    return sorted(out, key=lambda h: h.outbox_id)


def failed(limit: int = 50) -> list[OutboxJob]:
    """Jobs given up after MAX_ATTEMPTS, newest first (the admin's failures page)."""
    return list(
        db.session.scalars(
            sa.select(OutboxJob)
            .where(OutboxJob.failed_at.is_not(None))
            .order_by(OutboxJob.id.desc())
            .limit(limit)
        )
    )
