"""Background jobs behind one small module.

- `enqueue_after_commit(fn, *ids)` queues work for after the current transaction commits;
  `commit()` is the one commit call of a request/command/job boundary and then dispatches them.
- Without `REDIS_URL` a job runs in-process right after the commit, in its own app context and
  transaction. With it, the job goes to an RQ queue and `flask --app app worker` runs it.
- Jobs are module-level functions taking ids; `run_job` gives each its own transaction.
"""
from __future__ import annotations

import importlib
import logging
from collections.abc import Callable

from flask import current_app

from .extensions import db

log = logging.getLogger(__name__)

_PENDING = "pending_jobs"


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


def commit() -> None:
    """Commit the transaction of this boundary, then hand its queued jobs over."""
    db.session.commit()
    pending = db.session.info.pop(_PENDING, [])
    for path, args, kwargs in pending:
        enqueue(path, *args, **kwargs)


def rollback() -> None:
    db.session.rollback()
    db.session.info.pop(_PENDING, None)


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
    from rq import Queue

    return Queue(name or current_app.config["JOB_QUEUE"], connection=redis_connection())


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
