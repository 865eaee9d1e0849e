"""Background jobs: the request boundary, the platform outbox, handing jobs to the workers.

The contract (at least once; docs/notifications.md has the whole picture):

- `enqueue_after_commit(fn, *args, **kwargs)` and `enqueue_many_after_commit(fn, arg_lists,
  at=None)` write rows of the platform outbox (app.outbox) *in the current transaction*: if it
  rolls back nothing exists, once it commits nothing is lost.
- `commit()` is the one commit of a request/command/job boundary; after it, the rows are handed
  over. Without REDIS_URL each job runs in-process right away, in its own app context and
  transaction (what `scripts/run` does). With it, the jobs go to the RQ queue and
  `flask --app app worker` runs them. If Redis cannot be reached at that moment the error is
  logged and the request answers normally: the relay hands the rows over once Redis is back.
- A job runs **at least once**, and sometimes more than once: when its runner is killed (the
  relay hands it over again once its lease lapses), when Redis loses it, or when the relay
  cannot tell whether a hand-over arrived. So a job is a module-level function taking ids (JSON
  values), and running it twice must be harmless: the second run finds the work done (state
  checked under a row lock, rows claimed atomically, "sent" marks) and does nothing more.
- A job's writes and the deletion of its outbox row commit together, and only while the run
  still holds the row's claim: a job whose transaction committed is never run again, and of two
  runs of one job at most one commits. So a job's *database* effects happen once; what it does
  outside the database (an email) can happen again when a run is killed before its commit.
- A run that raises is retried after 10 s, 60 s and 300 s, then given up (kept, with its error,
  for the admin's failures page). Jobs due later (`at=`) wait in the outbox until the relay
  hands them over.
- The relay pass, `relay_all()`: this outbox (`relay`) and the passes other parts registered with
  `register_relay` (the notification outbox). The worker runs it every JOB_RELAY_INTERVAL
  seconds, so does `flask --app app notifications relay --loop`, and web processes after
  requests (app.notifications.autorelay).
"""

from __future__ import annotations

import importlib
import json
import logging
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import Flask, current_app
from redis.exceptions import RedisError
from sqlalchemy.orm import Session

from . import outbox, queues
from .extensions import db
from .leases import Heartbeat
from .models import utcnow
from .queues import Handover, queue, redis_connection  # noqa: F401 - part of this module's API

log = logging.getLogger(__name__)

_PENDING = "pending_jobs"  # outbox rows of this transaction to hand over after the commit
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


_CONN_WROTE = "transaction_wrote"  # on Connection.info: a statement other than SELECT ran


@sa.event.listens_for(Session, "after_begin")
def _began(session, transaction, connection) -> None:
    connection.info.pop(_CONN_WROTE, None)  # the info dict outlives the transaction (pool)


@sa.event.listens_for(sa.engine.Engine, "before_cursor_execute")
def _statement(conn, cursor, statement, parameters, context, executemany) -> None:
    if statement.lstrip()[:6].upper() != "SELECT":
        conn.info[_CONN_WROTE] = True  # INSERT, UPDATE, DELETE, SAVEPOINT, anything else


def wrote_anything() -> bool:
    """Whether the transaction of this boundary has anything to commit: objects waiting for a
    flush, outbox rows, or any statement other than a SELECT (also those that count for any
    answer: an audit entry, a session's last-seen time)."""
    session = db.session()
    if not session.in_transaction():
        return False
    if (
        session.new
        or session.dirty
        or session.deleted
        or session.info.get(_PENDING)
        or session.info.get(_WROTE)
    ):
        return True
    # The connections this transaction holds (none if connecting failed): never open one here.
    held = getattr(session.get_transaction(), "_connections", None)
    if held is None:  # pragma: no cover - SQLAlchemy without this attribute: ask the public way
        return bool(session.connection().info.get(_CONN_WROTE))
    return any(entry[0].info.get(_CONN_WROTE) for entry in held.values())


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
    """Run `fn(*args, **kwargs)` once the current transaction has committed (never before): one
    outbox row, written now in this transaction."""
    _write(job_path(fn), [(list(args), dict(kwargs))], None)


def enqueue_many_after_commit(
    fn: Callable | str,
    arg_lists: Iterable,
    *,
    at: datetime | None = None,
    front: bool = False,
    recoverable: bool = True,
) -> None:
    """Run `fn(*args)` for each args in `arg_lists` after the commit (one outbox row each, one
    INSERT for all), or when `at` comes (naive = UTC). `front`: ahead of the jobs already
    waiting in the queue (a relay handing over work that has waited: it must not queue behind a
    backlog of new work).

    `recoverable` is accepted for callers written before the outbox and means nothing any more:
    every job written here survives a Redis outage at commit time."""
    _write(job_path(fn), [(list(a), {}) for a in arg_lists], at, front)


def _write(path: str, calls: list[tuple[list, dict]], at: datetime | None, front: bool = False) -> None:
    if not calls:
        return
    for args, kwargs in calls:
        try:
            json.dumps([args, kwargs])
        except (TypeError, ValueError) as err:
            raise TypeError(f"job {path}: arguments must be JSON values such as ids ({err})") from err
    if at is not None and at.tzinfo is not None:
        at = at.astimezone(UTC).replace(tzinfo=None)
    handed = outbox.add(path, calls, at, front)
    if handed:
        db.session.info.setdefault(_PENDING, []).extend(handed)


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
    if not wrote_anything():
        # Read only: no COMMIT round trip and no expiry of the loaded objects; the pool rolls the
        # reads back when the request's session is removed (and SQLite/PostgreSQL hold nothing).
        forget()
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
    """Commit the transaction of this boundary, then hand its outbox rows over."""
    db.session.commit()
    db.session.info.pop(_WROTE, None)
    db.session.info.pop(_KEEP, None)
    pending = db.session.info.pop(_PENDING, [])
    if pending:
        hand_over(pending)


def rollback() -> None:
    db.session.rollback()  # the outbox rows of this transaction are gone with it
    forget()


def forget() -> None:
    """Drop this boundary's bookkeeping (after a rollback, or a read-only request)."""
    db.session.info.pop(_PENDING, None)
    db.session.info.pop(_WROTE, None)
    db.session.info.pop(_KEEP, None)


def hand_over(items: list[Handover]) -> None:
    """Give committed outbox rows to their runners: this process without REDIS_URL, else RQ.
    Never raises for Redis: a failed hand-over is logged and the relay repeats it."""
    if redis_connection() is None:
        for item in items:
            run_in_process(item.outbox_id)
        return
    try:
        queues.push(items)
    except (RedisError, OSError):
        log.warning(
            "Redis unreachable: %d job(s) (%s) stay in the outbox; the relay hands them over when it is back",
            len(items),
            items[0].path,
            exc_info=True,
        )


def run_in_process(outbox_id: int) -> None:
    app = current_app._get_current_object()
    # A fresh app context gives the job its own session and transaction.
    with app.app_context():
        try:
            run_from_outbox(outbox_id)
        except Exception:
            log.exception("in-process job (outbox row %s) failed", outbox_id)
            if app.config.get("JOBS_RAISE", app.testing):
                raise


def run_from_outbox(outbox_id: int):
    """Run one outbox job (the RQ job function, and the in-process runner): claim the row (a
    row already finished or held by a live runner: return at once), keep the claim alive while
    the job runs, and delete the row in the job's own transaction."""
    lease = outbox.setting("JOB_LEASE_SECONDS")
    claimed = outbox.claim(outbox_id, lease)
    if claimed is None:
        log.info("outbox job %s: finished already, not due or held by another runner", outbox_id)
        return None
    token, path, args, kwargs, attempt = claimed
    with Heartbeat(db.engine, outbox.renewer(token, lease), lease / 3, f"job-{outbox_id}"):
        try:
            result = resolve(path)(*args, **kwargs)
            if not outbox.finish(outbox_id, token):
                # Too slow to renew the lease (the database unreachable for a while): the job was
                # handed to another runner. Its writes must not commit twice: roll back.
                log.warning("outbox job %s (%s): claim lost while running; rolled back", outbox_id, path)
                rollback()
                return None
            commit()
            return result
        except Exception as err:
            rollback()
            try:
                outbox.give_back(outbox_id, token, attempt, err)
            except Exception:  # noqa: BLE001 - the lease lapses and the relay retries it anyway
                log.exception("outbox job %s: could not record its failure", outbox_id)
            raise
        finally:
            db.session.remove()


def run_job(path: str, args: list, kwargs: dict):
    """Run a job directly, outside the outbox (tests, one-off calls): one transaction."""
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


def relay(limit: int = 1000) -> dict[str, int]:
    """One pass over the platform outbox: hand over again the due rows no runner will finish —
    never handed (due later, or retried after a failure), held by a runner whose lease lapsed, or
    handed to RQ more than JOB_HANDOVER_GRACE_SECONDS ago and no longer there (or, in-process,
    never started). Commits its own transaction. Raises when Redis is unreachable."""
    now = utcnow()
    grace = timedelta(seconds=outbox.setting("JOB_HANDOVER_GRACE_SECONDS"))
    rows = outbox.due(now, grace, limit)
    if not rows:
        db.session.rollback()
        return {"handed": 0}
    live: set[str] = set()
    waiting = [queues.job_id(r.id, r.handovers) for r in rows if r.handed]
    if waiting and redis_connection() is not None:
        live = queues.alive(waiting, grace)
    ids = [r.id for r in rows if not (r.handed and queues.job_id(r.id, r.handovers) in live)]
    items = outbox.mark_handed(ids, now, grace) if ids else []
    db.session.commit()
    if items:
        log.info("jobs relay: handing over %d outbox job(s) again", len(items))
        hand_over(items)
    return {"handed": len(items)}


def register_relay(app: Flask, name: str, fn: Callable[..., dict]) -> None:
    """Add a pass to `relay_all` (e.g. the notification outbox's); called from register(app).
    `fn(limit=…)` hands over at most `limit` items, commits its own work, returns counts."""
    passes = app.extensions.setdefault("relay_passes", {})
    passes[name] = fn


class RelayError(RuntimeError):
    """Some pass of relay_all failed (the database or Redis unreachable); the others ran."""


def relay_all(batch: int | None = None, options: dict[str, dict] | None = None) -> dict[str, dict]:
    """Every relay pass (each handing over at most `batch` items when given; `options`: extra
    keyword arguments per pass name), each in its own transaction; one failing does not stop the
    others. Returns each pass's result; raises RelayError at the end if any failed."""
    results: dict[str, dict] = {}
    errors: list[str] = []
    limit = {} if batch is None else {"limit": batch}
    for name, fn in [("jobs", relay), *current_app.extensions.get("relay_passes", {}).items()]:
        try:
            results[name] = fn(**limit, **(options or {}).get(name, {}))
        except Exception as err:  # noqa: BLE001 - reported below; the other passes still run
            errors.append(f"{name}: {type(err).__name__}: {err}")
            try:
                rollback()
            except Exception:  # noqa: BLE001 - the database itself may be down
                db.session.remove()
    if errors:
        raise RelayError("; ".join(errors))
    return results


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
