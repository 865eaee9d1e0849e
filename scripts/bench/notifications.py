#!/usr/bin/env python
"""Benchmark: one school-wide announcement to 100,000 guardians, in-app + email + Web Push.

    .venv/bin/python scripts/bench/notifications.py [--guardians 100000] [--naive 5000] [--workers 2]
        [--push-share 0.3]

Needs PostgreSQL (DATABASE_URL names the server, default postgresql+psycopg://postgres@127.0.0.1:5432)
and Redis (REDIS_URL, default redis://127.0.0.1:6379/0) and postfix's C `smtp-sink` as the SMTP
receiver. The script
1. creates a scratch database (dropped at the end), migrates it and COPYs the guardians in, a
   `--push-share` of them with a subscribed phone (Web Push) pointing at a local push service
   (scripts/bench/push_peer.py, its own process, answering 201);
2. starts `smtp-sink` on a free port and N real workers (`flask --app app worker`, subprocesses)
   on a private queue;
3. measures the single-connection ceiling: one smtplib client reusing its connection, sending
   messages of the same size as ours into the same sink;
4. times `notify()` + commit (outbox rows and jobs; target ≤ 5 s), then until every email and
   push delivery is sent (target ≤ 60 s from the start, each message encrypted for its device and
   POSTed to the push service), and checks the sink's and the push service's own counters;
5. runs the naive pattern on --naive recipients (one RQ job and one SMTP connection per message,
   same workers) and reports the throughput ratio (target ≥ 20×).
Prints the figures and MET/MISSED per target. The announcement is timestamped at a daytime hour
(quiet hours would otherwise hold email until 06:30 when the benchmark runs in the evening).
"""

from __future__ import annotations

import argparse
import base64
import os
import signal
import smtplib
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask_migrate import upgrade
from redis import Redis
from rq import Queue, Worker

ROOT = Path(os.path.abspath(__file__)).parents[2]
sys.path.insert(0, str(ROOT))

from app import create_app, jobs, normalize_database_url  # noqa: E402 - after the path set-up
from app.config import TestConfig  # noqa: E402 - after the path set-up
from app.extensions import db  # noqa: E402 - after the path set-up
from app.mail import send_email  # noqa: E402 - after the path set-up
from app.models import District, School, User, utcnow  # noqa: E402 - after the path set-up
from app.notifications import notify, render  # noqa: E402 - after the path set-up
from app.notifications.channels import EmailBody, message_id  # noqa: E402 - after the path set-up
from app.notifications.fanout import bulk_insert_deliveries  # noqa: E402 - after the path set-up
from app.notifications.models import Delivery, Notification  # noqa: E402 - after the path set-up
from app.notifications.push import generate_vapid_keys  # noqa: E402 - after the path set-up


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def naive_send(delivery_id: int) -> None:
    """The naive pattern: one job per message, one fresh SMTP connection per message."""
    d = db.session.get(Delivery, delivery_id)
    subject, text, html = render.render_email(d.notification, d.recipient.locale)
    send_email(d.recipient.email, subject, text, html)
    d.status, d.sent_at, d.attempts = "sent", utcnow(), d.attempts + 1


class Sink:
    """postfix's smtp-sink on a free port, counting messages (-c)."""

    def __init__(self):
        exe = os.environ.get("SMTP_SINK") or "/usr/sbin/smtp-sink"  # SMTP_SINK: another copy of it
        if not os.path.exists(exe):
            sys.exit("smtp-sink not found: apt-get install postfix (it ships /usr/sbin/smtp-sink)")
        self.port = free_port()
        self.out = open(f"/tmp/smtp-sink-{self.port}.out", "w+b")  # noqa: SIM115
        args = [exe, "-c", f"127.0.0.1:{self.port}", "1024"]
        if os.geteuid() == 0:
            args[1:1] = ["-u", "nobody"]
        self.proc = subprocess.Popen(args, stdout=self.out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    sys.exit("smtp-sink did not start")
                time.sleep(0.05)
        self.url = f"smtp://127.0.0.1:{self.port}"

    def delivered(self) -> int:
        self.out.flush()
        self.out.seek(0)
        last = self.out.read().replace(b"\r", b"\n").split(b"\n")
        for line in reversed(last):
            if b"mesg=" in line:
                return int(line.split(b"mesg=")[1].split()[0])
        return 0

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=10)
        self.out.close()
        os.unlink(self.out.name)


class PushPeer:
    """scripts/bench/push_peer.py on a free port: counts the push messages it accepted."""

    def __init__(self):
        self.port = free_port()
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "scripts" / "bench" / "push_peer.py"), str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        if self.proc.stdout.readline().strip() != "ready":
            sys.exit("the local push service did not start")
        self.origin = f"http://127.0.0.1:{self.port}"

    def stop(self) -> str:
        self.proc.send_signal(signal.SIGTERM)
        out, _err = self.proc.communicate(timeout=10)
        return out.strip()


def subscribe_devices(db, guardians: list[int], origin: str) -> None:
    """One subscribed phone per guardian in `guardians` (COPY), endpoints on the local service.
    The keys are one real P-256 pair: every message is still encrypted on its own."""

    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    p256dh = base64.urlsafe_b64encode(point).rstrip(b"=").decode()
    auth = base64.urlsafe_b64encode(os.urandom(16)).rstrip(b"=").decode()
    now = datetime.now(UTC).replace(tzinfo=None)
    raw = db.session.connection().connection.driver_connection
    with (
        raw.cursor() as cur,
        cur.copy("COPY push_subscription (user_id, endpoint, p256dh, auth, created_at) FROM STDIN") as copy,
    ):
        for uid in guardians:
            copy.write_row((uid, f"{origin}/push/{uid}", p256dh, auth, now))
    db.session.commit()


def ceiling(sink_url: str, raw: bytes, count: int) -> float:
    """Messages/s of one smtplib client reusing its connection (the practical per-worker limit)."""
    port = int(sink_url.rsplit(":", 1)[1])
    client = smtplib.SMTP("127.0.0.1", port)
    client.ehlo()
    started = time.perf_counter()
    for i in range(count):
        client.sendmail("no-reply@localhost", [f"ceiling{i}@example.vn"], raw)
    seconds = time.perf_counter() - started
    client.quit()
    return count / seconds


def create_guardians(db, n: int) -> list[int]:
    """COPY n guardian accounts (email + phone, logged in once) into the user table."""
    now = datetime.now(UTC).replace(tzinfo=None)
    raw = db.session.connection().connection.driver_connection
    with (
        raw.cursor() as cur,
        cur.copy(
            'COPY "user" (phone, email, full_name, role, active, created_at, last_login_at, locale) FROM STDIN'
        ) as copy,
    ):
        for i in range(n):
            copy.write_row(
                (
                    f"09{i:08d}",
                    f"phuhuynh{i}@example.vn",
                    f"Phụ Huynh {i}",
                    "parent",
                    True,
                    now,
                    now,
                    "vi" if i % 10 else "en",
                )
            )
    db.session.commit()
    return list(db.session.scalars(sa.text("SELECT id FROM \"user\" WHERE role = 'parent' ORDER BY id")))


def wait_for(db, notification_id: int, total: int, timeout: float, channels=("email",)) -> float | None:
    q = sa.text(
        "SELECT count(*) FROM delivery WHERE notification_id = :n AND channel IN :channels "
        "AND status IN ('sent', 'failed')"
    ).bindparams(sa.bindparam("channels", expanding=True))
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        done = db.session.execute(q, {"n": notification_id, "channels": list(channels)}).scalar()
        db.session.commit()
        if done >= total:
            return time.perf_counter()
        time.sleep(0.25)
    return None


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--guardians", type=int, default=100_000)
    parser.add_argument("--naive", type=int, default=5_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=500)
    parser.add_argument("--push-share", type=float, default=0.3, help="guardians with a push device")
    args = parser.parse_args()
    load_at_start = os.getloadavg()  # the machine may be shared: say how busy it was

    server = normalize_database_url(
        os.environ.get("DATABASE_URL") or "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    if not server.startswith("postgresql"):
        sys.exit("this benchmark needs PostgreSQL: set DATABASE_URL to a PostgreSQL server")
    redis_url = os.environ.get("REDIS_URL") or "redis://127.0.0.1:6379/0"
    from _scratch import scratch_postgres  # lazy: RQ workers import this without scripts/bench on sys.path

    sink = Sink()  # first: it exits when smtp-sink is missing, before any database exists
    peer = PushPeer()
    url, name, drop = scratch_postgres(server, "bench_notif")
    queue_name = f"bench-{name}"
    workers: list[subprocess.Popen] = []
    figures: list[tuple[str, bool, str]] = []
    try:
        cfg = {k: getattr(TestConfig, k) for k in dir(TestConfig) if k.isupper()}
        cfg.update(
            SQLALCHEMY_DATABASE_URI=url,
            REDIS_URL=redis_url,
            RATELIMIT_STORAGE_URI="memory://",
            JOB_QUEUE=queue_name,
            MAIL_URL=sink.url,
            NOTIFY_CHUNK_SIZE=args.chunk,
            TESTING=False,
            NOTIFY_CLOCK=lambda: datetime.now(UTC).replace(tzinfo=None, hour=3, minute=0),
        )  # 10:00 Hanoi
        app = create_app(cfg)
        with app.app_context():
            upgrade()
            print(f"database {name}: migrated; creating {args.guardians:,} guardians …", flush=True)
            t = time.perf_counter()
            guardians = create_guardians(db, args.guardians)
            pushed = int(args.guardians * args.push_share)
            subscribe_devices(db, guardians[:pushed], peer.origin)
            school = School(
                code="TH-BENCH", name="Trường Tiểu học Dịch Vọng A", level="grade1", district_id=_district(db)
            )
            db.session.add(school)
            db.session.flush()
            sender = User(
                email="hieutruong@example.edu.vn",
                full_name="Hiệu Trưởng",
                role="school_staff",
                school_id=school.id,
            )
            db.session.add(sender)
            db.session.commit()
            db.session.execute(sa.text("ANALYZE"))
            db.session.commit()
            try:  # flush the setup's writes now, not during the timed run (needs a superuser)
                db.session.execute(sa.text("CHECKPOINT"))
                db.session.commit()
            except sa.exc.DBAPIError:
                db.session.rollback()
            print(f"  {time.perf_counter() - t:.1f} s", flush=True)

            env = dict(
                os.environ,
                DATABASE_URL=url,
                REDIS_URL=redis_url,
                MAIL_URL=sink.url,
                SECRET_KEY="bench",
                PUBLIC_URL="http://bench.local",
                MAIL_SENDER="Bench <bench@bench.local>",
                PYTHONPATH=str(ROOT),
                VAPID_PRIVATE_KEY=generate_vapid_keys()[0],
            )
            for _ in range(args.workers):
                workers.append(
                    subprocess.Popen(
                        [sys.executable, "-m", "flask", "--app", "app", "worker", queue_name],
                        cwd=ROOT,
                        env=env,
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )

            conn = Redis.from_url(redis_url)
            q = Queue(queue_name, connection=conn)
            deadline = time.monotonic() + 60
            while Worker.count(queue=q) < args.workers:
                if time.monotonic() > deadline or any(w.poll() is not None for w in workers):
                    sys.exit("workers did not start")
                time.sleep(0.1)

            context = {
                "title": "Thông báo lịch khai giảng năm học 2026-2027",
                "body": (
                    "Kính gửi quý phụ huynh,\nNhà trường trân trọng thông báo lễ khai giảng năm học mới "
                    "sẽ diễn ra lúc 7 giờ 30 sáng ngày 5/9 tại sân trường. Học sinh mặc đồng phục, "
                    "có mặt trước 7 giờ. Trân trọng cảm ơn.\n"
                )
                * 2,
            }

            # 3. The ceiling: one client, one connection, messages like ours.
            probe = Notification(id=0, kind="announcement", context=context, urgent=False, school=school)
            body = EmailBody(*render.render_email(probe, "vi"))
            raw = body.for_recipient("ceiling@example.vn", message_id("ceiling", "0"))
            ceiling_rate = ceiling(sink.url, raw, 5000)
            print(
                f"single smtplib connection into smtp-sink: {ceiling_rate:,.0f} msg/s ({len(raw):,} bytes/message)",
                flush=True,
            )

            # 4. The announcement.
            before_sink = sink.delivered()
            t0 = time.perf_counter()
            n = notify("announcement", guardians, context, sender_id=sender.id, school_id=school.id)
            nid = n.id
            jobs.commit()
            t1 = time.perf_counter()
            rows = db.session.execute(
                sa.text("SELECT channel, count(*) FROM delivery WHERE notification_id = :n GROUP BY channel"),
                {"n": nid},
            ).all()
            db.session.commit()
            print(
                f"outbox: {dict(rows)} rows and {q.count + len(q.started_job_registry)} jobs in {t1 - t0:.2f} s",
                flush=True,
            )
            t2 = wait_for(db, nid, args.guardians + pushed, timeout=600, channels=("email", "push"))
            if t2 is None:
                sys.exit("deliveries did not finish within 10 minutes")
            statuses = dict(
                db.session.execute(
                    sa.text(
                        "SELECT status, count(*) FROM delivery WHERE notification_id = :n AND channel = 'email' "
                        "GROUP BY status"
                    ),
                    {"n": nid},
                ).all()
            )
            push_sent = db.session.execute(
                sa.text(
                    "SELECT count(*) FROM delivery WHERE notification_id = :n AND channel = 'push' "
                    "AND status = 'sent'"
                ),
                {"n": nid},
            ).scalar()
            db.session.commit()
            time.sleep(0.5)
            received = sink.delivered() - before_sink
            total_s, send_s = t2 - t0, t2 - t1
            rate = args.guardians / total_s
            per_worker = args.guardians / send_s / args.workers
            peer_counts = peer.stop()
            print(
                f"delivered: email {statuses}, push sent {push_sent:,} in {total_s:.1f} s from notify() "
                f"({send_s:.1f} s of sending); smtp-sink counted {received:,}, push service {peer_counts}",
                flush=True,
            )
            print(
                f"throughput {rate:,.0f} msg/s overall, {per_worker:,.0f} msg/s per worker while sending = "
                f"{per_worker / ceiling_rate:.0%} of the single-connection ceiling",
                flush=True,
            )
            figures.append(("outbox rows and jobs ≤ 5 s", t1 - t0 <= 5, f"{t1 - t0:.2f} s"))
            figures.append(
                (
                    "everything delivered ≤ 60 s",
                    total_s <= 60
                    and statuses.get("sent") == args.guardians
                    and received == args.guardians
                    and push_sent == pushed
                    and peer_counts == f"messages={pushed} devices={pushed}",
                    f"{total_s:.1f} s, {received:,} emails and {pushed:,} push messages received",
                )
            )

            # 5. The naive pattern on the first --naive guardians.
            naive = Notification(
                kind="announcement",
                context=context,
                sender_id=sender.id,
                school_id=school.id,
                recipient_count=args.naive,
            )
            db.session.add(naive)
            db.session.flush()
            now = datetime.now(UTC).replace(tzinfo=None)
            bulk_insert_deliveries(
                [
                    (naive.id, uid, "email", "queued", False, None, now, None)
                    for uid in guardians[: args.naive]
                ]
            )
            naive_id = naive.id
            db.session.commit()
            ids = list(
                db.session.scalars(
                    sa.text("SELECT id FROM delivery WHERE notification_id = :n ORDER BY id"), {"n": naive_id}
                )
            )
            db.session.commit()
            before_sink = sink.delivered()
            n0 = time.perf_counter()
            jobs.enqueue_many_after_commit("scripts.bench.notifications:naive_send", [[i] for i in ids])
            jobs.commit()
            n1 = wait_for(db, naive_id, args.naive, timeout=1800)
            if n1 is None:
                sys.exit("naive deliveries did not finish within 30 minutes")
            naive_rate = args.naive / (n1 - n0)
            time.sleep(0.5)
            print(
                f"naive (one job + one SMTP connection per message): {args.naive:,} in {n1 - n0:.1f} s = "
                f"{naive_rate:,.0f} msg/s; smtp-sink counted {sink.delivered() - before_sink:,}",
                flush=True,
            )
            ratio = rate / naive_rate
            figures.append(
                (
                    "batched vs naive ≥ 20×",
                    ratio >= 20,
                    f"{ratio:.1f}× ({rate:,.0f} vs {naive_rate:,.0f} msg/s)",
                )
            )
            db.session.remove()
            db.engine.dispose()
    finally:
        for w in workers:
            w.send_signal(signal.SIGTERM)
        for w in workers:
            try:
                w.wait(timeout=15)
            except subprocess.TimeoutExpired:
                w.kill()
        sink.stop()
        if peer.proc.poll() is None:
            peer.stop()
        try:
            conn = Redis.from_url(redis_url)
            for key in conn.scan_iter(f"*{queue_name}*"):
                conn.delete(key)
        except Exception as err:  # noqa: BLE001
            print(f"(could not clean Redis keys: {err})")
        drop()

    print()
    print(
        "machine: {} CPUs, load average {:.2f} {:.2f} {:.2f} at the start, {:.2f} {:.2f} {:.2f} at the end".format(
            os.cpu_count(), *load_at_start, *os.getloadavg()
        )
    )
    ok = True
    for label, met, value in figures:
        print(f"{'MET   ' if met else 'MISSED'} {label}: {value}")
        ok = ok and met
    return 0 if ok else 1


def _district(db) -> int:
    d = District(code="CG", name="Quận Cầu Giấy")
    db.session.add(d)
    db.session.flush()
    return d.id


if __name__ == "__main__":
    sys.exit(main())
