#!/usr/bin/env python
"""Opening day: the parent's journey under load, against the machine's floor in the same run.

    .venv/bin/python scripts/load/journeys.py [--quick] [--journeys 3000] [--seconds 60]
        [--concurrency 16] [--workers 4] [--generators 2] [--rounds 3] [--port 0] [--floor-port 0]
        [--paced 0.7] [--paced-seconds 20] [--overload 5] [--overload-seconds 10]

1. A scratch PostgreSQL database (DATABASE_URL names the server; default
   postgresql+psycopg://postgres@127.0.0.1:5432) is migrated and seeded: one district, its grade-1
   window open, a roster child with an admission code for every family.
2. The app runs under gunicorn (--workers sync processes) on 127.0.0.1, without Redis (jobs run
   in-process). Families each take the journey — register, home, add the child (code, personal
   ID, date of birth), the child's page, the application form, submit (a school chosen), the
   receipt: 11 requests (the code the SMS brought included), forms parsed and posted as a browser posts them, CSRF tokens included —
   `--concurrency` at a time (closed loop), until --journeys have started or --seconds have passed.
3. The floor: the same generator against scripts/load/floor.py (the same 11 requests, one indexed
   query each, one argon2 hash per journey) under the same gunicorn settings. Both servers run
   side by side and the generator drives them in alternating slices (--rounds), so that the
   machine's other work weighs on both alike.
4. Returning parents log in (the login page, then the login) for a third of that time, in slices
   alternating with the same logins against the floor and with the raw argon2 verify rate of this
   machine with the app's parameters (one process per core).
5. Paced: new families arrive at random (Poisson) times at --paced (default 0.7) of the rate
   the app just sustained, each whatever the others are doing (an open loop), for --paced-seconds;
   the requests' p50/p95/p99 there are the latency at that share of the saturating rate.
6. Overload: last, new families arrive the same way at --overload (default 5) times the rate
   the app sustained, for --overload-seconds, and the queue is left to drain: the app must
   answer no request with a 5xx and lose no submission it acknowledged, only answer later.
7. Every submission the app acknowledged (a redirect to its receipt) must be in the database
   exactly once.

The last line: RESULT journeys_per_s=… floor_per_s=… ratio=… p99_ms=… lost=… duplicates=…
Loopback only; the scratch database is dropped at the end. A benchmark, not a test: the machine's
other work moves the absolute figures, the ratio to the same-run floor much less.
"""

from __future__ import annotations

import argparse
import math
import multiprocessing
import os
import random
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "scripts" / "bench"))  # _scratch (after the packages: bench has a contactbook.py)

import client  # noqa: E402
import sms_sink  # noqa: E402
from _scratch import scratch_postgres  # noqa: E402
from client import LOGIN_STEPS, STEPS, Tally, drive, pace  # noqa: E402
from floor import create_tables  # noqa: E402
from gunicorn_hooks import empty_row  # noqa: E402
from seed import backend_pids, check_submissions, seed  # noqa: E402
from servers import Server, cpu_of, free_port, generator_cpu  # noqa: E402

from app import create_app  # noqa: E402
from app.config import Config  # noqa: E402
from app.security import Passwords  # noqa: E402

PUBLIC_URL = "http://127.0.0.1"
SECRET = "load-test-secret-not-for-production-0123456789"  # noqa: S105 - a scratch database's app


def _args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="a short run (under two minutes)")
    p.add_argument("--journeys", type=int, default=3000, help="journeys at most (default 3000)")
    p.add_argument("--seconds", type=float, default=60.0, help="seconds of journeys at most (default 60)")
    p.add_argument("--concurrency", type=int, default=16, help="families at a time (default 16)")
    p.add_argument("--workers", type=int, default=4, help="gunicorn worker processes (default 4)")
    p.add_argument("--generators", type=int, default=2, help="load generator processes (default 2)")
    p.add_argument("--port", type=int, default=0, help="the app's port on 127.0.0.1 (default: a free one)")
    p.add_argument("--floor-port", type=int, default=0, help="the floor app's port (default: a free one)")
    p.add_argument("--rounds", type=int, default=3, help="alternating app/floor slices (default 3)")
    p.add_argument("--seed", type=int, default=2026, help="random seed")
    p.add_argument(
        "--paced", type=float, default=0.7, help="paced arrivals: share of the sustained rate (default 0.7)"
    )
    p.add_argument("--paced-seconds", type=float, default=20.0, help="seconds of paced arrivals (default 20)")
    p.add_argument(
        "--overload",
        type=float,
        default=5.0,
        help="overload arrivals: times the sustained rate (default 5, 0: none)",
    )
    p.add_argument(
        "--overload-seconds", type=float, default=10.0, help="seconds of overload arrivals (default 10)"
    )
    a = p.parse_args()
    if a.quick:
        a.journeys, a.seconds = min(a.journeys, 600), min(a.seconds, 12.0)
        a.paced_seconds = min(a.paced_seconds, 6.0)
        a.overload_seconds = min(a.overload_seconds, 4.0)
    return a


def percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[max(0, math.ceil(p * len(s)) - 1)]


def _in_generators(calls: list[tuple]) -> tuple[Tally, float]:
    """Run each (function, *arguments) in a generator process of its own (forked); what they saw,
    merged, and the wall time."""
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=len(calls), mp_context=multiprocessing.get_context("fork")) as pool:
        futures = [pool.submit(*call) for call in calls]
        total = Tally()
        for f in futures:
            total.merge(f.result())
    return total, time.perf_counter() - t0


def run_phase(kind: str, base: str, items: list, phase: str, args, seconds: float) -> tuple[Tally, float]:
    """Split the items over the generator processes, a closed loop in each."""
    g = max(1, min(args.generators, args.concurrency))
    threads = [args.concurrency // g + (1 if i < args.concurrency % g else 0) for i in range(g)]
    deadline = time.time() + seconds
    return _in_generators(
        [(drive, kind, base, items[i::g], phase, threads[i], deadline, i * 1_000_000) for i in range(g)]
    )


def run_paced(
    base: str, items: list, args, seconds: float, rate: float, phase: str = "paced", threads: int = 64
) -> tuple[Tally, float]:
    """Journeys arriving at `rate` a second (Poisson, split over the generator processes), at most
    `threads` at once in each; the wall time includes the last journeys' end."""
    g = max(1, args.generators)
    deadline = time.time() + seconds
    first = {"paced": 5_000_000, "overload": 12_000_000}[phase]  # the families' addresses, apart
    return _in_generators(
        [
            (pace, "journey", base, items[i::g], phase, rate / g, deadline, first + i * 1_000_000, threads)
            for i in range(g)
        ]
    )


def _verify_loop(stored: str, password: str, seconds: float) -> int:
    ph = Passwords(Config.ARGON2_TIME_COST, Config.ARGON2_MEMORY_COST, Config.ARGON2_PARALLELISM)
    n, until = 0, time.perf_counter() + seconds
    while time.perf_counter() < until:
        ph.verify(stored, password)
        n += 1
    return n


def raw_verify(seconds: float) -> tuple[int, float]:
    """argon2 verifies with the app's parameters, one process per core for `seconds`: (count, wall)."""
    ph = Passwords(Config.ARGON2_TIME_COST, Config.ARGON2_MEMORY_COST, Config.ARGON2_PARALLELISM)
    stored = ph.hash("mot ngay dep troi")
    cores = os.cpu_count() or 1
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=cores, mp_context=multiprocessing.get_context("fork")) as pool:
        n = sum(pool.map(_verify_loop, [stored] * cores, ["mot ngay dep troi"] * cores, [seconds] * cores))
    return n, time.perf_counter() - t0


def print_steps(tally: Tally, steps: tuple[str, ...], stats: dict, phase: str) -> None:
    print(
        f"  {'step':<16}{'n':>7}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}{'statements':>12}{'server CPU ms':>15}"
    )
    for step in steps:
        v = tally.latencies.get(step, [])
        row = stats.get(f"{phase} {step}") or empty_row()
        print(
            f"  {step:<16}{len(v):>7}{percentile(v, 0.5) * 1000:>9.1f}"
            f"{percentile(v, 0.95) * 1000:>9.1f}{percentile(v, 0.99) * 1000:>9.1f}"
            f"{row[1] / max(row[0], 1):>12.1f}{row[5] / max(row[0], 1) * 1000:>15.2f}"
        )
    if tally.errors:
        print(
            "  errors by step and status: " + ", ".join(f"{k}: {v}" for k, v in sorted(tally.errors.items()))
        )
    else:
        print("  errors: none")


def print_request_share(stats: dict, phase: str, cpu: float, n: int) -> None:
    """The server's CPU per journey inside its requests (parsed request to written response,
    the "server CPU ms" column summed) and outside them (the master, accepting, reading and
    parsing requests, closing connections)."""
    inside = sum((stats.get(f"{phase} {step}") or empty_row())[5] for step in STEPS) / max(n, 1)
    print(
        f"  the server's CPU per journey in its requests {inside * 1000:.1f} ms, outside them "
        f"{(cpu / max(n, 1) - inside) * 1000:.1f} ms (accepting, reading, parsing, closing; the master)"
    )


def print_open_loop(tally: Tally, stats: dict, phase: str) -> None:
    """The steps of an open-loop slice, every request's percentiles and the generator's lateness."""
    print_steps(tally, STEPS, stats, phase)
    lat = [x for step in STEPS for x in tally.latencies.get(step, [])]
    print(
        f"  every request: p50 {percentile(lat, 0.5) * 1000:.0f} ms, p95 {percentile(lat, 0.95) * 1000:.0f} ms, "
        f"p99 {percentile(lat, 0.99) * 1000:.0f} ms; journeys started late by the generator: "
        f"{sum(1 for x in tally.late if x > 0.05)} (> 50 ms), at most {max(tally.late, default=0) * 1000:.0f} ms"
    )


def app_env(url: str, instance: str) -> dict:
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "DATABASE_URL", "FLASK_APP")}
    env.update(
        DATABASE_URL=url,
        SECRET_KEY=SECRET,
        COOKIE_SECURE="0",
        TRUSTED_PROXIES="1",  # each family from its own address (X-Forwarded-For), as behind the proxy
        INSTANCE_PATH=instance,
        PUBLIC_URL=PUBLIC_URL,  # links in SMS and emails; a production app must have it
    )
    return env


def main() -> int:
    args = _args()
    rng = random.Random(args.seed)
    server_url = os.environ.get("DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    if not server_url.startswith(("postgres://", "postgresql")):
        print("DATABASE_URL must name a PostgreSQL server (a scratch database is created on it)")
        return 2
    started = time.perf_counter()
    url, name, drop = scratch_postgres(server_url, "tsll_load")
    sms_url, sms = sms_sink.start()
    client.SMS_GATEWAY = sms_url  # the generator's processes (forked) read the codes there
    env = app_env(url, tempfile.mkdtemp(prefix="tsll-load-instance-"))
    env["SMS_GATEWAY_URL"] = sms_url + "/sms"  # the app and the floor send their SMS there
    try:
        return _run(args, rng, url, name, env, started)
    finally:
        sms.shutdown()
        drop()


def _run(args, rng, url, name, env, started) -> int:
    warm = max(8, args.concurrency)
    # the paced slice's families come after the closed loop's: as many as the closed loop may
    # start in as many seconds, more than a share of its rate needs
    most_per_s = args.journeys / max(args.seconds, 1.0)
    n_paced = math.ceil(args.paced_seconds * most_per_s) if args.paced > 0 else 0
    n_over = math.ceil(args.overload * args.overload_seconds * most_per_s) if args.overload > 0 else 0
    n = args.journeys + warm + n_paced + n_over
    t = time.perf_counter()
    app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "PUBLIC_URL": PUBLIC_URL})
    families = seed(app, n, rng)
    print(f"seeded {name}: {n} roster children with codes ({time.perf_counter() - t:.1f} s)")
    print(f"load before: {_uptime()}")

    # Both servers run side by side; the generator drives one at a time, in alternating slices,
    # so that the machine's other work weighs on the app and on the floor alike.
    create_tables(url)
    srv = Server("app", "app:create_app()", args.port or free_port(), args.workers, env, str(ROOT))
    floor = Server(
        "floor", f"floor:create_floor({url!r})", args.floor_port or free_port(), args.workers, env, str(HERE)
    )
    rounds = max(1, args.rounds)
    over_families = families[len(families) - n_over :] if n_over else []
    paced_families = families[len(families) - n_over - n_paced : len(families) - n_over]
    per = (len(families) - n_over - n_paced - warm) // rounds
    tally, ftally, login_tally, floor_logins = Tally(), Tally(), Tally(), Tally()
    paced, over = Tally(), Tally()
    wall = fwall = login_wall = floor_login_wall = verify_wall = paced_wall = paced_rate = 0.0
    over_wall = over_rate = 0.0
    verified = 0
    cpu_run = cpu_login = cpu_floor_login = gen_run = gen_login = pg_login = 0.0
    cpu_floor = gen_floor = pg_app = pg_floor = 0.0
    try:
        srv.wait_ready("/auth/login")
        floor.wait_ready("/auth/register")
        warm_tally, _ = run_phase("journey", srv.base, families[:warm], "warmup", args, 60)
        run_phase("journey", floor.base, families[:warm], "warmup", args, 60)
        # Both servers' pooled connections, opened by the warm-up: only the one driven works.
        pg_run = backend_pids(app, name)
        for r in range(rounds):
            chunk = families[warm + r * per : warm + (r + 1) * per]
            cpu0, gen0, pg0 = srv.cpu(), generator_cpu(), cpu_of(pg_run)
            t, w = run_phase("journey", srv.base, chunk, "run", args, args.seconds / rounds)
            cpu_run += srv.cpu() - cpu0
            gen_run += generator_cpu() - gen0
            pg_app += cpu_of(pg_run) - pg0
            tally.merge(t)
            wall += w
            cpu0, gen0, pg0 = floor.cpu(), generator_cpu(), cpu_of(pg_run)
            t, w = run_phase("journey", floor.base, chunk, "run", args, args.seconds / rounds)
            cpu_floor += floor.cpu() - cpu0
            gen_floor += generator_cpu() - gen0
            pg_floor += cpu_of(pg_run) - pg0
            ftally.merge(t)
            fwall += w
        if paced_families and wall > 0:
            paced_rate = args.paced * tally.completed / wall
            paced, paced_wall = run_paced(srv.base, paced_families, args, args.paced_seconds, paced_rate)
        logins = tally.logins + warm_tally.logins
        rng.shuffle(logins)
        per_login = len(logins) // rounds
        login_seconds = max(3.0, args.seconds / 3) / rounds
        pg = backend_pids(app, name)
        for r in range(rounds):
            chunk = logins[r * per_login : (r + 1) * per_login]
            cpu0, gen0, pg0 = srv.cpu(), generator_cpu(), cpu_of(pg)
            t, w = run_phase("login", srv.base, chunk, "login", args, login_seconds)
            cpu_login += srv.cpu() - cpu0
            gen_login += generator_cpu() - gen0
            pg_login += cpu_of(pg) - pg0
            login_tally.merge(t)
            login_wall += w
            fcpu0 = floor.cpu()
            t, w = run_phase("login", floor.base, chunk, "login", args, login_seconds)
            cpu_floor_login += floor.cpu() - fcpu0
            floor_logins.merge(t)
            floor_login_wall += w
            n_verified, w = raw_verify(min(login_seconds, 3.0))
            verified += n_verified
            verify_wall += w
        if over_families and wall > 0:  # last: its queue must not weigh on the slices above
            over_rate = args.overload * tally.completed / wall
            # no cap in practice: every family arriving in the window is on its way at once
            cap = len(over_families) // max(1, args.generators) + 1
            over, over_wall = run_paced(
                srv.base, over_families, args, args.overload_seconds, over_rate, "overload", cap
            )
    finally:
        stats = srv.stop()
        fstats = floor.stop()
    verify_rate = verified / verify_wall
    acknowledged = {}
    for t in (warm_tally, tally, paced, over):
        acknowledged.update(t.acknowledged)
    lost, duplicates = check_submissions(app, acknowledged)

    jps = tally.completed / wall
    fps = ftally.completed / fwall
    all_lat = [x for step in STEPS for x in tally.latencies.get(step, [])]
    p99 = percentile(all_lat, 0.99) * 1000
    run_stats = stats.get("run") or empty_row()
    per_journey = tally.completed or 1
    lps = login_tally.completed / login_wall

    print(
        f"\nAPP  gunicorn {args.workers} workers, {args.concurrency} families at a time, {args.generators} generators"
    )
    print(
        f"  journeys: {tally.completed} completed of {tally.started} started in {wall:.1f} s → {jps:.2f} journeys/s"
    )
    print_steps(tally, STEPS, stats, "run")
    print(
        f"  CPU per journey: app {cpu_run / per_journey * 1000:.1f} ms, "
        f"generator {gen_run / per_journey * 1000:.1f} ms, PostgreSQL {pg_app / per_journey * 1000:.1f} ms"
    )
    print_request_share(stats, "run", cpu_run, per_journey)
    print(
        f"  statements per journey: {run_stats[1] / per_journey:.1f} "
        f"({run_stats[2] / per_journey * 1000:.1f} ms of SQL); per request {run_stats[1] / max(run_stats[0], 1):.2f}"
    )
    if paced.started:
        print(
            f"\nPACED  arrivals at {args.paced:.0%} of the rate above ({paced_rate:.2f} journeys/s, Poisson): "
            f"{paced.started} started in {paced_wall:.1f} s ({paced.started / max(paced_wall, 1e-9):.2f}/s), "
            f"{paced.completed} completed"
        )
        print_open_loop(paced, stats, "paced")
    print(f"\nLOGINS  {login_tally.completed} in {login_wall:.1f} s → {lps:.1f} logins/s")
    print_steps(login_tally, LOGIN_STEPS, stats, "login")
    n_login = max(login_tally.completed, 1)
    app_ms = cpu_login / n_login * 1000
    raw_ms = verify_wall * (os.cpu_count() or 1) / max(verified, 1) * 1000
    print(
        f"  CPU per login: app {app_ms:.1f} ms, generator {gen_login / n_login * 1000:.1f} ms, "
        f"PostgreSQL {pg_login / n_login * 1000:.1f} ms ({len(pg)} server processes)"
    )
    lrow = stats.get("login") or empty_row()
    print(
        f"  argon2 in the app: {lrow[3] / max(lrow[4], 1) * 1000:.1f} ms of a core each ({lrow[4]} calls), "
        f"{lrow[3] / max(cpu_login, 1e-9) * 100:.1f} % of the app's CPU in the login slices"
    )
    print(f"  raw argon2 verify: {raw_ms:.1f} ms of a core each")
    print(f"  raw argon2 verify rate ({os.cpu_count()} processes): {verify_rate:.1f}/s")
    print(f"  logins/s vs raw verify rate: {lps / verify_rate * 100:.1f}%")
    flps = floor_logins.completed / max(floor_login_wall, 1e-9)
    print(
        f"  the floor's logins (same generator, same families): {floor_logins.completed} in "
        f"{floor_login_wall:.1f} s → {flps:.1f}/s, {flps / verify_rate * 100:.1f}% of the raw verify rate; "
        f"the app's logins {lps / flps * 100 if flps else 0:.1f}% of the floor's"
        + (f"; errors {floor_logins.errors}" if floor_logins.errors else "")
    )
    floor_ms = cpu_floor_login / max(floor_logins.completed, 1) * 1000
    print(
        f"  the servers' own CPU per login (gunicorn's processes): app {app_ms:.1f} ms, floor {floor_ms:.1f} ms; "
        f"a raw verify is {raw_ms / app_ms * 100 if app_ms else 0:.1f} % of the app's, "
        f"{raw_ms / floor_ms * 100 if floor_ms else 0:.1f} % of the floor's (the most either could reach on a "
        "machine of its own)"
    )
    if over.started:
        print(
            f"\nOVERLOAD  arrivals at {args.overload:g}× the rate above ({over_rate:.2f} journeys/s, Poisson) "
            f"for {args.overload_seconds:g} s: {over.started} started, {over.completed} completed; the last "
            f"ended {over_wall:.1f} s after the first arrived ({over.completed / max(over_wall, 1e-9):.2f} "
            "journeys/s served meanwhile)"
        )
        print_open_loop(over, stats, "overload")
        print(f"  answers 5xx: {over.server_errors()}")
        expected = over_rate * args.overload_seconds
        if over.started < 0.8 * expected:  # a faster machine than the seeding assumed
            print(f"  note: the seeded families ran out ({over.started} of ~{expected:.0f} arrivals)")
    f_run = fstats.get("run") or empty_row()
    print(f"\nFLOOR  {ftally.completed} journeys in {fwall:.1f} s → {fps:.2f} journeys/s")
    print_steps(ftally, STEPS, fstats, "run")
    per_floor = max(ftally.completed, 1)
    print(
        f"  CPU per journey: floor {cpu_floor / per_floor * 1000:.1f} ms, "
        f"generator {gen_floor / per_floor * 1000:.1f} ms, PostgreSQL {pg_floor / per_floor * 1000:.1f} ms"
    )
    print_request_share(fstats, "run", cpu_floor, per_floor)
    print(f"  statements per journey: {f_run[1] / per_floor:.1f}")
    app_total = (cpu_run + gen_run + pg_app) / per_journey
    floor_total = (cpu_floor + gen_floor + pg_floor) / per_floor
    if app_total and floor_total:
        print(
            f"  the machine's CPU per journey (server, generator, PostgreSQL's connections): app "
            f"{app_total * 1000:.1f} ms, floor {floor_total * 1000:.1f} ms → {floor_total / app_total:.3f}"
        )
    print(f"\nsubmissions acknowledged: {len(acknowledged)}; lost {lost}; duplicates {duplicates}")
    print(f"load after: {_uptime()}; total {time.perf_counter() - started:.0f} s")
    print(
        f"RESULT journeys_per_s={jps:.2f} floor_per_s={fps:.2f} ratio={jps / fps if fps else 0:.3f} "
        f"p99_ms={p99:.0f} lost={lost} duplicates={duplicates}"
    )
    return 0


def _uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()  # noqa: S607
    except OSError:
        return "?"


if __name__ == "__main__":
    sys.exit(main())
