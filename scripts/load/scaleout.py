"""Scale-out on one machine: two app instances behind HAProxy share sessions, rate limits and jobs.

    .venv/bin/python scripts/load/scaleout.py [--journeys 12] [--workers 2]

1. A scratch PostgreSQL database (DATABASE_URL names the server, as for journeys.py) is migrated
   and seeded (one district, its window open, a roster child with a code per family).
2. Two app instances (gunicorn, --workers processes each) on their own ports, the same database,
   the same Redis (REDIS_URL, default redis://127.0.0.1:6379/0) on a private job queue, and two
   RQ workers (`flask --app app worker <queue>`); HAProxy (the Debian package's binary, our own
   config: scripts/load/haproxy.cfg, on a private port, not the system service) in front, round
   robin per request, no stickiness.
3. It checks, and prints, each of:
   - journeys hop: families take the whole journey through HAProxy (register, the SMS code,
     add the child, apply, submit, receipt); every journey's requests are answered by both
     instances, and every acknowledged submission is in the database exactly once;
   - sessions: a login made on instance A is honoured by B, and a logout on B ends it on A;
   - rate limits: failed logins of one account, alternating A and B, are counted once for
     both (the attempt after the allowance answers 429);
   - jobs: the SMS of every registration, queued by either instance, was sent by the workers
     (the codes arrived), and the queue is empty at the end.
The last line: SCALEOUT ok=<yes|no> journeys=<n> hops=<n> lost=<n> duplicates=<n>.
Loopback only; the scratch database, the queue and the processes are removed at the end.
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from redis import Redis
from rq import Queue
from rq.registry import FinishedJobRegistry

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
sys.path.insert(0, str(ROOT))
sys.path.append(str(ROOT / "scripts" / "bench"))

import client  # noqa: E402
import sms_sink  # noqa: E402
from _scratch import scratch_postgres  # noqa: E402
from client import Browser, Tally, form_with  # noqa: E402
from journeys import PUBLIC_URL, SECRET, app_env  # noqa: E402
from seed import check_submissions, seed  # noqa: E402
from servers import Server, free_port  # noqa: E402

from app import create_app  # noqa: E402

SERVED = "x-served-by"


class _Recorder:
    """Which instance answered each request (HAProxy's X-Served-By), per Browser."""

    def __init__(self):
        self.by_browser: dict[int, list[str]] = {}
        self._original = Browser.request
        recorder = self

        def request(browser, *args, **kwargs):
            status, headers, text = recorder._original(browser, *args, **kwargs)
            recorder.by_browser.setdefault(id(browser), []).append(headers.get(SERVED, "?"))
            return status, headers, text

        Browser.request = request

    def restore(self) -> None:
        Browser.request = self._original


def start_haproxy(front: int, a: int, b: int, log_path: str) -> subprocess.Popen:
    binary = shutil.which("haproxy") or "/usr/sbin/haproxy"
    if not os.path.exists(binary):
        raise SystemExit("haproxy is not installed (apt-get install -y haproxy)")
    env = {**os.environ, "FRONT_PORT": str(front), "APP_A": f"127.0.0.1:{a}", "APP_B": f"127.0.0.1:{b}"}
    log = open(log_path, "w")  # noqa: SIM115 - lives as long as the process
    proc = subprocess.Popen(  # noqa: S603 - our own binary and config
        [binary, "-db", "-f", str(HERE / "haproxy.cfg")], env=env, stdout=log, stderr=subprocess.STDOUT
    )
    until = time.time() + 20
    while time.time() < until:
        try:
            b_ = Browser(f"http://127.0.0.1:{front}", "10.9.0.1", "scaleout")
            status, headers, _ = b_.request("GET", "/auth/login")
            b_.close()
            if status == 200 and headers.get(SERVED):
                return proc
        except OSError:
            pass
        if proc.poll() is not None:
            raise SystemExit(f"haproxy exited: see {log_path}")
        time.sleep(0.3)
    raise SystemExit(f"haproxy did not answer: see {log_path}")


def start_worker(env: dict, queue: str, log_path: str) -> subprocess.Popen:
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    log = open(log_path, "w")  # noqa: SIM115 - lives as long as the process
    return subprocess.Popen(  # noqa: S603 - our own command
        [flask, "--app", "app", "worker", queue], env=env, cwd=str(ROOT), stdout=log, stderr=subprocess.STDOUT
    )


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def check_journeys(front: str, families: list, recorder: _Recorder) -> tuple[Tally, int, list[str]]:
    """Each family's whole journey through HAProxy, one after the other."""
    tally, hops, problems = Tally(), 0, []
    for i, family in enumerate(families):
        recorder.by_browser.clear()
        client.journey(front, family, f"10.8.{i // 250}.{i % 250 + 1}", "scaleout", tally)
        served = {name for names in recorder.by_browser.values() for name in names} - {"?"}
        if len(served) >= 2:
            hops += 1
        else:
            problems.append(f"journey {i}: answered only by {sorted(served)}")
    return tally, hops, problems


def _login(b: Browser, login: str, password: str) -> int:
    _, _, page = b.request("GET", "/auth/login")
    form = form_with(page, "login", "login_page")
    status, _, _ = b.request(
        "POST", form.action or "/auth/login", form.payload({"login": login, "password": password})
    )
    return status


def _on(b: Browser, port: int) -> Browser:
    """The same phone (cookies, address) talking to another instance."""
    b.close()
    b.port = port
    return b


def check_sessions(a: int, b: int, login: str, password: str) -> list[str]:
    problems = []
    phone = Browser(f"http://127.0.0.1:{a}", "10.7.0.1", "scaleout")
    if _login(phone, login, password) != 302:
        return ["sessions: the login on A failed"]
    status, headers, _ = _on(phone, b).request("GET", "/home")
    if status != 200:
        problems.append(f"sessions: B answered {status} to A's session ({headers.get('location')})")
    _, _, page = phone.request("GET", "/home")
    forms = [f for f in client.forms_of(page) if (f.action or "").endswith("/auth/logout")]
    if not forms:
        problems.append("sessions: no logout form on B's home page")
    else:
        phone.request("POST", "/auth/logout", forms[0].payload({}))
        status, headers, _ = _on(phone, a).request("GET", "/home")
        if status != 302 or "/auth/login" not in headers.get("location", ""):
            problems.append(f"sessions: after a logout on B, A answered {status}")
    phone.close()
    return problems


def check_rate_limits(a: int, b: int, login: str, allowance: int) -> list[str]:
    """Failures alternate A, B, A…: with one shared count the attempt after the allowance's next
    failure waits (429); with a count per process neither would have reached it."""
    phone = Browser(f"http://127.0.0.1:{a}", "10.6.0.1", "scaleout")
    statuses = []
    for i in range(allowance + 2):
        _on(phone, a if i % 2 == 0 else b)
        statuses.append(_login(phone, login, "not the password"))
    phone.close()
    if statuses[-1] != 429 or 429 in statuses[:allowance]:
        return [f"rate limits: statuses {statuses}, expected the last one 429 and none before the allowance"]
    return []


def check_jobs(env: dict, queue: str, tally: Tally) -> list[str]:
    """Every registration's SMS went through the shared queue (the journeys needed the codes)."""

    conn = Redis.from_url(env["REDIS_URL"])
    waiting = Queue(queue, connection=conn).count
    finished = FinishedJobRegistry(queue, connection=conn)
    by_worker: dict[str, int] = {}
    for job in finished.get_job_ids():
        name = (conn.hget(f"rq:job:{job}", "worker_name") or b"?").decode()
        by_worker[name] = by_worker.get(name, 0) + 1
    print(f"  jobs finished on the shared queue: {len(finished)}, by worker: {sorted(by_worker.values())}")
    problems = []
    if len(finished) < tally.completed:
        problems.append(f"jobs: {len(finished)} finished for {tally.completed} registrations")
    if tally.completed == 0:
        problems.append("jobs: no journey completed, so no SMS code came through the queue")
    if waiting:
        problems.append(f"jobs: {waiting} jobs still waiting in the queue")
    return problems


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--journeys", type=int, default=12)
    p.add_argument("--workers", type=int, default=2, help="gunicorn worker processes per instance")
    args = p.parse_args()
    server_url = os.environ.get("DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    queue = f"scaleout-{uuid.uuid4().hex[:8]}"
    url, name, drop = scratch_postgres(server_url, "tsll_scaleout")
    sms_url, sms = sms_sink.start()
    client.SMS_GATEWAY = sms_url
    tmp = tempfile.mkdtemp(prefix="tsll-scaleout-")
    env = app_env(url, os.path.join(tmp, "instance"))
    env.update(SMS_GATEWAY_URL=sms_url + "/sms", REDIS_URL=redis_url, JOB_QUEUE=queue)
    procs: list = []
    servers: list[Server] = []
    try:
        app = create_app({"SQLALCHEMY_DATABASE_URI": url, "SECRET_KEY": SECRET, "PUBLIC_URL": PUBLIC_URL})
        families = seed(app, args.journeys + 2, random.Random(2026))
        pa, pb, front = free_port(), free_port(), free_port()
        servers = [
            Server("a", "app:create_app()", pa, args.workers, env, str(ROOT)),
            Server("b", "app:create_app()", pb, args.workers, env, str(ROOT)),
        ]
        for s in servers:
            s.wait_ready("/auth/login")
        procs = [start_worker(env, queue, os.path.join(tmp, f"worker-{i}.log")) for i in (1, 2)]
        procs.append(start_haproxy(front, pa, pb, os.path.join(tmp, "haproxy.log")))
        print(f"instances 127.0.0.1:{pa} and :{pb}, HAProxy on :{front}, 2 workers on queue {queue}")

        recorder = _Recorder()
        try:
            tally, hops, problems = check_journeys(
                f"http://127.0.0.1:{front}", families[: args.journeys], recorder
            )
        finally:
            recorder.restore()
        lost, duplicates = check_submissions(app, tally.acknowledged)
        if tally.completed != args.journeys or lost or duplicates:
            problems.append(f"journeys: {tally.completed}/{args.journeys} completed, errors {tally.errors}")
        print(
            f"journeys through HAProxy: {tally.completed}/{args.journeys} completed, {hops} answered by both "
            f"instances; submissions lost {lost}, duplicated {duplicates}"
        )
        phone, password = families[0].phone, families[0].password
        found = check_sessions(pa, pb, phone, password)
        print(f"sessions: login on A honoured by B, logout on B ends it on A: {'yes' if not found else 'NO'}")
        problems += found
        allowance = int(os.environ.get("LOGIN_LIMIT_PER_ACCOUNT", "5/minute").split("/")[0])
        found = check_rate_limits(pa, pb, families[1].phone, allowance)
        print(f"rate limits: one count for both instances: {'yes' if not found else 'NO'}")
        problems += found
        found = check_jobs(env, queue, tally)
        print(
            f"jobs: SMS of {tally.completed} registrations sent through the shared queue: {'yes' if not found else 'NO'}"
        )
        problems += found
        for line in problems:
            print("  PROBLEM " + line)
        ok = not problems
        print(
            f"SCALEOUT ok={'yes' if ok else 'no'} journeys={tally.completed} hops={hops} "
            f"lost={lost} duplicates={duplicates}"
        )
        return 0 if ok else 1
    finally:
        for proc in procs:
            stop(proc)
        for s in servers:
            s.stop()
        sms.shutdown()
        try:
            conn = Redis.from_url(redis_url)
            for key in conn.scan_iter(f"*{queue}*"):
                conn.delete(key)
        except Exception:  # noqa: BLE001 - cleanup only
            pass
        drop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
