#!/usr/bin/env python
"""Where the journey's CPU goes: the load test's journey (scripts/load/client.py) run in this
process through the app's WSGI interface, one request at a time, with the CPU time of each step
and, optionally, a profile of every request.

    .venv/bin/python scripts/load/cpu_profile.py [--journeys 60] [--logins 30] [--profile out.prof]
        [--top 40] [--sort tottime]

The database is a scratch PostgreSQL database seeded as the load test seeds it (DATABASE_URL
names the server), the app is configured as the load test's gunicorn runs it (production
settings, no Redis: jobs run in-process, the SMS go to a local gateway). CPU is this thread's
(time.thread_time), so the gateway's thread and the database server do not count: it is the app's
own cost per request, without gunicorn's HTTP parsing. A tool, not a test.
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import random
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "scripts" / "bench"))

import client  # noqa: E402
import journeys  # noqa: E402
import sms_sink  # noqa: E402
from _scratch import scratch_postgres  # noqa: E402
from client import LOGIN_STEPS, STEPS, Tally  # noqa: E402
from seed import seed  # noqa: E402

from app import create_app  # noqa: E402
from app.config import Config  # noqa: E402
from app.security import Passwords  # noqa: E402

STATE: dict = {}  # the app, the profiler and the per-step CPU, set by main()


class InProcess:
    """client.Browser's interface over the app's test client: same headers, same cookies."""

    def __init__(self, base: str, address: str, phase: str, timeout: float = 30.0):
        self.client = STATE["app"].test_client()
        self.address, self.phase = address, phase

    def close(self) -> None:
        pass

    def request(self, method: str, path: str, body: str | None = None, step: str = ""):
        headers = {
            "User-Agent": "Mozilla/5.0 (Linux; Android 14) load-test",
            "Accept": "text/html",
            "Accept-Language": "vi",
            "X-Forwarded-For": self.address,
        }
        kwargs = {"headers": headers, "base_url": "http://127.0.0.1/"}  # http, as the load test
        if body is not None:
            headers["Origin"] = "http://127.0.0.1"
            headers["Referer"] = "http://127.0.0.1" + path
            kwargs.update(data=body, content_type="application/x-www-form-urlencoded")
        parts = urlsplit(path)
        prof: cProfile.Profile | None = STATE["profiler"]
        t0 = time.thread_time()
        if prof and STATE["step"] in ("", step):
            prof.enable()
        STATE["in_app"] = 0.0
        resp = self.client.open(parts.path, method=method, query_string=parts.query, **kwargs)
        text = resp.get_data(as_text=True)
        if prof:
            prof.disable()
        STATE["cpu"].setdefault(step, []).append(time.thread_time() - t0)
        STATE["app_cpu"].setdefault(step, []).append(STATE["in_app"])
        return resp.status_code, {k.lower(): v for k, v in resp.headers.items()}, text


def _time_the_wsgi_call(app) -> None:
    """The app's own CPU per request: its WSGI callable (middleware, Flask, the view, the
    teardown), without the test client building the request and reading the response (which
    gunicorn does its own way, outside the app, in the load test)."""
    inner = app.wsgi_app

    def timed(environ, start_response):
        t0 = time.thread_time()
        try:
            return inner(environ, start_response)
        finally:
            STATE["in_app"] += time.thread_time() - t0

    app.wsgi_app = timed


def _mean(samples: dict, step: str) -> float:
    v = samples.get(step) or [0.0]
    return sum(v) / len(v) * 1000


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--journeys", type=int, default=60, help="journeys measured (default 60)")
    p.add_argument("--warm", type=int, default=10, help="journeys before measuring (default 10)")
    p.add_argument("--logins", type=int, default=30, help="logins measured (default 30)")
    p.add_argument("--profile", default="", help="write the profile of the measured requests here")
    p.add_argument("--top", type=int, default=0, help="print the top N functions of the profile")
    p.add_argument("--step", default="", help="profile only this step (e.g. apply_page)")
    p.add_argument("--sort", default="tottime", help="profile order: tottime or cumulative")
    args = p.parse_args()

    server_url = os.environ.get("DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    url, name, drop = scratch_postgres(server_url, "tsll_prof")
    sms_url, sms = sms_sink.start()
    client.SMS_GATEWAY = sms_url

    os.environ.update(journeys.app_env(url, tempfile.mkdtemp(prefix="tsll-prof-instance-")))
    os.environ["SMS_GATEWAY_URL"] = sms_url + "/sms"
    os.environ.pop("REDIS_URL", None)
    try:
        return _run(args, url, journeys)
    finally:
        sms.shutdown()
        drop()


def _run(args, url, journeys) -> int:
    n = args.warm + args.journeys
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": url,
            "SECRET_KEY": journeys.SECRET,
            "PUBLIC_URL": journeys.PUBLIC_URL,
            "SESSION_COOKIE_SECURE": False,
            "TRUSTED_PROXIES": 1,
            "SMS_GATEWAY_URL": os.environ["SMS_GATEWAY_URL"],
            "REDIS_URL": None,
        }
    )
    families = seed(app, n, random.Random(2026))
    client.Browser = InProcess
    _time_the_wsgi_call(app)
    STATE.update(app=app, profiler=None, cpu={}, app_cpu={})
    tally = Tally()
    for i, fam in enumerate(families[: args.warm]):
        client.journey("http://127.0.0.1", fam, f"10.0.0.{i % 250}", "warm", tally)
    STATE["cpu"], STATE["app_cpu"] = {}, {}
    prof = cProfile.Profile(time.thread_time) if (args.profile or args.top) else None  # CPU, not wall
    STATE["profiler"] = prof
    STATE["step"] = args.step
    measured = Tally()
    for i, fam in enumerate(families[args.warm :]):
        client.journey("http://127.0.0.1", fam, f"10.1.{i // 250}.{i % 250}", "run", measured)
    logins = (tally.logins + measured.logins)[: args.logins]
    for i, cred in enumerate(logins):
        client.login("http://127.0.0.1", cred, f"10.2.{i // 250}.{i % 250}", "login", measured)
    if measured.errors:
        print("errors:", measured.errors)
    cpu, app_cpu = STATE["cpu"], STATE["app_cpu"]
    print(f"{'step':<16}{'n':>5}{'CPU ms mean':>13}{'median':>9}{'in the app':>12}")
    total = 0.0
    for step in STEPS + LOGIN_STEPS:
        v = sorted(cpu.get(step, []))
        if not v:
            continue
        mean = sum(v) / len(v) * 1000
        if step in STEPS:
            total += mean
        print(f"{step:<16}{len(v):>5}{mean:>13.2f}{v[len(v) // 2] * 1000:>9.2f}{_mean(app_cpu, step):>12.2f}")
    non_hash = [s for s in STEPS if s != "register"]
    nh = sum(_mean(cpu, s) for s in non_hash)
    own = sum(_mean(app_cpu, s) for s in non_hash)
    print(
        f"journey CPU {total:.1f} ms; the {len(non_hash)} requests without a hash {nh / len(non_hash):.2f} ms each"
        f" ({own / len(non_hash):.2f} ms in the app's WSGI call, the rest the test client's request and"
        " response handling)"
    )

    ph = Passwords(Config.ARGON2_TIME_COST, Config.ARGON2_MEMORY_COST, Config.ARGON2_PARALLELISM)
    stored = ph.hash("mot ngay dep troi")
    t0 = time.thread_time()
    for _ in range(20):
        ph.verify(stored, "mot ngay dep troi")
    print(f"argon2 verify with the app's parameters: {(time.thread_time() - t0) / 20 * 1000:.2f} ms")
    if prof:
        if args.profile:
            prof.dump_stats(args.profile)
        if args.top:
            pstats.Stats(prof).sort_stats(args.sort).print_stats(args.top)
    return 0


if __name__ == "__main__":
    sys.exit(main())
