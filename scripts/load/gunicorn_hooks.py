"""Gunicorn server hooks for the load test: each worker counts its requests, SQL statements,
time in SQL, the CPU of its argon2 hashes and verifies, and its CPU from the parsed request to
the written response, per phase (the generator's `X-Load-Phase` header) and writes them to
`<STATS_DIR>/<pid>.json` when it exits. The load test writes a config file that imports these
hooks and sets STATS_DIR."""

from __future__ import annotations

import json
import os
import time

import sqlalchemy as sa

STATS_DIR = ""
_phase = "none"
_cpu_at_request = 0.0
# phase → [requests, statements, seconds in SQL, argon2 CPU s, argon2 calls, CPU s in requests]
_stats: dict[str, list] = {}


def empty_row() -> list:
    """A phase's counts before its first request (the layout above)."""
    return [0, 0, 0.0, 0.0, 0, 0.0]


def _row() -> list:
    return _stats.setdefault(_phase, empty_row())


def _timed(fn):
    """`fn` (an argon2 call), its thread CPU time added to the phase's row."""

    def wrapper(*args, **kwargs):
        t0 = time.thread_time()
        try:
            return fn(*args, **kwargs)
        finally:
            row = _row()
            row[3] += time.thread_time() - t0
            row[4] += 1

    return wrapper


def _before(conn, cursor, statement, parameters, context, executemany):
    conn.info.setdefault("_load_started", []).append(time.perf_counter())


def _after(conn, cursor, statement, parameters, context, executemany):
    started = conn.info.get("_load_started")
    row = _row()
    row[1] += 1
    if started:
        row[2] += time.perf_counter() - started.pop()


def post_fork(server, worker):
    from app.security import Passwords  # lazy: the app is imported by the worker, not by the config

    Passwords.hash = _timed(Passwords.hash)
    Passwords.verify = _timed(Passwords.verify)
    sa.event.listen(sa.engine.Engine, "before_cursor_execute", _before)
    sa.event.listen(sa.engine.Engine, "after_cursor_execute", _after)


def pre_request(worker, req):
    global _phase, _cpu_at_request
    _phase = next((v for k, v in req.headers if k.upper() == "X-LOAD-PHASE"), "none")
    _row()[0] += 1
    _cpu_at_request = time.process_time()


def post_request(worker, req, environ, resp):
    """The worker's CPU from the parsed request to the written response (the app's WSGI call
    and gunicorn writing its answer); what the worker spends outside it is accepting the
    connection, reading and parsing the request and closing it."""
    _row()[5] += time.process_time() - _cpu_at_request


def worker_exit(server, worker):
    if STATS_DIR:
        with open(os.path.join(STATS_DIR, f"{os.getpid()}.json"), "w") as fh:
            json.dump(_stats, fh)
