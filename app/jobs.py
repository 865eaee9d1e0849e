"""Background jobs behind one small module.

- `enqueue_after_commit(fn, *ids)` queues work for after the current transaction commits;
  `commit()` is the one commit call of a request/command/job boundary and then dispatches them.
- Without `REDIS_URL` a job runs in-process right after the commit, in its own app context and
  transaction. With it, the job goes to an RQ queue and `flask --app app worker` runs it.
- Jobs are module-level functions taking ids; `run_job` gives each its own transaction.
- Batches: `enqueue_many(fn, arg_lists, at=None)` sends many jobs in one Redis pipeline (or
  schedules them for `at`); `enqueue_many_after_commit(..., recoverable=True)` is the outbox form:
  if Redis is unreachable after the commit the error is logged, not raised, because the caller
  keeps its own record of pending work and a relay re-enqueues it (app.notifications.relay);
  `on_failure=fn` then runs `fn(arg_lists, at)` in its own transaction, so that the caller can
  mark that work as not handed over (found by its relay at once instead of after a timeout).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from .extensions import db

log = logging.getLogger(__name__)

_PENDING = "pending_jobs"
_WROTE = "transaction_wrote"  # this transaction flushed or executed a write
_KEEP = "keep_writes"  # the view answers an error status but keeps its writes on purpose


@sa.event.listens_for(Session, "after_flush")
def _flushed(session, flush_context) -> None:
    # Rows that record the request itself (an audit entry for a page shown, a login session's
    # last-seen time) belong to any answer; only other writes count.
    for obj in (*session.new, *session.dirty, *session.deleted):
        if not getattr(obj, "kept_with_any_answer", False):
            session.info[_WROTE] = True
            return


@sa.event.listens_for(Session, "do_orm_execute")
def _executed(state) -> None:
    if state.is_insert or state.is_update or state.is_delete:
        state.session.info[_WROTE] = True


def job_path(fn: Callable | str) -> str:
    if isinstance(fn, str):
        return fn
    if "<" in fn.__qualname__:
        raise ValueError("jobs must be module-level functions")
    return f"{fn.__module__}:{fn.__qualname__}"


def resolve(path: str) -> Callable:
    module, _, name = path.partition(":")
    return getattr(importlib.import_module(module), name)


def enqueue_after_commit(fn: Callable | str, *args, **kwargs) -> None:
    """Run `fn(*args, **kwargs)` once the current transaction has committed (never before)."""
    db.session.info.setdefault(_PENDING, []).append((job_path(fn), args, kwargs))


@dataclass
class _Batch:
    path: str
    arg_lists: list
    at: datetime | None
    recoverable: bool
    on_failure: str | None = None


def enqueue_many_after_commit(
    fn: Callable | str,
    arg_lists: Iterable,
    *,
    at: datetime | None = None,
    recoverable: bool = False,
    on_failure: Callable | str | None = None,
) -> None:
    """Queue `fn(*args)` for each args in `arg_lists`, sent in one batch after the commit.

    `recoverable=True`: the caller's own outbox rows make the work findable again, so a Redis
    failure after the commit is logged instead of failing the request (nothing is lost).
    `on_failure`: a module-level `fn(arg_lists, at)` run (own transaction) when that happens.
    """
    batch = _Batch(
        job_path(fn),
        [list(a) for a in arg_lists],
        at,
        recoverable,
        job_path(on_failure) if on_failure else None,
    )
    if batch.arg_lists:
        db.session.info.setdefault(_PENDING, []).append(batch)


def mark_written() -> None:
    """Count something outside the database that belongs to this transaction (a stored file
    removed again on rollback) as a write, for the error-status check of commit_request."""
    db.session.info[_WROTE] = True


def keep_writes() -> None:
    """Say that this request keeps what it wrote although it answers an error status (4xx): a
    refusal that must be recorded, such as a wrong admission code counting towards the lockout.
    Without it, tests fail a view that answers an error status after writing (commit_request)."""
    db.session.info[_KEEP] = True


def commit_request(status: int) -> None:
    """The request boundary (app.App.dispatch_request): the view returned normally, so commit.

    A 4xx/5xx answer with writes is almost always a view that meant to refuse but relied on the
    status to roll back; under TESTING (or TRANSACTION_CHECKS) that fails loudly instead, unless
    the view called keep_writes()."""
    if not db.session.registry.has():  # the request never opened a session: nothing to do
        return
    info = db.session.info
    checked = current_app.config.get("TRANSACTION_CHECKS", current_app.testing)
    if checked and status >= 400 and info.get(_WROTE) and not info.get(_KEEP):
        rollback()
        raise AssertionError(
            f"{status} answered after writing: raise to roll back, or call app.jobs.keep_writes()"
        )
    commit()


def commit() -> None:
    """Commit the transaction of this boundary, then hand its queued jobs over."""
    db.session.commit()
    db.session.info.pop(_WROTE, None)
    db.session.info.pop(_KEEP, None)
    pending = db.session.info.pop(_PENDING, [])
    for item in pending:
        if isinstance(item, _Batch):
            try:
                enqueue_many(item.path, item.arg_lists, at=item.at)
            except Exception:
                if not item.recoverable or redis_connection() is None:
                    raise
                log.exception(
                    "could not enqueue %d %s jobs after commit; the relay will retry",
                    len(item.arg_lists),
                    item.path,
                )
                if item.on_failure:
                    _run_failure_hook(item)
            continue
        path, args, kwargs = item
        enqueue(path, *args, **kwargs)


def _run_failure_hook(batch: _Batch) -> None:
    app = current_app._get_current_object()
    with app.app_context():  # its own session and transaction, like an in-process job
        try:
            run_job(batch.on_failure, [batch.arg_lists, batch.at], {})
        except Exception:  # noqa: BLE001 - the work stays recoverable by the relay's timeout
            log.exception("%s failed after an enqueue failure", batch.on_failure)


def rollback() -> None:
    db.session.rollback()  # pending jobs (single or batches) are dropped with the transaction
    db.session.info.pop(_PENDING, None)
    db.session.info.pop(_WROTE, None)
    db.session.info.pop(_KEEP, None)


def redis_connection():
    """The app's Redis client (created lazily, never at import), or None without REDIS_URL."""
    url = current_app.config.get("REDIS_URL")
    if not url:
        return None
    conn = current_app.extensions.get("redis")
    if conn is None:
        from redis import Redis

        conn = Redis.from_url(url, socket_connect_timeout=2, socket_timeout=10)
        current_app.extensions["redis"] = conn
    return conn


def queue(name: str | None = None):
    """The named queue; by default the app's, or inside a job the queue that job came from
    (follow-up jobs stay with the workers that serve it)."""
    from rq import Queue, get_current_job

    if name is None:
        job = get_current_job()
        name = job.origin if job is not None else current_app.config["JOB_QUEUE"]
    return Queue(name, connection=redis_connection())


def enqueue(fn: Callable | str, *args, **kwargs):
    """Send a job now (callers inside a transaction use enqueue_after_commit)."""
    path = job_path(fn)
    if redis_connection() is None:
        run_in_process(path, args, kwargs)
        return None
    from rq import Retry

    return queue().enqueue_call(
        run_job,
        args=(path, list(args), kwargs),
        timeout=current_app.config["JOB_TIMEOUT"],
        retry=Retry(max=3, interval=[10, 60, 300]),
        description=path,
        failure_ttl=30 * 24 * 3600,
    )


def enqueue_many(fn: Callable | str, arg_lists: Iterable, *, at: datetime | None = None) -> int:
    """Send one job per args list now, in Redis pipelines of 1,000; or schedule them for `at`
    (naive = UTC; the worker's scheduler moves them to the queue). Returns the number sent.

    In-process (no REDIS_URL) jobs run right away; jobs due later are not run (there is no
    scheduler): callers with deferred work keep it in their own tables and run it when due.
    """
    path = job_path(fn)
    arg_lists = [list(a) for a in arg_lists]
    if at is not None and at.tzinfo is None:
        at = at.replace(tzinfo=UTC)
    if at is not None and at.microsecond:
        # RQ keeps whole seconds (it truncates): round up, or the job would run up to a second
        # early and find its work not yet due.
        at = at.replace(microsecond=0) + timedelta(seconds=1)
    if redis_connection() is None:
        if at is not None and at > datetime.now(UTC):
            log.info(
                "in-process mode: %d %s jobs due at %s left to their owner's relay", len(arg_lists), path, at
            )
            return 0
        for args in arg_lists:
            run_in_process(path, args, {})
        return len(arg_lists)
    from rq import Queue, Retry

    q = queue()
    options = {
        "timeout": current_app.config["JOB_TIMEOUT"],
        "retry": Retry(max=3, interval=[10, 60, 300]),
        "description": path,
        "failure_ttl": 30 * 24 * 3600,
    }
    for start in range(0, len(arg_lists), 1000):
        pipe = q.connection.pipeline()
        part = arg_lists[start : start + 1000]
        if at is None:
            q.enqueue_many(
                [Queue.prepare_data(run_job, args=(path, args, {}), **options) for args in part],
                pipeline=pipe,
            )
        else:
            for args in part:
                q.schedule_job(q.create_job(run_job, args=(path, args, {}), **options), at, pipeline=pipe)
        pipe.execute()
    return len(arg_lists)


def run_in_process(path: str, args, kwargs) -> None:
    app = current_app._get_current_object()
    # A fresh app context gives the job its own session and transaction.
    with app.app_context():
        try:
            run_job(path, list(args), kwargs)
        except Exception:
            log.exception("in-process job %s failed", path)
            if app.config.get("JOBS_RAISE", app.testing):
                raise


def run_job(path: str, args: list, kwargs: dict):
    """Job wrapper (runs in the worker inside the app context): one transaction per job."""
    fn = resolve(path)
    try:
        result = fn(*args, **kwargs)
        commit()
        return result
    except Exception:
        rollback()
        raise
    finally:
        db.session.remove()


def record_progress(model, row_id: int, **values) -> None:
    """Update a job's status row on a connection of its own, so that pollers see the progress
    while the job's transaction is still open. Progress is a nicety: a failure is logged and the
    job goes on."""
    table = model.__table__
    try:
        with db.engine.begin() as conn:
            conn.execute(sa.update(table).where(table.c.id == row_id).values(**values))
    except Exception:  # noqa: BLE001 - the job itself goes on
        log.warning("%s %s: could not record progress", table.name, row_id, exc_info=True)
