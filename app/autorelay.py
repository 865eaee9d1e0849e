"""Relay passes started by the web processes themselves: cheap, throttled, off the request.

Why: without REDIS_URL (the default, and what `scripts/run` serves) there is no worker, so jobs
due later, retries after a failure, email/SMS held for quiet hours and daily summaries would
wait for someone to run `flask --app app notifications relay`. With Redis the workers run relay
passes themselves; a pass from a web process then only adds a safety net (it hands over work a
Redis outage left behind even if every worker is busy with long jobs).

So each web process, at most once every NOTIFY_AUTO_RELAY_SECONDS (default 60; 0 turns it off;
off by default when TESTING so that other tests' clocks and sinks stay deterministic), when it
finishes a request, starts one background thread (never more than one per process) that runs
app.jobs.relay_all():

- without Redis: passes of at most NOTIFY_AUTO_RELAY_BATCH (2,000) deliveries and digest
  recipients each, until nothing is due (at most 50 passes): the due jobs, deferred, retried and
  digest messages are sent right there, in that thread;
- with Redis: one pass, which hands due and lost work to the workers.

The request never waits for it. Several processes doing this at the same time is harmless: a
job or a delivery is only run by the runner that claims it. Limits: the pass needs some request to
trigger it, so a site that nobody opens sends its 06:30 messages with the first request after
06:30 (in practice within a minute on a school day); the `notifications relay --loop` service or
RQ workers remove that dependency.
"""

from __future__ import annotations

import logging
import threading
import time

from flask import Flask

from . import jobs
from .extensions import db

log = logging.getLogger(__name__)

MAX_PASSES = 50


class AutoRelay:
    """Per-app state: when the next pass may start, and the thread running one."""

    def __init__(self, app: Flask):
        self.app = app
        self.lock = threading.Lock()
        self.next_at = 0.0  # time.monotonic() before which no pass starts
        self.thread: threading.Thread | None = None
        self.passes = 0  # threads started (tests and logs)

    def interval(self) -> float:
        default = 0 if self.app.testing else 60
        return float(self.app.config.get("NOTIFY_AUTO_RELAY_SECONDS", default) or 0)

    def maybe_start(self) -> bool:
        """Called after each request: start a pass if one is due and none is running."""
        interval = self.interval()
        if interval <= 0:
            return False
        now = time.monotonic()
        if now < self.next_at:  # the common case: one comparison, no lock
            return False
        with self.lock:
            if now < self.next_at or (self.thread is not None and self.thread.is_alive()):
                return False
            self.next_at = now + interval
            self.passes += 1
            self.thread = threading.Thread(target=self.run, name="auto-relay", daemon=True)
            self.thread.start()
        return True

    def run(self) -> None:
        with self.app.app_context():
            try:
                passes = 1 if jobs.redis_connection() is not None else MAX_PASSES
                batch = int(self.app.config.get("NOTIFY_AUTO_RELAY_BATCH", 2000))
                for _ in range(passes):
                    if not _did_something(jobs.relay_all(batch=batch)):
                        return
            except Exception:  # noqa: BLE001 - a background pass must never take the process down
                log.warning("automatic relay pass failed", exc_info=True)
            finally:
                db.session.remove()

    def wait(self, timeout: float = 30.0) -> None:
        """Wait for a running pass to finish (tests)."""
        thread = self.thread
        if thread is not None:
            thread.join(timeout)
            assert not thread.is_alive(), "the automatic relay pass did not finish"


def _did_something(results: dict[str, dict]) -> bool:
    return any(v for result in results.values() for k, v in result.items() if k != "released")


def install(app: Flask) -> AutoRelay:
    state = AutoRelay(app)
    app.extensions["auto_relay"] = state

    @app.teardown_request
    def _auto_relay(exc):  # after the response and the request's commit
        state.maybe_start()

    return state


def of(app: Flask) -> AutoRelay:
    return app.extensions["auto_relay"]
