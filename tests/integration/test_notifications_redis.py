"""Notifications through real Redis and real `flask --app app worker` processes.

- the fan-out runs in a worker process, not in the request;
- a worker killed with SIGKILL in the middle of a batch: after a restart and a relay pass every
  delivery has gone out exactly once (the SMTP sink counts by Message-ID);
- Redis unreachable during the request: the request succeeds, the relay sends later;
- the admin page shows RQ's failed-job registry.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections import Counter

import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.notifications import notify
from app.notifications.models import Delivery
from app.notifications.relay import relay
from tests.factories import create_user
from tests.integration.test_notifications import Sink, parents

pytestmark = pytest.mark.redis


@pytest.fixture
def redis_app(app, redis_url):
    app.config.update(REDIS_URL=redis_url, NOTIFY_CLOCK=None)
    app.extensions.pop("redis", None)
    return app


def worker_env(database_url, redis_url, mail_url, tmp_path):
    return dict(os.environ, DATABASE_URL=database_url, REDIS_URL=redis_url, MAIL_URL=mail_url,
                SECRET_KEY="worker-test", INSTANCE_PATH=str(tmp_path), PYTHONUNBUFFERED="1")


def run_worker_burst(app, env, timeout=120):
    proc = subprocess.run([sys.executable, "-m", "flask", "--app", "app", "worker", "--burst", app.config["JOB_QUEUE"]],
                          env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def status_counts(notification_id: int) -> Counter:
    db.session.expire_all()
    return Counter(db.session.execute(
        sa.select(Delivery.status).where(Delivery.notification_id == notification_id, Delivery.channel == "email")
    ).scalars())


def test_fan_out_runs_in_a_real_worker(redis_app, database_url, tmp_path, world):
    sink = Sink()
    try:
        redis_app.config["MAIL_URL"] = sink.url
        redis_app.config["NOTIFY_CHUNK_SIZE"] = 4
        people = parents(10)
        jobs.commit()
        n = notify("announcement", [p.id for p in people], {"title": "Qua hàng đợi"},
                   school_id=world["schools"][0].id)
        jobs.commit()
        assert jobs.queue().count == 3  # 10 emails in chunks of 4, enqueued after the commit
        assert sink.messages == [] and status_counts(n.id) == {"queued": 10}
        run_worker_burst(redis_app, worker_env(database_url, redis_app.config["REDIS_URL"], sink.url, tmp_path))
        assert status_counts(n.id) == {"sent": 10}
        assert sorted(sink.by_message_id().values()) == [1] * 10

        # The workers keep one periodic relay job scheduled (not one per chunk)…
        from rq.job import Job
        from rq.registry import ScheduledJobRegistry

        from app.notifications.tasks import relay_job

        scheduled = ScheduledJobRegistry(queue=jobs.queue()).get_job_ids()
        assert [Job.fetch(i, connection=jobs.redis_connection()).description for i in scheduled] == [
            "app.notifications.tasks:relay_job"]
        # …which stops rescheduling itself once nothing is left to do.
        assert relay_job() == {"released": 0, "requeued": 0, "digests": 0}
        assert ScheduledJobRegistry(queue=jobs.queue()).get_job_ids() == scheduled
    finally:
        sink.stop()


def test_killed_worker_mid_batch_every_delivery_goes_out_exactly_once(redis_app, database_url, tmp_path):
    sink = Sink(delay=0.03)  # a slow mail server: ~30 ms per message
    env = worker_env(database_url, redis_app.config["REDIS_URL"], sink.url, tmp_path)
    try:
        redis_app.config["MAIL_URL"] = sink.url
        redis_app.config["NOTIFY_CHUNK_SIZE"] = 40
        people = parents(240)
        jobs.commit()
        n = notify("announcement", [p.id for p in people], {"title": "Không bao giờ gửi hai lần"})
        jobs.commit()
        assert jobs.queue().count == 6

        worker = subprocess.Popen([sys.executable, "-m", "flask", "--app", "app", "worker", redis_app.config["JOB_QUEUE"]],
                                  env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            deadline = time.monotonic() + 60
            # Kill it in the middle of a batch, while a message is on the wire (held by the server).
            while not (len(sink.messages) >= 60 and sink.holding):
                assert time.monotonic() < deadline, "the worker did not get going"
                assert worker.poll() is None, "the worker died on its own"
                time.sleep(0.002)
            os.kill(worker.pid, signal.SIGKILL)
        finally:
            worker.wait(timeout=30)
        time.sleep(0.3)  # let the server notice the dropped connection
        before = len(sink.messages)
        counts = status_counts(n.id)
        assert counts["sending"] > 0, counts  # the dead worker's claimed rows
        assert 60 <= before < 240 and counts["sent"] == before

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
        c = make_client()
        c.login_as(staff)
        token = c.csrf("/notifications/test")
        redis_app.config.update(MAIL_URL=sink.url, REDIS_URL=f"redis://127.0.0.1:{closed_port}/0")
        redis_app.extensions.pop("redis", None)
        resp = c.post("/notifications/test", data={"csrf_token": token, "title": "Khi Redis ngừng", "body": ""})
        assert resp.status_code == 302, resp.get_data(as_text=True)[-500:]
        nid = int(resp.headers["Location"].rstrip("/").split("/")[-1])
        assert status_counts(nid) == {"queued": 1}
        assert sink.messages == []

        redis_app.config["REDIS_URL"] = real_url  # Redis is back
        redis_app.extensions.pop("redis", None)
        assert relay(stale_seconds=0)["requeued"] == 1
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
    row = db.session.scalar(sa.select(Delivery).where(Delivery.notification_id == n.id, Delivery.channel == "email"))
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
