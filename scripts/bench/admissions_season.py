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
from datetime import date, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(os.path.abspath(__file__)).parents[2]
sys.path.insert(0, str(ROOT))

from _season_pages import PAGE_PASSWORD, time_pages  # noqa: E402 - after the path set-up

TARGET_SECONDS = 30.0
WARDS, GROUPS = 40, 10


def _answers(url: str) -> bool:
    from urllib.parse import urlsplit

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
        from _scratch import scratch_postgres

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


def _insert(db, model, rows: list[dict]) -> list[int]:
    """Bulk INSERT … RETURNING id in parameter order (insertmanyvalues batches)."""
    import sqlalchemy as sa

    if not rows:
        return []
    t = model.__table__
    result = db.session.execute(sa.insert(t).returning(t.c.id, sort_by_parameter_order=True), rows)
    return [r[0] for r in result]


def load(args) -> dict:
    """The district, its catchments and the applications, and the rest of the city (bulk inserts,
    not timed)."""
    from admissions import counters  # lazy: after the bench configures the app
    from admissions.codes import generate_codes  # lazy: after the bench configures the app
    from admissions.models import AdmissionLevel, AdmissionSeason  # lazy: after the bench configures the app
    from app.auth.services import passwords
    from app.extensions import db
    from app.models import AcademicYear, District, User, utcnow  # lazy: after the bench configures the app

    rng = random.Random(2026)  # noqa: S311 - benchmark data
    t0 = time.perf_counter()
    now = utcnow()
    year = now.year
    ay = AcademicYear(
        name=f"{year}-{year + 1}", starts_on=date(year, 9, 5), ends_on=date(year + 1, 5, 31), is_current=True
    )
    district = District(code="BENCH", name="Quận Bench")
    db.session.add_all([ay, district])
    db.session.flush()
    season = AdmissionSeason(academic_year_id=ay.id, phase="official")
    db.session.add(season)
    db.session.flush()
    level = AdmissionLevel(
        season_id=season.id,
        level="grade1",
        opens_at=now - timedelta(days=4),
        closes_at=now - timedelta(hours=1),
        confirm_by=now + timedelta(days=10),
        state="scheduled",
    )
    db.session.add(level)
    officer = User(
        role="district_officer",
        email="bench.officer@example.edu.vn",
        full_name="Cán Bộ Bench",
        district_id=district.id,
    )
    db.session.add(officer)
    db.session.flush()

    admin = User(role="city_admin", email="bench.admin@example.edu.vn", full_name="Quản Trị Bench")
    db.session.add(admin)
    officer.password_hash = admin.password_hash = passwords().hash(PAGE_PASSWORD)
    db.session.flush()
    main = _district(db, level, district.id, args.applications, args.schools, 0, now, rng)
    # The rest of the city (--city): districts of the same size, registered but not allocated.
    rest, k0, d = max(0, args.city - args.applications), args.applications, 1
    second = None
    while rest > 0:
        n = min(rest, args.applications)
        other = District(code=f"BENCH{d}", name=f"Quận Bench {d}")
        db.session.add(other)
        db.session.flush()
        second = second or other.id
        _district(db, level, other.id, n, args.schools, k0, now, rng, prefix=f"{d}")
        rest, k0, d = rest - n, k0 + n, d + 1
    # Every family got its admission code from the school before registering (the level page
    # counts them, the eligible list shows them): the office's own generation, not timed.
    t1 = time.perf_counter()
    issued = generate_codes(db.session.get(AdmissionLevel, level.id), None, record=False)
    db.session.commit()
    print(f"{issued:,} admission codes issued in {time.perf_counter() - t1:.1f} s")
    # The office's counters, as the submissions would have kept them (not timed).
    t1 = time.perf_counter()
    counters.recompute_for_season(level.id)
    db.session.commit()
    if db.engine.dialect.name == "postgresql":
        # What autovacuum does after such a load on a real database: without statistics the
        # planner takes 200,000 rows for a few dozen and picks nested loops.
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.exec_driver_sql("ANALYZE")
    print(f"counters of {k0:,} applications recomputed in {time.perf_counter() - t1:.1f} s")
    return {
        "level_id": level.id,
        "district_id": district.id,
        "second_district_id": second,
        "officer_id": officer.id,
        "admin_id": admin.id,
        "school_id": main["school_ids"][0],
        "applications": args.applications,
        "city": k0,
        "districts": d,
        "schools": main["schools"],
        "choices": main["choices"],
        "seconds": time.perf_counter() - t0,
    }


def _district(db, level, district_id: int, n: int, schools: int, k0: int, now, rng, prefix: str = "") -> dict:
    """One district: wards, groups, schools, catchments, `n` children with parents and applications
    (numbered from k0, so that personal ids, phones and references stay unique across districts)."""

    from admissions import rules  # lazy: after the bench configures the app
    from admissions.models import (  # lazy: after the bench configures the app
        Application,
        ApplicationChoice,
        Catchment,
        Child,
        ParentChild,
        RosterEntry,
    )
    from app.auth.services import passwords  # lazy: after the bench configures the app
    from app.models import ResidentialGroup, School, User, Ward  # lazy: after the bench configures the app

    year = now.year
    ward_ids = _insert(
        db, Ward, [{"district_id": district_id, "name": f"Phường {i + 1}"} for i in range(WARDS)]
    )
    group_ids = {
        w: _insert(db, ResidentialGroup, [{"ward_id": w, "name": f"Tổ {g + 1}"} for g in range(GROUPS)])
        for w in ward_ids
    }
    per_ward = n // WARDS
    n_schools = max(schools, WARDS + 10)
    # Schools 0..39: catchment of ward i (wards 0..9 split by groups with schools 40..49);
    # the rest: no catchment (families choose them). Wards 0..4 are over-demanded.
    caps = []
    for i in range(n_schools):
        if i < 10:
            caps.append(int(per_ward / 2 * (0.6 if i < 5 else 1.15)))
        elif i < WARDS:
            caps.append(int(per_ward * 1.1))
        elif i < 50:
            caps.append(int(per_ward / 2 * 1.15))
        else:
            caps.append(int(per_ward * 0.6))
    school_ids = _insert(
        db,
        School,
        [
            {
                "code": f"TH-B{prefix}{i:03d}",
                "name": f"Tiểu học Bench {prefix}{i:03d}",
                "level": "grade1",
                "district_id": district_id,
                "ward_id": ward_ids[i % WARDS],
                "address": "",
                "capacity": caps[i],
                "latitude": 21.0 + (i % 8) * 0.01,
                "longitude": 105.78 + (i // 8) * 0.01,
            }
            for i in range(n_schools)
        ],
    )
    lines = []
    for w in range(WARDS):
        if w < 10:
            lines += [
                {"school_id": school_ids[w], "ward_id": ward_ids[w], "residential_group_id": g}
                for g in group_ids[ward_ids[w]][:5]
            ]
            lines += [
                {"school_id": school_ids[40 + w], "ward_id": ward_ids[w], "residential_group_id": g}
                for g in group_ids[ward_ids[w]][5:]
            ]
        else:
            lines.append({"school_id": school_ids[w], "ward_id": ward_ids[w], "residential_group_id": None})
    _insert(db, Catchment, lines)
    cmap = rules.CatchmentMap([(x["school_id"], x["ward_id"], x["residential_group_id"]) for x in lines])

    born = rules.birth_year_for("grade1", year)
    roster_rows, homes = [], []
    for k in range(n):
        w = ward_ids[(k // per_ward) % WARDS] if k < per_ward * WARDS else ward_ids[k % WARDS]
        g = group_ids[w][k % GROUPS]
        dob = date(born, 1 + k % 12, 1 + k % 28)
        gender = "female" if k % 2 else "male"
        digit = (dob.year // 100 - 19) * 2 + (1 if gender == "female" else 0)
        roster_rows.append(
            {
                "personal_id": f"001{digit}{dob.year % 100:02d}{k0 + k:06d}",
                "full_name": f"Học Sinh {k:05d}",
                "date_of_birth": dob,
                "gender": gender,
                "ward_id": w,
                "residential_group_id": g,
                "residence_type": "permanent",
                "guardian_name": "Phụ Huynh",
                "guardian_phone": None,
                "imported_at": now,
            }
        )
        homes.append((w, g))
    roster_ids = _insert(db, RosterEntry, roster_rows)
    child_ids = _insert(
        db,
        Child,
        [
            {
                **{
                    c: r[c]
                    for c in (
                        "full_name",
                        "date_of_birth",
                        "gender",
                        "ward_id",
                        "residential_group_id",
                        "residence_type",
                    )
                },
                "roster_entry_id": rid,
                "source": "roster",
                "created_at": now,
            }
            for r, rid in zip(roster_rows, roster_ids, strict=True)
        ],
    )
    digest = passwords().hash("bench password for everyone")
    parent_ids = _insert(
        db,
        User,
        [
            {
                "role": "parent",
                "phone": f"09{k0 + k:08d}",
                "full_name": f"Phụ Huynh {k:05d}",
                "password_hash": digest,
                "active": True,
                "created_at": now,
                "last_login_at": now,
            }
            for k in range(n)
        ],
    )
    _insert(
        db,
        ParentChild,
        [
            {"user_id": p, "child_id": c, "created_at": now}
            for p, c in zip(parent_ids, child_ids, strict=True)
        ],
    )
    spare = school_ids[50:] + school_ids[10:40:3]
    app_rows, wishes = [], []
    for k, (cid, pid) in enumerate(zip(child_ids, parent_ids, strict=True)):
        catchment = cmap.derive(*homes[k]).school_id
        others = (
            rng.sample([s for s in spare if s != catchment], k=rng.choice([1, 2, 3]))
            if rng.random() < 0.4
            else []
        )
        sibling = [rng.choice(school_ids)] if rng.random() < 0.1 else []
        app_rows.append(
            {
                "reference": f"L1-BENCH-{k0 + k:06d}",
                "child_id": cid,
                "admission_level_id": level.id,
                "status": "submitted",
                "is_trial": False,
                "catchment_school_id": catchment,
                "catchment_status": "ok",
                "residence_type": "permanent",
                "sibling_school_ids": sibling,
                "submitted_by_id": pid,
                "submitted_at": now,
                "updated_at": now,
            }
        )
        wishes.append(rules.ranked_choices(others, catchment))
    app_ids = _insert(db, Application, app_rows)
    db.session.execute(
        sa.insert(ApplicationChoice.__table__),
        [
            {"application_id": aid, "rank": r, "school_id": s, "is_catchment": c}
            for aid, ws in zip(app_ids, wishes, strict=True)
            for r, s, c in ws
        ],
    )
    return {"school_ids": school_ids, "schools": n_schools, "choices": sum(len(w) for w in wishes)}


def timed_round(number: int, data: dict, publish_repeat: int = 0) -> dict:
    """Create, run (the job body + its commit) and publish one official round; return the timings."""
    from admissions import freeze, rounds  # lazy: after the bench configures the app
    from admissions.models import AdmissionLevel, AllocationRound
    from app import jobs
    from app.extensions import db
    from app.models import User, utcnow

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
    from app.extensions import db  # lazy: after the bench configures the app

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
    ("jobs", "hand_over"),
)


@contextlib.contextmanager
def publish_phases():
    """Time each step of publish_round while the block runs (wrappers, removed afterwards)."""
    from admissions import rounds  # lazy: after the bench configures the app
    from app import jobs  # lazy: after the bench configures the app

    modules = {"rounds": rounds, "jobs": jobs}
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
    from app.extensions import db  # lazy: after the bench configures the app

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
    from app.extensions import db  # lazy: after the bench configures the app

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
    import sqlalchemy as sa

    from admissions import counters  # lazy: after the bench configures the app
    from admissions.models import Application
    from app.extensions import db
    from app.models import utcnow

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
        from redis import Redis

        Redis.from_url(redis_url, socket_connect_timeout=1).ping()
    except Exception:  # noqa: BLE001 - Redis is optional here
        redis_url = None
    os.environ.setdefault("INSTANCE_PATH", f"/tmp/{queue}")
    try:
        from flask_migrate import upgrade

        from app import create_app
        from app.extensions import db

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
                import admissions.rounds as rounds_module

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
                from redis import Redis

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
    from admissions.allocation import allocate_instance
    from admissions.models import AllocationRound
    from app.extensions import db

    rnd = db.session.get(AllocationRound, round_id)
    again = allocate_instance(rnd.input_snapshot)
    same = again["assignment"] == rnd.result["assignment"] and again["cutoffs"] == rnd.result["cutoffs"]
    print(f"  re-run of the stored input gives the stored result: {'yes' if same else 'NO'}")
    db.session.remove()


def drain_notifications(app, queue: str) -> None:
    import sqlalchemy as sa
    from rq import Queue, SimpleWorker

    from app import jobs
    from app.extensions import db
    from app.notifications.models import Notification

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
