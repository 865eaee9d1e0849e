"""The long-running processes: the RQ worker and the relay loop, both immune to outages.

`flask --app app worker` (run_worker) is an RQ SimpleWorker (jobs run in this process, in the app
context; app.jobs.run_from_outbox gives each its own transaction) plus a relay thread
(RelayLoop) that runs app.jobs.relay_all() every JOB_RELAY_INTERVAL seconds: jobs and
notification deliveries that are due (deferred, retried, quiet hours over, daily summaries) or
that a killed worker or a Redis outage left behind are handed over from the database. RQ's own
scheduler is not used: nothing is scheduled in Redis, so nothing waits for a scheduler's lock.

Neither the worker nor the relay loop exits when Redis or the database goes away: a failed relay
pass is retried after 1, 2, 4 … seconds (never more than the interval), and the RQ worker is
started again (after the same backoff) whenever RQ gives up on its connection. Only SIGTERM or
SIGINT stops them.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable

from flask import Flask
from redis.exceptions import RedisError
from rq import Queue, SimpleWorker
from rq.exceptions import StopRequested

from . import jobs
from .extensions import db

log = logging.getLogger(__name__)

MAX_REDIS_WAIT = 5.0  # RQ's wait between reconnection attempts (its default grows to 60 s)


class Worker(SimpleWorker):
    """RQ's SimpleWorker, with a teardown that never waits a minute for its pub/sub thread.

    RQ sends UNSUBSCRIBE and then stops that thread without a time limit; when the reply comes
    before the thread's stop flag is set, the thread goes back to `get_message(timeout=60)` and
    the worker waits up to 60 s to exit (or to start again after a Redis error). Here the flag is
    set first, so the reply wakes the thread and it ends (closing its own connection)."""

    stop_signalled = False  # SIGTERM/SIGINT received (RQ records it only when a job is running)

    def request_stop(self, signum, frame):
        self.stop_signalled = True
        super().request_stop(signum, frame)

    def unsubscribe(self):
        thread = self.pubsub_thread
        if not thread:
            return
        thread.stop(timeout=0)  # sets the flag; join(0) does not wait
        if self.pubsub.connection is not None:
            with contextlib.suppress(RedisError, OSError):  # Redis may be gone: nothing to tell it
                self.pubsub.unsubscribe()
        thread.join(timeout=1)


class RelayLoop:
    """Run `jobs.relay_all()` every `interval` seconds until `stop` is set; never raises."""

    def __init__(self, app: Flask, interval: float, report: Callable[[dict], None] | None = None, **options):
        self.app, self.interval, self.report, self.options = app, max(float(interval), 0.1), report, options
        self.stop = threading.Event()
        self.failures = 0

    def run(self) -> None:
        while not self.stop.is_set():
            self.stop.wait(self.run_once())

    def run_once(self) -> float:
        """One pass; returns the delay before the next one."""
        try:
            with self.app.app_context():
                try:
                    result = jobs.relay_all(**self.options)
                finally:
                    db.session.remove()
        except Exception as err:  # noqa: BLE001 - Redis or the database is down: try again soon
            self.failures += 1
            delay = min(2.0 ** (self.failures - 1), self.interval)
            log.warning("relay pass failed (%s); next try in %.0f s", err, delay)
            return delay
        if self.failures:
            log.info("relay pass succeeded again after %d failure(s)", self.failures)
        self.failures = 0
        if self.report is not None:
            self.report(result)
        return self.interval

    def start_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.run, name="relay-loop", daemon=True)
        thread.start()
        return thread


def run_worker(app: Flask, queue_names: list[str], burst: bool) -> None:
    """The worker command's body (inside the app context)."""
    conn = jobs.redis_connection()
    interval = float(app.config["JOB_RELAY_INTERVAL"])
    # This worker's relay passes hand work to the first queue it serves, so that what they hand
    # over is surely run (by this worker if no other).
    app.config["JOB_QUEUE"] = queue_names[0]
    if burst:
        _burst(app, conn, queue_names)
        return
    loop = RelayLoop(app, interval)
    # First hand over what a killed worker left (its leases lapsed), ahead of the queue, before
    # taking anything from it: a restarted worker resumes the stalled part first.
    loop.run_once()
    loop.start_thread()
    stopping = threading.Event()
    failures = 0
    try:
        while True:
            worker = None
            started = time.monotonic()
            try:
                # Even creating RQ's worker talks to Redis (it names its connection).
                worker = Worker([Queue(n, connection=conn) for n in queue_names], connection=conn)
                worker.max_connection_wait_time = MAX_REDIS_WAIT
                worker.work(burst=False, with_scheduler=False)
            except StopRequested:
                return
            except (RedisError, OSError) as err:
                log.warning("worker: Redis unreachable (%s)", err)
            if worker is not None and worker.stop_signalled:
                return
            # RQ left its loop without being asked (it gives up on some Redis errors): start again.
            failures = 1 if time.monotonic() - started > 60 else failures + 1
            _wait_unless_stopped(stopping, min(2.0 ** (failures - 1), 30.0))
            if stopping.is_set():
                return
    finally:
        loop.stop.set()


def _wait_unless_stopped(stopping: threading.Event, seconds: float) -> None:
    """Sleep, but let SIGTERM/SIGINT end the worker (RQ's handlers are gone with its loop)."""

    def stop(signum, frame):
        stopping.set()

    previous = {s: signal.signal(s, stop) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        log.info("worker: starting again in %.0f s", seconds)
        stopping.wait(seconds)
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)


def _burst(app: Flask, conn, queue_names: list[str]) -> None:
    """--burst: hand over what is due (a relay pass), run the queue dry, and again while the
    jobs produced more due work (at most 10 rounds); then exit."""
    for _ in range(10):
        handed = 0
        try:
            handed = sum(v for r in jobs.relay_all().values() for k, v in r.items() if k != "released")
        except jobs.RelayError as err:
            log.warning("worker --burst: relay pass failed: %s", err)
        finally:
            db.session.remove()
        worker = Worker([Queue(n, connection=conn) for n in queue_names], connection=conn)
        worked = worker.work(burst=True, with_scheduler=False)
        if not handed and not worked:
            return
