"""Notifications through real Redis and real `flask --app app worker` processes.

- the fan-out runs in a worker process, not in the request;
- a worker (its whole process group) killed with SIGKILL in the middle of a batch: after a
  restart and a relay pass every delivery has gone out exactly once (the SMTP sink counts every
  message it accepts, by Message-ID);
- a private redis-server stopped in the middle of a request (after the outbox commit, before the
  jobs reach it): the request succeeds; once Redis is back, a web request schedules the workers'
  relay job and a worker sends everything, without an operator;
- quiet-hours sends, digests and retries are RQ scheduled jobs that a real worker runs when due;
- the admin page shows RQ's failed-job registry.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.notifications import notify
from app.notifications.models import Delivery
from app.notifications.relay import relay
from tests.factories import create_user
from tests.integration.test_notifications import Sink, choose_evening_digest, parents

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_app(app, redis_url):
    app.config.update(REDIS_URL=redis_url, NOTIFY_CLOCK=None)
    app.extensions.pop("redis", None)
    return app


def without_quiet_hours(*users):
    """Worker processes run on the real clock: recipients of tests that are not about quiet
    hours switch them off, or email sent after 21:00 in Hanoi would wait until 06:30."""
    from app.notifications.models import NotificationSettings

    for u in users:
        db.session.merge(NotificationSettings(user_id=u.id, quiet_enabled=False))
    db.session.flush()
    return users


def worker_env(database_url, redis_url, mail_url, tmp_path):
    return dict(
        os.environ,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        MAIL_URL=mail_url,
        SECRET_KEY="worker-test",
        INSTANCE_PATH=str(tmp_path),
        PYTHONUNBUFFERED="1",
    )


def run_worker_burst(app, env, timeout=120):
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "worker", "--burst", app.config["JOB_QUEUE"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def process_group(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


def status_counts(notification_id: int) -> Counter:
    db.session.expire_all()
    return Counter(
        db.session.execute(
            sa.select(Delivery.status).where(
                Delivery.notification_id == notification_id, Delivery.channel == "email"
            )
        ).scalars()
    )


def test_fan_out_runs_in_a_real_worker(redis_app, database_url, tmp_path, world):
    sink = Sink()
    try:
        redis_app.config["MAIL_URL"] = sink.url
        redis_app.config["NOTIFY_CHUNK_SIZE"] = 4
        people = without_quiet_hours(*parents(10))
        jobs.commit()
        n = notify(
            "announcement",
            [p.id for p in people],
            {"title": "Qua hàng đợi"},
            school_id=world["schools"][0].id,
        )
        jobs.commit()
        assert jobs.queue().count == 3  # 10 emails in chunks of 4, enqueued after the commit
        assert sink.messages == [] and status_counts(n.id) == {"queued": 10}
        run_worker_burst(
            redis_app, worker_env(database_url, redis_app.config["REDIS_URL"], sink.url, tmp_path)
        )
        assert status_counts(n.id) == {"sent": 10}
        assert sorted(sink.by_message_id().values()) == [1] * 10

        # The workers keep one periodic relay job scheduled (not one per chunk)…
        from rq.job import Job
        from rq.registry import ScheduledJobRegistry

        from app.notifications.tasks import relay_job

        scheduled = ScheduledJobRegistry(queue=jobs.queue()).get_job_ids()
        assert [Job.fetch(i, connection=jobs.redis_connection()).description for i in scheduled] == [
            "app.notifications.tasks:relay_job"
        ]
        # …which stops rescheduling itself once nothing is left to do.
        assert relay_job() == {"released": 0, "requeued": 0, "digests": 0}
        assert ScheduledJobRegistry(queue=jobs.queue()).get_job_ids() == scheduled
    finally:
        sink.stop()


def test_killed_worker_mid_batch_every_delivery_goes_out_exactly_once(redis_app, database_url, tmp_path):
    # The mail server holds the 61st message (the 21st of the second chunk of 40) for 20 s before
    # its 250: the worker is surely killed with that message on the wire, mid-batch, however
    # loaded the machine is (a short delay on every message let a busy server finish the
    # message before it noticed the dead client, which is the unavoidable window, not the test).
    sink = Sink(hold_nth=61, hold_seconds=20)
    env = worker_env(database_url, redis_app.config["REDIS_URL"], sink.url, tmp_path)
    try:
        redis_app.config["MAIL_URL"] = sink.url
        redis_app.config["NOTIFY_CHUNK_SIZE"] = 40
        people = without_quiet_hours(*parents(240))
        jobs.commit()
        n = notify("announcement", [p.id for p in people], {"title": "Không bao giờ gửi hai lần"})
        jobs.commit()
        assert jobs.queue().count == 6

        # Its own process group: the worker and the RQ scheduler process it forks die together,
        # as when a machine or container goes away (killing the worker alone would leave the
        # scheduler running as an orphan).
        worker = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", "worker", redis_app.config["JOB_QUEUE"]],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        try:
            deadline = time.monotonic() + 60
            # Kill it in the middle of a batch, while a message is on the wire (held by the server).
            while not (len(sink.messages) == 60 and sink.holding):
                assert time.monotonic() < deadline, "the worker did not get going"
                assert worker.poll() is None, "the worker died on its own"
                time.sleep(0.002)
            os.killpg(worker.pid, signal.SIGKILL)
        finally:
            if worker.poll() is None and process_group(worker.pid):
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=30)
        deadline = time.monotonic() + 10
        while process_group(worker.pid):
            assert time.monotonic() < deadline, (
                f"processes of the killed worker survive: {process_group(worker.pid)}"
            )
            time.sleep(0.05)
        deadline = time.monotonic() + 10
        while sink.holding:  # the server notices the dead client and drops the held message
            assert time.monotonic() < deadline, "the server still holds the message"
            time.sleep(0.02)
        before = len(sink.messages)
        counts = status_counts(n.id)
        assert counts["sending"] > 0, counts  # the dead worker's claimed rows
        assert before == 60 and counts["sent"] == 60, (before, counts)

        # Restart: a relay pass returns the dead worker's rows (lease expired) and re-enqueues
        # everything still queued (duplicate jobs are harmless), then a new worker drains the queue.
        result = relay(lease_seconds=0, stale_seconds=0)
        assert result["released"] == counts["sending"]
        run_worker_burst(redis_app, env, timeout=180)
        assert status_counts(n.id) == {"sent": 240}
        per_id = sink.by_message_id()
        assert len(per_id) == 240 and set(per_id.values()) == {1}, per_id.most_common(3)
        assert sorted(m["To"] for m in sink.messages) == sorted(p.email for p in people)
    finally:
        sink.stop()


def test_redis_down_during_the_request_nothing_is_lost(redis_app, database_url, tmp_path, world, make_client):
    sink = Sink()
    real_url = redis_app.config["REDIS_URL"]
    try:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            closed_port = s.getsockname()[1]
        staff = world["users"]["school_staff"]
        without_quiet_hours(staff)
        jobs.commit()
        c = make_client()
        c.login_as(staff)
        token = c.csrf("/notifications/test")
        redis_app.config.update(MAIL_URL=sink.url, REDIS_URL=f"redis://127.0.0.1:{closed_port}/0")
        redis_app.extensions.pop("redis", None)
        resp = c.post(
            "/notifications/test", data={"csrf_token": token, "title": "Khi Redis ngừng", "body": ""}
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)[-500:]
        nid = int(resp.headers["Location"].rstrip("/").split("/")[-1])
        assert status_counts(nid) == {"queued": 1}
        assert sink.messages == []

        redis_app.config["REDIS_URL"] = real_url  # Redis is back
        redis_app.extensions.pop("redis", None)
        # The rows were marked as handed to no job: the first relay pass takes them, without
        # waiting NOTIFY_STALE_SECONDS.
        assert relay()["requeued"] == 1
        run_worker_burst(redis_app, worker_env(database_url, real_url, sink.url, tmp_path))
        assert status_counts(nid) == {"sent": 1}
        assert [m["To"] for m in sink.messages] == [staff.email]
    finally:
        redis_app.config["REDIS_URL"] = real_url
        redis_app.extensions.pop("redis", None)
        jobs.redis_connection()  # the app fixture cleans this test's queue keys through it
        sink.stop()


def test_quiet_hours_send_is_scheduled_with_rq(redis_app, world):
    from datetime import datetime, timedelta

    from rq.registry import ScheduledJobRegistry

    redis_app.config["NOTIFY_CLOCK"] = lambda: datetime(2026, 12, 10, 15, 0)  # 22:00 in Hanoi
    p = create_user("parent", email="dem@example.vn")
    jobs.commit()
    n = notify("announcement", [p.id], {"title": "Ban đêm"})
    jobs.commit()
    registry = ScheduledJobRegistry(queue=jobs.queue())
    ids = registry.get_job_ids()
    assert len(ids) == 1 and jobs.queue().count == 0
    at = registry.get_scheduled_time(ids[0])
    assert at.replace(tzinfo=None) == datetime(2026, 12, 10, 23, 30)  # 06:30 in Hanoi
    row = db.session.scalar(
        sa.select(Delivery).where(Delivery.notification_id == n.id, Delivery.channel == "email")
    )
    assert row.not_before == datetime(2026, 12, 10, 23, 30) == row.enqueued_at
    # The relay leaves it alone while its scheduled job is still due to run.
    redis_app.config["NOTIFY_CLOCK"] = lambda: datetime(2026, 12, 10, 23, 30) + timedelta(seconds=10)
    assert relay()["requeued"] == 0


def test_admin_sees_rq_failed_job_registry(redis_app, world, make_client, run_jobs):
    admin = make_client()
    admin.login_as(world["users"]["city_admin"])
    q = jobs.queue()
    q.enqueue(jobs.run_job, "app.notifications.relay:relay", ["not", "valid"], {}, description="broken job")
    run_jobs()
    page = admin.get("/notifications/admin/failures").get_data(as_text=True)
    assert "broken job" in page and "TypeError" in page


class PrivateRedis:
    """A redis-server of this test's own (no persistence) that can be stopped and started again
    on the same port."""

    def __init__(self, tmp_path):
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed")
        self.exe, self.dir = exe, tmp_path
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc = None

    def start(self):
        self.proc = subprocess.Popen(
            [
                self.exe,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.dir),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def test_redis_stopped_in_the_middle_of_a_request_then_sent_once_it_is_back(
    app, database_url, tmp_path, world, make_client
):
    """Redis dies after the request's outbox commit and before its jobs reach the queue. The
    request still succeeds; once Redis is back, the next web request schedules the workers' relay
    job, and a worker re-enqueues and sends everything: no operator, nothing lost or doubled."""
    from flask import has_request_context
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry
    from sqlalchemy.orm import Session

    from app.notifications import autorelay

    private = PrivateRedis(tmp_path).start()
    sink = Sink()
    try:
        app.config.update(
            REDIS_URL=private.url, MAIL_URL=sink.url, NOTIFY_CLOCK=None, NOTIFY_RELAY_INTERVAL=1
        )
        app.extensions.pop("redis", None)
        staff = world["users"]["school_staff"]
        without_quiet_hours(staff)
        jobs.commit()
        c = make_client()
        c.login_as(staff)
        token = c.csrf("/notifications/test")
        stopped = []

        def stop_redis(session):
            if has_request_context() and not stopped:
                private.stop()  # right after the request's commit, before its jobs are enqueued
                stopped.append(True)

        sa.event.listen(Session, "after_commit", stop_redis)
        try:
            resp = c.post(
                "/notifications/test", data={"csrf_token": token, "title": "Redis ngừng giữa chừng"}
            )
        finally:
            sa.event.remove(Session, "after_commit", stop_redis)
        assert stopped, "Redis was not stopped during the request"
        assert resp.status_code == 302, resp.get_data(as_text=True)[-500:]
        nid = int(resp.headers["Location"].rstrip("/").split("/")[-1])
        assert status_counts(nid) == {"queued": 1} and sink.messages == []
        assert c.get(resp.headers["Location"]).status_code == 200  # the report works without Redis

        private.start()  # Redis is back (empty: the jobs never reached it)
        app.extensions.pop("redis", None)
        app.config["NOTIFY_AUTO_RELAY_SECONDS"] = 60
        assert c.get("/notifications/sent").status_code == 200
        autorelay.of(app).wait()
        registry = ScheduledJobRegistry(queue=jobs.queue())
        assert [
            Job.fetch(i, connection=jobs.redis_connection()).description for i in registry.get_job_ids()
        ] == ["app.notifications.tasks:relay_job"]
        time.sleep(1.2)  # the relay job is due after NOTIFY_RELAY_INTERVAL (1 s here)
        env = worker_env(database_url, private.url, sink.url, tmp_path)
        run_worker_burst(app, env)  # runs the relay job, then the send job it enqueues
        assert status_counts(nid) == {"sent": 1}
        assert [m["To"] for m in sink.messages] == [staff.email]
    finally:
        private.stop()
        app.extensions.pop("redis", None)
        app.config["REDIS_URL"] = None
        sink.stop()


def _days_ago_in_hanoi(days: int, hour: int) -> datetime:
    """A naive UTC instant: `hour`:00 Hanoi time, `days` days before today (real clock)."""
    local = datetime.now(UTC) + timedelta(hours=7) - timedelta(days=days)
    return local.replace(hour=hour, minute=0, second=0, microsecond=0, tzinfo=None) - timedelta(hours=7)


def test_quiet_hours_and_digest_jobs_are_run_by_a_real_worker_when_due(
    redis_app, database_url, tmp_path, make_client
):
    """Sent at 22:00 three days ago: the quiet-hours email (due 06:30) and the daily digest (due
    18:00) are scheduled RQ jobs; a worker's scheduler moves them to the queue once due (they are
    due now) and the worker sends each exactly once."""
    from rq.registry import ScheduledJobRegistry

    sink = Sink()
    try:
        redis_app.config["MAIL_URL"] = sink.url
        night, digest = parents(2)
        jobs.commit()
        c = make_client()
        c.login_as(digest)
        choose_evening_digest(c)
        sent_at = _days_ago_in_hanoi(3, 22)
        redis_app.config["NOTIFY_CLOCK"] = lambda: sent_at
        n = notify("announcement", [night.id, digest.id], {"title": "Thông báo buổi tối"})
        jobs.commit()
        redis_app.config["NOTIFY_CLOCK"] = None
        registry = ScheduledJobRegistry(queue=jobs.queue())
        times = sorted(registry.get_scheduled_time(i).replace(tzinfo=None) for i in registry.get_job_ids())
        assert times == [
            sent_at + timedelta(hours=8, minutes=30),
            sent_at + timedelta(hours=20),
        ]  # 06:30, 18:00
        assert jobs.queue().count == 0 and sink.messages == []

        run_worker_burst(
            redis_app, worker_env(database_url, redis_app.config["REDIS_URL"], sink.url, tmp_path)
        )
        assert status_counts(n.id) == {"sent": 2}
        assert sink.to() == sorted([night.email, digest.email])
        assert set(sink.by_message_id().values()) == {1}
        digest_mail = next(m for m in sink.messages if m["To"] == digest.email)
        assert "Thông báo buổi tối" in digest_mail.get_body(("plain",)).get_content()
    finally:
        sink.stop()


def test_transient_smtp_error_is_retried_by_a_scheduled_rq_job(redis_app, database_url, tmp_path):
    """A 451 from the mail server: the row goes back to queued with a backoff, and a send job is
    scheduled for that time; when it is due a worker sends it (time is moved forward by moving the
    row's retry time and the job's schedule back by the backoff)."""
    from rq.job import Job
    from rq.registry import ScheduledJobRegistry

    flaky = Sink(replies={"tam@example.vn": ["451 4.3.0 try again later", "250 OK"]})
    env = worker_env(database_url, redis_app.config["REDIS_URL"], flaky.url, tmp_path)
    try:
        redis_app.config["MAIL_URL"] = flaky.url
        ok, tam = without_quiet_hours(
            create_user("parent", email="ok@example.vn"), create_user("parent", email="tam@example.vn")
        )
        jobs.commit()
        n = notify("announcement", [ok.id, tam.id], {"title": "Thử lại sau"})
        jobs.commit()
        run_worker_burst(redis_app, env)
        db.session.expire_all()
        row = db.session.scalar(
            sa.select(Delivery).where(
                Delivery.notification_id == n.id, Delivery.recipient_id == tam.id, Delivery.channel == "email"
            )
        )
        assert (row.status, row.attempts) == ("queued", 1) and "451" in row.last_error
        assert flaky.to() == ["ok@example.vn"]
        registry = ScheduledJobRegistry(queue=jobs.queue())
        conn = jobs.redis_connection()
        retry = [
            i
            for i in registry.get_job_ids()
            if Job.fetch(i, connection=conn).description == "app.notifications.tasks:send_deliveries"
        ]
        assert len(retry) == 1
        at = registry.get_scheduled_time(retry[0]).replace(tzinfo=None)
        assert row.not_before == row.enqueued_at
        # RQ keeps whole seconds: the job is due at the retry time rounded up, never before it.
        assert row.not_before <= at < row.not_before + timedelta(seconds=1)
        assert (
            timedelta(seconds=29) <= at - row.claimed_at <= timedelta(seconds=40)
        )  # the first backoff: 30 s

        # 30 seconds later…
        db.session.execute(
            sa.update(Delivery)
            .where(Delivery.id == row.id)
            .values(not_before=row.not_before - timedelta(seconds=31))
        )
        jobs.commit()
        conn.zadd(registry.key, {retry[0]: time.time() - 1})
        run_worker_burst(redis_app, env)
        assert status_counts(n.id) == {"sent": 2}
        assert flaky.to() == ["ok@example.vn", "tam@example.vn"]
        db.session.expire_all()
        assert db.session.get(Delivery, row.id).attempts == 2
    finally:
        flaky.stop()
