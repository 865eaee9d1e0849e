"""Notifications through real Redis and real `flask --app app worker` processes.

- the fan-out runs in a worker process, not in the request; nothing is scheduled in Redis;
- a worker (its whole process group) killed with SIGKILL while a message is on the wire: after a
  relay pass and a restart every delivery has gone out, the interrupted message once more with
  the same Message-ID, counted on the report (ten kills in one send: test_notifications_kill.py);
- Redis unreachable, or a private redis-server stopped in the middle of a request (after the
  commit, before its jobs reach it): the request succeeds; once Redis is back, the relay (here a
  web request's automatic pass) hands the lost job over again and a worker sends it;
- quiet-hours sends, digests and retries wait in the database and a real worker's relay pass
  hands them over when due;
- the admin page shows RQ's failed-job registry.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from flask import has_request_context
from rq.registry import ScheduledJobRegistry
from sqlalchemy.orm import Session

from app import autorelay, jobs
from app.extensions import db
from app.notifications import notify
from app.notifications.models import Delivery, NotificationSettings
from app.notifications.relay import relay
from app.notifications.service import report_counts
from app.outbox import OutboxJob
from tests.factories import create_user
from tests.notification_helpers import Sink, choose_evening_digest, parents
from tests.processes import PrivateRedis, free_port, process_group

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_app(app, redis_url):
    app.config.update(REDIS_URL=redis_url, NOTIFY_CLOCK=None)
    app.extensions.pop("redis", None)
    return app


def without_quiet_hours(*users):
    """Worker processes run on the real clock: recipients of tests that are not about quiet
    hours switch them off, or email sent after 21:00 in Hanoi would wait until 06:30."""
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
        PUBLIC_URL="http://localhost",  # a production process: required (app/links.py)
        MAIL_SENDER="Thông báo <thongbao@example.edu.vn>",
        INSTANCE_PATH=str(tmp_path),
        PYTHONUNBUFFERED="1",
        JOB_HANDOVER_GRACE_SECONDS="0",
    )


def run_worker_burst(app, env, timeout=120):
    """`flask worker --burst`: a relay pass (hands over what is due), then the queue run dry."""
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "worker", "--burst", app.config["JOB_QUEUE"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


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
        # Nothing waits in Redis (no scheduled job, no relay job), and the outbox is empty: each
        # job's row went with the job's own commit.
        assert ScheduledJobRegistry(queue=jobs.queue()).get_job_ids() == []
        assert jobs.queue().count == 0
        db.session.expire_all()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxJob)) == 0
    finally:
        sink.stop()


def test_killed_worker_mid_batch_nothing_is_lost_and_the_interrupted_message_is_counted(
    redis_app, database_url, tmp_path
):
    # The mail server holds the 61st message (the 21st of the second chunk of 40) for 20 s before
    # its 250: the worker is surely killed with that message on the wire, mid-batch, however
    # loaded the machine is. The server drops it (it never replied), so here every message
    # reaches it exactly once; the report still counts that one as possibly sent twice, because
    # the sender cannot know whether the server had taken it (test_notifications_kill.py kills
    # after the server took it, too).
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

        # Its own process group: the worker and anything it started die together, as when a
        # machine or container goes away.
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
        open_attempts = db.session.scalars(
            sa.select(Delivery.id).where(Delivery.notification_id == n.id, Delivery.attempt_at.is_not(None))
        ).all()
        assert len(open_attempts) == 1  # the held message, marked before it left
        result = relay(lease_seconds=0, stale_seconds=0)
        assert result["released"] == counts["sending"]
        run_worker_burst(redis_app, env, timeout=180)
        assert status_counts(n.id) == {"sent": 240}
        per_id = sink.by_message_id()
        assert len(per_id) == 240 and set(per_id.values()) == {1}, per_id.most_common(3)
        assert sorted(m["To"] for m in sink.messages) == sorted(p.email for p in people)
        report = report_counts(n.id)
        assert report["interrupted"] == counts["sending"] and report["possibly_twice"] == 1
        held = db.session.get(Delivery, open_attempts[0])
        assert (held.takeovers, held.lost_attempts, held.attempts, held.attempt_at) == (1, 1, 2, None)
    finally:
        sink.stop()


def test_redis_down_during_the_request_nothing_is_lost(redis_app, database_url, tmp_path, world, make_client):
    sink = Sink()
    real_url = redis_app.config["REDIS_URL"]
    try:
        staff = world["users"]["school_staff"]
        without_quiet_hours(staff)
        jobs.commit()
        c = make_client()
        c.login_as(staff)
        token = c.csrf("/notifications/test")
        redis_app.config.update(MAIL_URL=sink.url, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
        redis_app.extensions.pop("redis", None)
        resp = c.post(
            "/notifications/test", data={"csrf_token": token, "title": "Khi Redis ngừng", "body": ""}
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)[-500:]
        nid = int(resp.headers["Location"].rstrip("/").split("/")[-1])
        assert status_counts(nid) == {"queued": 1}
        assert sink.messages == []
        db.session.expire_all()
        assert db.session.scalar(sa.select(sa.func.count()).select_from(OutboxJob)) == 1  # the send job

        redis_app.config["REDIS_URL"] = real_url  # Redis is back
        redis_app.extensions.pop("redis", None)
        # The send job never reached Redis: the relay finds it missing there and hands it over
        # again (once its grace has passed: 0 s here).
        redis_app.config["JOB_HANDOVER_GRACE_SECONDS"] = 0
        assert jobs.relay()["handed"] == 1
        assert jobs.relay()["handed"] == 0  # now waiting in the queue: left alone
        run_worker_burst(redis_app, worker_env(database_url, real_url, sink.url, tmp_path))
        assert status_counts(nid) == {"sent": 1}
        assert [m["To"] for m in sink.messages] == [staff.email]
    finally:
        redis_app.config["REDIS_URL"] = real_url
        redis_app.extensions.pop("redis", None)
        jobs.redis_connection()  # the app fixture cleans this test's queue keys through it
        sink.stop()


def test_quiet_hours_send_waits_in_the_database_not_in_redis(redis_app, world):
    redis_app.config["NOTIFY_CLOCK"] = lambda: datetime(2026, 12, 10, 15, 0)  # 22:00 in Hanoi
    p = create_user("parent", email="dem@example.vn")
    jobs.commit()
    n = notify("announcement", [p.id], {"title": "Ban đêm"})
    jobs.commit()
    # Nothing in Redis: no scheduler has to survive until 06:30.
    assert ScheduledJobRegistry(queue=jobs.queue()).get_job_ids() == [] and jobs.queue().count == 0
    row = db.session.scalar(
        sa.select(Delivery).where(Delivery.notification_id == n.id, Delivery.channel == "email")
    )
    assert row.not_before == datetime(2026, 12, 10, 23, 30)  # 06:30 in Hanoi
    assert row.enqueued_at is None  # handed to no job yet
    # The relay leaves it alone until it is due…
    redis_app.config["NOTIFY_CLOCK"] = lambda: datetime(2026, 12, 10, 23, 30) - timedelta(seconds=10)
    assert relay()["requeued"] == 0 and jobs.queue().count == 0
    # …and hands it to the workers once it is.
    redis_app.config["NOTIFY_CLOCK"] = lambda: datetime(2026, 12, 10, 23, 30) + timedelta(seconds=10)
    assert relay()["requeued"] == 1 and jobs.queue().count == 1
    assert relay()["requeued"] == 0  # handed to a job: not again within NOTIFY_STALE_SECONDS


def test_admin_sees_rq_failed_job_registry(redis_app, world, make_client, run_jobs):
    admin = make_client()
    admin.login_as(world["users"]["city_admin"])
    q = jobs.queue()
    q.enqueue(jobs.run_job, "app.notifications.relay:relay", ["not", "valid"], {}, description="broken job")
    run_jobs()
    page = admin.get("/notifications/admin/failures").get_data(as_text=True)
    assert "broken job" in page and "TypeError" in page


def test_redis_stopped_in_the_middle_of_a_request_then_sent_once_it_is_back(
    app, database_url, tmp_path, world, make_client
):
    """Redis dies after the request's commit and before its jobs reach the queue. The request
    still succeeds; once Redis is back (empty: the job never reached it), the next web request's
    automatic relay pass hands the send job over again, and a worker sends it: no operator,
    nothing lost or doubled."""
    private = PrivateRedis(tmp_path).start()
    sink = Sink()
    try:
        app.config.update(
            REDIS_URL=private.url, MAIL_URL=sink.url, NOTIFY_CLOCK=None, JOB_HANDOVER_GRACE_SECONDS=0
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
                private.stop()  # right after the request's commit, before its jobs are handed over
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
        queued = jobs.queue().get_jobs()
        assert [j.description for j in queued] == ["app.notifications.tasks:send_deliveries"]
        env = worker_env(database_url, private.url, sink.url, tmp_path)
        run_worker_burst(app, env)
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
    18:00) wait in the database; a worker's relay pass hands them over once due (they are due
    now) and the worker sends each exactly once."""
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
        rows = db.session.execute(
            sa.select(Delivery.not_before, Delivery.enqueued_at)
            .where(Delivery.notification_id == n.id, Delivery.channel == "email")
            .order_by(Delivery.not_before)
        ).all()
        assert rows == [
            (sent_at + timedelta(hours=8, minutes=30), None),  # 06:30
            (sent_at + timedelta(hours=20), None),  # 18:00
        ]
        assert jobs.queue().count == 0 and sink.messages == []
        assert ScheduledJobRegistry(queue=jobs.queue()).get_job_ids() == []

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


def test_transient_smtp_error_is_retried_by_a_real_worker_when_due(redis_app, database_url, tmp_path):
    """A 451 from the mail server: the row goes back to queued with a backoff (its retry time in
    `not_before`, handed to no job); when it is due a worker's relay pass hands it over and the
    worker sends it (time is moved forward by moving the row's retry time back by the backoff)."""
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
        assert row.enqueued_at is None and jobs.queue().count == 0
        assert ScheduledJobRegistry(queue=jobs.queue()).get_job_ids() == []
        assert (
            timedelta(seconds=29) <= row.not_before - row.claimed_at <= timedelta(seconds=40)
        )  # the first backoff: 30 s
        run_worker_burst(redis_app, env)  # not due yet: nothing happens
        assert flaky.to() == ["ok@example.vn"]

        # 30 seconds later…
        db.session.execute(
            sa.update(Delivery)
            .where(Delivery.id == row.id)
            .values(not_before=row.not_before - timedelta(seconds=31))
        )
        jobs.commit()
        run_worker_burst(redis_app, env)
        assert status_counts(n.id) == {"sent": 2}
        assert flaky.to() == ["ok@example.vn", "tam@example.vn"]
        db.session.expire_all()
        assert db.session.get(Delivery, row.id).attempts == 2
    finally:
        flaky.stop()
