"""Redis and RQ: the connection, the queue, handing outbox jobs to it, asking whether they live.

Only app.jobs (hand-over after a commit, the relay) and the worker use this module. Nothing here
touches the database: the outbox (app.outbox) is the record of work, Redis only carries it to the
workers, and a job lost in Redis is handed over again from the outbox (docs/notifications.md).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from flask import current_app
from redis import Redis
from rq import Queue, get_current_job
from rq.job import Job, JobStatus

log = logging.getLogger(__name__)

RUN = "app.jobs.run_from_outbox"  # the RQ function: claims the outbox row, runs it, deletes it
FAILURE_TTL = 30 * 24 * 3600  # failed jobs stay on the admin's failures page for 30 days


@dataclass(frozen=True)
class Handover:
    """One outbox row handed to a runner: RQ job id `<queue>-outbox-<id>-<n>` for its n-th hand-over;
    `front`: ahead of the jobs waiting in the queue (work the relay recovered or found due)."""

    outbox_id: int
    handovers: int
    path: str
    front: bool = False

    @property
    def job_id(self) -> str:
        return job_id(self.outbox_id, self.handovers)


def job_id(outbox_id: int, handovers: int) -> str:
    """The RQ job id of an outbox row's n-th hand-over, named after the app's queue so that two
    installations sharing a Redis server never mix their jobs."""
    prefix = re.sub(r"[^A-Za-z0-9_-]", "_", current_app.config["JOB_QUEUE"])
    return f"{prefix}-outbox-{outbox_id}-{handovers}"


def redis_connection() -> Redis | None:
    """The app's Redis client (created lazily, never at import), or None without REDIS_URL."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    conn = current_app.extensions.get("redis")
    if conn is None:
        conn = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
        current_app.extensions["redis"] = conn
    return conn


def queue(name: str | None = None) -> Queue:
    """The named queue; by default the app's, or inside a job the queue that job came from
    (follow-up jobs stay with the workers that serve it)."""
    if name is None:
        job = get_current_job()
        name = job.origin if job is not None else current_app.config["JOB_QUEUE"]
    return Queue(name, connection=redis_connection())


def push(items: list[Handover]) -> None:
    """Put jobs on the queue, 1,000 per Redis round trip. Raises when Redis cannot be reached
    (the caller logs it: the rows stay in the outbox and the relay hands them over later)."""
    q = queue()
    options = {
        "timeout": current_app.config["JOB_TIMEOUT"],
        "failure_ttl": FAILURE_TTL,
    }
    for start in range(0, len(items), 1000):
        part = items[start : start + 1000]
        with q.connection.pipeline() as pipe:
            q.enqueue_many(
                [
                    Queue.prepare_data(
                        RUN,
                        args=(item.outbox_id,),
                        job_id=item.job_id,
                        description=item.path,
                        at_front=item.front,
                        **options,
                    )
                    for item in part
                ],
                pipeline=pipe,
            )
            pipe.execute()


def alive(job_ids: list[str], grace: timedelta) -> set[str]:
    """The jobs among `job_ids` that RQ will still run or is running: waiting in their queue (or
    scheduled, deferred), or started less than `grace` ago (a started job claims its outbox row
    within milliseconds; one started long ago whose row is unclaimed died before it could)."""
    if not job_ids:
        return set()
    conn = redis_connection()
    out = set()
    now = datetime.now(UTC)
    for job in Job.fetch_many(job_ids, connection=conn):
        if job is None:  # gone: Redis restarted empty, or the job expired
            continue
        if _will_run(job, now, grace):
            out.add(job.id)
    return out


def _will_run(job: Job, now: datetime, grace: timedelta) -> bool:
    status = job.get_status(refresh=False)
    if status in (JobStatus.SCHEDULED, JobStatus.DEFERRED):
        return True
    if status == JobStatus.QUEUED:
        return job.get_position() is not None  # not popped by a worker that died right after
    if status == JobStatus.STARTED and job.started_at is not None:
        started = job.started_at if job.started_at.tzinfo else job.started_at.replace(tzinfo=UTC)
        return now - started < grace
    return False
