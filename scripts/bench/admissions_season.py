#!/usr/bin/env python
"""Benchmark: a district's allocation season, from the database to published results.

    .venv/bin/python scripts/bench/admissions_season.py [--applications 20000] [--schools 60] [--notify]

Target: ≤ 30 s for 20,000 applications on PostgreSQL, split into
  load     — build the exchange-format instance from the database (admissions.market.build_instance),
  allocate — deferred acceptance (admissions.allocation.allocate_instance),
  store    — snapshot + result + one outcome row per application, applications marked "allocated",
             and the commit (what the RQ job does: admissions.rounds.run_round),
  publish  — the audited publishing transaction: offers / "unplaced" for every application with their
             answer-by time, the seed revealed, the notification jobs enqueued after the commit.
Then a later round: 5 % of the families decline, round 2 runs and is published (same split).

Database: DATABASE_URL names a PostgreSQL server (default postgresql+psycopg://postgres@127.0.0.1:5432);
a scratch database is created, migrated and dropped. If no PostgreSQL server answers, the script
falls back to a temporary SQLite file and says so (the target is about PostgreSQL). Redis
(REDIS_URL, default redis://127.0.0.1:6379/0) is the job queue, on a private queue deleted at the
end, so that publishing only *enqueues* the 20,000 notifications, as in production; --notify also
drains that queue with an in-process worker and times the fan-out (reported separately). Without
Redis the notifications are skipped (in-process mode would send them inside the publish timing).

Data: one district of --schools grade-1 schools (a sixth without a catchment, a few over-demanded),
40 wards × 10 residential groups, --applications children with their parents, 40 % of them with
1-3 out-of-catchment wishes, 10 % with a sibling's school; loaded with bulk inserts (not timed).
Updates of 20,000 applications use UPDATE … FROM (VALUES …) on PostgreSQL (executemany elsewhere).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import socket
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import sqlalchemy as sa
from flask_migrate import upgrade
from redis import Redis
from rq import Queue, SimpleWorker

ROOT = Path(os.path.abspath(__file__)).parents[2]
sys.path.insert(0, str(ROOT))

from _scratch import scratch_postgres  # noqa: E402 - after the path set-up
from _season_data import load  # noqa: E402 - after the path set-up
from _season_pages import time_pages  # noqa: E402 - after the path set-up

import admissions.rounds as rounds_module  # noqa: E402 - after the path set-up
from admissions import counters, freeze, rounds  # noqa: E402 - after the path set-up
from admissions.allocation import allocate_instance  # noqa: E402 - after the path set-up
from admissions.models import AdmissionLevel, AllocationRound, Application  # noqa: E402 - after the path set-up
from app import create_app, jobs  # noqa: E402 - after the path set-up
from app.extensions import db  # noqa: E402 - after the path set-up
from app.models import User, utcnow  # noqa: E402 - after the path set-up
from app.notifications.models import Notification  # noqa: E402 - after the path set-up

TARGET_SECONDS = 30.0


def _answers(url: str) -> bool:
    parts = urlsplit(url.replace("postgresql+psycopg", "postgresql"))
    try:
        with socket.create_connection((parts.hostname or "127.0.0.1", parts.port or 5432), timeout=1):
            return True
    except OSError:
        return False


def scratch_database() -> tuple[str, callable, str]:
    """(url, dropper, note): a scratch PostgreSQL database, else a temporary SQLite file."""
    server = os.environ.get("DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    if server.startswith(("postgres://", "postgresql")) and _answers(server):
        url, _name, drop = scratch_postgres(server, "tsll_bench_season")
        return url, drop, "PostgreSQL"
    folder = tempfile.mkdtemp(prefix="tsll-bench-season-")
    path = os.path.join(folder, "bench.db")

    def drop_file():
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
        os.rmdir(folder)

    return (
        f"sqlite:///{path}",
        drop_file,
        "SQLite (NOTE: DATABASE_URL names no reachable PostgreSQL server; the target is about PostgreSQL)",
    )


def timed_round(number: int, data: dict, publish_repeat: int = 0) -> dict:
    """Create, run (the job body + its commit) and publish one official round; return the timings."""

    level = db.session.get(AdmissionLevel, data["level_id"])
    officer = db.session.get(User, data["officer_id"])
    rnd = rounds.create_official_round(level, data["district_id"], officer)
    assert rnd.number == number
    if number == 1:  # the entries are frozen at the close; the officer types the beacon value
        freeze.refreeze(level, data["district_id"], officer)
        freeze.enter_beacon(freeze.commitment_of(level, data["district_id"]), "ab" * 32, "bench", officer)
    rounds.queue_round(rnd, officer)
    db.session.info.pop("pending_jobs", None)  # the job is run right here, timed, not through the queue
    jobs.commit()
    rid = rnd.id
    db.session.remove()

    t0 = time.perf_counter()
    rounds.run_round(rid)  # build, allocate, store (flush)
    t_body = time.perf_counter() - t0
    jobs.commit()  # as run_job does
    t_job = time.perf_counter() - t0
    db.session.remove()
    rnd = db.session.get(AllocationRound, rid)
    officer = db.session.get(User, data["officer_id"])
    assert rnd.status == "done", rnd.error
    split = dict(rnd.summary["seconds"])
    split["store"] = round(split["store"] + (t_job - t_body), 3)  # the commit belongs to storing
    summary = rnd.summary

    for _ in range(publish_repeat):  # rehearsals: the same publishing, rolled back (phases only)
        with publish_phases() as phases:
            rounds.publish_round(rnd, officer, utcnow() + timedelta(days=7))
            with phases.timed("flush"):
                db.session.flush()
        jobs.rollback()
        print(f"  round {number} publish (rolled back): {phases.line()}")
        vacuum_applications()
        rnd = db.session.get(AllocationRound, rid)
        officer = db.session.get(User, data["officer_id"])
    with publish_phases() as phases:
        t1 = time.perf_counter()
        counts = rounds.publish_round(rnd, officer, utcnow() + timedelta(days=7))
        with phases.timed("commit"):
            jobs.commit()  # the publishing transaction, then the notification jobs go to the queue
        t_publish = time.perf_counter() - t1
    db.session.remove()
    return {
        "round": rid,
        "load": split["load"],
        "allocate": split["allocate"],
        "store": split["store"],
        "publish": round(t_publish, 3),
        "job": round(t_job, 3),
        "counts": counts,
        "summary": summary,
        "phases": phases.line(),
    }


class _Phases:
    """Seconds (wall and this process's CPU) per phase of one publishing, in call order."""

    def __init__(self) -> None:
        self.seconds: dict[str, list[float]] = {}

    @contextlib.contextmanager
    def timed(self, name: str):
        pid = _backend_pid()
        w, c, d = time.perf_counter(), time.process_time(), _process_cpu(pid)
        try:
            yield
        finally:
            got = self.seconds.setdefault(name, [0.0, 0.0, 0.0])
            got[0] += time.perf_counter() - w
            got[1] += time.process_time() - c
            got[2] += _process_cpu(pid) - d

    def wrap(self, name: str, fn):
        def timed_call(*args, **kwargs):
            with self.timed(name):
                return fn(*args, **kwargs)

        return timed_call

    def line(self) -> str:
        steps = " · ".join(
            f"{k} {w:.2f} s (cpu {c:.2f} + db {d:.2f})" for k, (w, c, d) in self.seconds.items()
        )
        return f"{steps}  [cpu of the steps, app + database: {self.cpu():.2f} s]"

    def cpu(self) -> float:
        nested = {"hand_over"}  # inside commit
        return sum(c + d for k, (_w, c, d) in self.seconds.items() if k not in nested)


def _backend_pid() -> int | None:
    """The PostgreSQL server process of this session's connection (None on SQLite)."""

    if db.session.get_bind().dialect.name != "postgresql":
        return None
    return db.session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def _process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system) of a process on this machine, 0 when it cannot be read (a
    database server on another machine): the database's own work, which wall time under load hides."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError, TypeError):
        return 0.0


# What publish_round calls, by the names it calls them in admissions.rounds (and the hand-over of
# the committed jobs to the queue, in app.jobs).
_PUBLISH_STEPS = (
    ("rounds", "lock_row"),
    ("rounds", "expire_offers"),
    ("rounds", "fingerprint"),  # before both hashes were taken in one statement
    ("rounds", "fingerprint_and_digest"),
    ("rounds", "check_inputs_unchanged"),
    ("rounds", "apply_outcomes"),
    ("rounds", "audit"),
    ("rounds", "notify_later"),
    ("counters", "recompute_for_season"),  # the office's counters of the level, counted again
    ("jobs", "hand_over"),
)


@contextlib.contextmanager
def publish_phases():
    """Time each step of publish_round while the block runs (wrappers, removed afterwards)."""

    modules = {"rounds": rounds, "jobs": jobs, "counters": counters}
    phases = _Phases()
    saved = []
    for mod, name in _PUBLISH_STEPS:
        fn = getattr(modules[mod], name, None)
        if fn is None:  # a step of another version of the code
            continue
        saved.append((modules[mod], name, fn))
        setattr(modules[mod], name, phases.wrap(name, fn))
    try:
        yield phases
    finally:
        for module, name, fn in saved:
            setattr(module, name, fn)


def vacuum_applications() -> None:
    """After a rolled-back rehearsal: clear its dead row versions so that the next run starts clean."""

    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(sa.text("VACUUM ANALYZE application"))
            conn.execute(sa.text("VACUUM ANALYZE job_outbox"))


SEASON_TABLES = (
    "application",
    "allocation_outcome",
    "admission_counter",
    "roster_registration",
    "job_outbox",
)


def settle_like_autovacuum() -> None:
    """Before the office's pages are timed: on a server whose autovacuum is off (this project's
    development machines), do what it would have done after the rounds' mass updates (the dead
    row versions of 200,000 applications cleared, fresh statistics). A server with autovacuum on
    is left to it."""

    db.session.remove()
    if db.engine.dialect.name != "postgresql":
        return
    with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        if conn.exec_driver_sql("SHOW autovacuum").scalar() == "on":
            return
        t0 = time.perf_counter()
        for table in SEASON_TABLES:
            conn.exec_driver_sql(f"VACUUM (ANALYZE) {table}")
    print(
        f"autovacuum is off on this server: the season's tables vacuumed as it would ({time.perf_counter() - t0:.1f} s)"
    )


def decline_some(data: dict, share: float) -> int:
    """A share of the offered families decline (bulk, as many single answers would)."""

    ids = list(
        db.session.scalars(
            sa.select(Application.id).where(Application.status == "offered").order_by(Application.id)
        )
    )
    rng = random.Random(7)  # noqa: S311
    chosen = rng.sample(ids, k=int(len(ids) * share))
    db.session.execute(
        sa.update(Application)
        .where(Application.id.in_(chosen))
        .values(status="declined", declined_at=utcnow())
    )
    counters.recompute_for_season(data["level_id"], data["district_id"])  # as the answers keep them
    db.session.commit()
    return len(chosen)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--applications", type=int, default=20_000)
    parser.add_argument("--schools", type=int, default=60)
    parser.add_argument(
        "--city",
        type=int,
        default=0,
        help="applications in the whole city (other districts of the same size, registered only)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="fetches of each office page")
    parser.add_argument("--decline", type=float, default=0.05, help="share of offers declined before round 2")
    parser.add_argument(
        "--notify", action="store_true", help="also drain the queue and time the notifications"
    )
    parser.add_argument("--no-pages", action="store_true", help="skip the office's pages and files")
    parser.add_argument(
        "--keep-database",
        action="store_true",
        help="keep the scratch database (its URL is printed) to study it",
    )
    parser.add_argument(
        "--publish-repeat",
        type=int,
        default=0,
        help="publish each round this many times more in a rolled-back transaction first (phase timings)",
    )
    args = parser.parse_args()

    url, drop, backend = scratch_database()
    queue = f"bench-season-{uuid.uuid4().hex[:8]}"
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/0")
    try:
        Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001 - Redis is optional here
        redis_url = None
    os.environ.setdefault("INSTANCE_PATH", f"/tmp/{queue}")
    try:
        app = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": url,
                "SECRET_KEY": "bench",
                "REDIS_URL": redis_url,
                "RATELIMIT_STORAGE_URI": "memory://",
                "JOB_QUEUE": queue,
                "ARGON2_TIME_COST": 1,
                "ARGON2_MEMORY_COST": 1024,
                "SERVER_NAME": "bench.local",
                "PUBLIC_URL": "http://bench.local",
                "PREFERRED_URL_SCHEME": "http",
            }
        )
        with app.app_context():
            upgrade()
            if redis_url is None:
                # In-process mode would send 20,000 notifications inside the publish timing.
                rounds_module.notify_later = lambda *a, **k: None
            data = load(args)
            print(f"database: {backend}")
            print(
                f"data: {data['applications']:,} applications in the district ({data['city']:,} in "
                f"{data['districts']} districts), {data['schools']} schools, "
                f"{data['choices']:,} ranked choices (loaded in {data['seconds']:.1f} s, not timed)"
            )
            first = timed_round(1, data, args.publish_repeat)
            ok = report("round 1", first, TARGET_SECONDS)
            check_rerun(first["round"])
            declined = decline_some(data, args.decline)
            print(f"{declined:,} families declined their offer")
            second = timed_round(2, data, args.publish_repeat)
            report("round 2", second, None)
            if not args.no_pages:
                settle_like_autovacuum()
            pages_ok = args.no_pages or time_pages(app, data, [first["round"], second["round"]], args.repeat)
            if args.notify and redis_url:
                drain_notifications(app, queue)
            elif args.notify:
                print("notifications: skipped (no Redis)")
            db.session.remove()
            db.engine.dispose()
        print(f"load average: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        return 0 if ok and pages_ok else 1
    finally:
        if redis_url:
            try:
                conn = Redis.from_url(redis_url)
                for key in conn.scan_iter(f"*{queue}*"):
                    conn.delete(key)
            except Exception:  # noqa: BLE001 - cleanup only
                pass
        if args.keep_database:
            print(f"database kept: {url}")
        else:
            drop()


def report(name: str, t: dict, target: float | None) -> bool:
    total = t["load"] + t["allocate"] + t["store"] + t["publish"]
    s = t["summary"]
    print(
        f"{name}: {s['students']:,} children, {s['assigned']:,} placed, {s['unassigned']:,} without a seat"
        + (
            f", {s['moved']:,} moved up, {s['newly_placed']:,} newly placed"
            if "moved" in s and name != "round 1"
            else ""
        )
    )
    print(
        f"  load {t['load']:.2f} s · allocate {t['allocate']:.2f} s · store {t['store']:.2f} s · "
        f"publish {t['publish']:.2f} s  = {total:.2f} s   (publish: {t['counts']})"
    )
    print(f"  publish phases: {t['phases']}")
    if target is None:
        return True
    met = total <= target
    print(
        f"  database to published results: {total:.2f} s — target ≤ {target:.0f} s: {'MET' if met else 'MISSED'}"
    )
    return met


def check_rerun(round_id: int) -> None:
    """The stored input re-runs to the stored result (what anyone can do with the files)."""
    rnd = db.session.get(AllocationRound, round_id)
    again = allocate_instance(rnd.input_snapshot)
    same = again["assignment"] == rnd.result["assignment"] and again["cutoffs"] == rnd.result["cutoffs"]
    print(f"  re-run of the stored input gives the stored result: {'yes' if same else 'NO'}")
    db.session.remove()


def drain_notifications(app, queue: str) -> None:
    conn = jobs.redis_connection()
    q = Queue(queue, connection=conn)
    waiting = q.count
    t0 = time.perf_counter()
    SimpleWorker([q], connection=conn).work(burst=True, logging_level="WARNING")
    seconds = time.perf_counter() - t0
    n = db.session.scalar(sa.select(sa.func.count()).select_from(Notification))
    print(
        f"notifications: {waiting} jobs → {n:,} notifications written in {seconds:.1f} s "
        f"(one in-process worker; production runs several)"
    )


if __name__ == "__main__":
    sys.exit(main())
