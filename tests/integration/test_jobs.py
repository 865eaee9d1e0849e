"""Jobs: in-process without Redis, real RQ queue + real `flask worker` process with Redis, and
the platform outbox under them (written in the transaction, retried, handed over again by the
relay, never committed twice).

The job proving most paths is the staff welcome email, received by a real local SMTP server.
"""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
import sqlalchemy as sa
from redis import Redis
from rq import Queue
from rq.job import Job

from app import jobs, queues, workers
from app.extensions import db
from app.models import ImportJob, User, utcnow
from app.outbox import OutboxJob
from tests.factories import create_school, create_user
from tests.processes import free_port


def _create_teacher(client, admin, school, email="co.lan@example.edu.vn"):
    client.login_as(admin)
    resp = client.post_form(
        "/admin/users/new",
        {
            "full_name": "Phạm Thị Lan",
            "email": email,
            "phone": "",
            "role": "teacher",
            "school_id": school.id,
            "district_id": 0,
            "password": "mot hai ba bon nam sau",
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[-800:]
    return db.session.scalar(sa.select(User).where(User.email == email))


@pytest.fixture
def admin_and_school(app):
    admin = create_user("city_admin")
    school = create_school()
    jobs.commit()
    return admin, school


def test_welcome_email_in_process(app, client, smtp_server, admin_and_school):
    app.config.update(MAIL_URL=smtp_server.url, REDIS_URL=None)
    admin, school = admin_and_school
    teacher = _create_teacher(client, admin, school)
    msgs = smtp_server.wait_for(1, timeout=5)
    assert len(msgs) == 1
    assert msgs[0]["To"] == "co.lan@example.edu.vn"
    assert "Tuyển sinh" in msgs[0]["Subject"]
    assert "Phạm Thị Lan" in msgs[0].get_body(("plain",)).get_content()
    assert teacher.welcome_sent_at is not None
    # Retrying the job is harmless: it sends at most once per user.
    jobs.run_job("app.tasks:send_welcome_email", [teacher.id], {})
    assert len(smtp_server.messages) == 1


def test_job_is_not_sent_when_the_transaction_rolls_back(app, smtp_server):
    app.config.update(MAIL_URL=smtp_server.url, REDIS_URL=None)
    user = create_user("teacher")
    jobs.enqueue_after_commit("app.tasks:send_welcome_email", user.id)
    jobs.rollback()
    jobs.commit()
    assert smtp_server.messages == []


def test_failed_staff_creation_enqueues_nothing(app, client, smtp_server, admin_and_school):
    app.config.update(MAIL_URL=smtp_server.url, REDIS_URL=None)
    admin, school = admin_and_school
    client.login_as(admin)
    resp = client.post_form(
        "/admin/users/new",
        {
            "full_name": "Phạm Thị Lan",
            "email": "not-an-email",
            "role": "teacher",
            "school_id": school.id,
            "district_id": 0,
            "password": "mot hai ba bon nam sau",
        },
    )
    assert resp.status_code == 422
    assert smtp_server.messages == []


@pytest.mark.redis
def test_welcome_email_through_redis_and_a_real_worker(
    app, client, smtp_server, redis_url, admin_and_school, database_url, tmp_path
):
    app.config.update(MAIL_URL=smtp_server.url, REDIS_URL=redis_url)
    app.extensions.pop("redis", None)
    admin, school = admin_and_school
    teacher = _create_teacher(client, admin, school)
    queue = Queue(app.config["JOB_QUEUE"], connection=Redis.from_url(redis_url))
    assert queue.count == 1  # queued after the commit, not run in the request
    assert smtp_server.messages == []
    assert teacher.welcome_sent_at is None

    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        MAIL_URL=smtp_server.url,
        SECRET_KEY="worker-test",
        PUBLIC_URL="http://localhost",  # a production process: required (app/links.py)
        MAIL_SENDER="Thông báo <thongbao@example.edu.vn>",
        INSTANCE_PATH=str(tmp_path),
    )
    proc = subprocess.run(
        [sys.executable, "-m", "flask", "--app", "app", "worker", "--burst", app.config["JOB_QUEUE"]],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert len(smtp_server.wait_for(1)) == 1
    db.session.expire_all()
    assert db.session.get(User, teacher.id).welcome_sent_at is not None
    assert queue.count == 0


@pytest.mark.redis
def test_run_jobs_fixture_drains_queue_with_real_worker(
    app, client, smtp_server, redis_url, admin_and_school, run_jobs
):
    app.config.update(MAIL_URL=smtp_server.url, REDIS_URL=redis_url)
    app.extensions.pop("redis", None)
    admin, school = admin_and_school
    _create_teacher(client, admin, school, email="thay.nam@example.edu.vn")
    run_jobs()
    assert [m["To"] for m in smtp_server.wait_for(1)] == ["thay.nam@example.edu.vn"]


def test_worker_command_refuses_without_redis(app):
    app.config["REDIS_URL"] = None
    result = app.test_cli_runner().invoke(args=["worker", "--burst"])
    assert result.exit_code != 0
    assert "REDIS_URL" in result.output


def test_record_progress_commits_on_its_own_and_never_breaks_the_job(app, caplog):
    job = ImportJob(kind="roster", file_token="c" * 32)
    db.session.add(job)
    jobs.commit()
    job_id = job.id
    jobs.record_progress(ImportJob, job_id, progress=42)
    jobs.rollback()  # the job's own transaction is rolled back: the progress stays
    with db.engine.connect() as other:
        assert other.execute(sa.select(ImportJob.progress).where(ImportJob.id == job_id)).scalar() == 42
    jobs.record_progress(ImportJob, job_id, no_such_column=1)  # logged, not raised
    assert f"import_job {job_id}: could not record progress" in caplog.text


# ------------------------------------------------------------------ the platform outbox


def _outbox() -> list[OutboxJob]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(OutboxJob).order_by(OutboxJob.id)))


def failing_job(user_id: int) -> None:
    """A job that writes and then fails (module level: jobs are found by their path)."""
    db.session.get(User, user_id).full_name = "Không được lưu"
    raise RuntimeError("mail server exploded")


def job_that_loses_its_claim(user_id: int) -> None:
    """A job whose run outlives its claim: another runner took the row over meanwhile."""
    db.session.get(User, user_id).full_name = "Chạy hai lần"
    with db.engine.begin() as conn:
        conn.execute(sa.update(OutboxJob.__table__).values(claim_token="someone-else"))


def test_the_job_is_an_outbox_row_of_the_transaction(app, smtp_server):
    app.config.update(MAIL_URL=smtp_server.url, REDIS_URL=None)
    user = create_user("teacher", email="hang.doi@example.edu.vn")
    jobs.commit()
    jobs.enqueue_after_commit("app.tasks:send_welcome_email", user.id)
    (row,) = _outbox()
    assert (row.path, row.args, row.kwargs, row.handovers) == (
        "app.tasks:send_welcome_email",
        [user.id],
        {},
        1,
    )
    jobs.rollback()
    assert _outbox() == [] and smtp_server.messages == []  # gone with the transaction

    jobs.enqueue_after_commit("app.tasks:send_welcome_email", user.id)
    jobs.commit()  # in-process: runs right after the commit, and its row goes with the job's commit
    assert [m["To"] for m in smtp_server.messages] == ["hang.doi@example.edu.vn"]
    assert _outbox() == []
    with pytest.raises(TypeError, match="JSON"):
        jobs.enqueue_after_commit("app.tasks:send_welcome_email", object())


def test_a_failed_job_is_retried_with_backoff_then_given_up_and_shown_to_the_admin(app, make_client):
    app.config.update(REDIS_URL=None, JOBS_RAISE=False)
    user = create_user("teacher")
    admin = create_user("city_admin")
    jobs.commit()
    jobs.enqueue_after_commit("tests.integration.test_jobs:failing_job", user.id)
    jobs.commit()
    (row,) = _outbox()
    assert row.attempts == 1 and "mail server exploded" in row.last_error and row.failed_at is None
    assert row.handed_at is None and row.not_before > utcnow() + timedelta(seconds=8)  # retry in 10 s
    assert db.session.get(User, user.id).full_name != "Không được lưu"  # its writes rolled back
    assert jobs.relay()["handed"] == 0  # not due yet
    for attempt, wait in ((2, 60), (3, 300), (4, None)):
        db.session.execute(sa.update(OutboxJob).values(not_before=utcnow() - timedelta(seconds=1)))
        jobs.commit()
        assert jobs.relay()["handed"] == 1
        (row,) = _outbox()
        assert row.attempts == attempt
        if wait is not None:
            assert row.not_before > utcnow() + timedelta(seconds=wait - 5) and row.failed_at is None
    assert row.failed_at is not None  # given up after four runs
    assert jobs.relay()["handed"] == 0
    c = make_client()
    c.login_as(admin)
    page = c.get("/notifications/admin/failures").get_data(as_text=True)
    assert "tests.integration.test_jobs:failing_job" in page and "mail server exploded" in page


def test_a_second_hand_over_is_harmless_and_a_run_that_lost_its_claim_rolls_back(app, smtp_server):
    app.config.update(MAIL_URL=smtp_server.url, REDIS_URL=None)
    user = create_user("teacher", email="hai.lan@example.edu.vn")
    jobs.commit()
    jobs.enqueue_after_commit("app.tasks:send_welcome_email", user.id)
    (row,) = _outbox()
    row_id = row.id
    jobs.commit()
    assert jobs.run_from_outbox(row_id) is None  # handed over again: the row is gone, nothing runs
    assert len(smtp_server.messages) == 1

    jobs.enqueue_after_commit("tests.integration.test_jobs:job_that_loses_its_claim", user.id)
    jobs.commit()
    assert db.session.get(User, user.id).full_name != "Chạy hai lần"  # rolled back: the other runner's
    (row,) = _outbox()
    assert row.claim_token == "someone-else"


def test_the_relay_hands_over_due_lapsed_and_never_started_jobs(app, smtp_server):
    """In-process: a job due later runs when due; a runner killed mid-job (its lease lapsed) and
    a hand-over that never started (the process died right after the commit) are run again."""
    app.config.update(MAIL_URL=smtp_server.url, REDIS_URL=None, JOB_HANDOVER_GRACE_SECONDS=15)
    a, b, c = (create_user("teacher", email=f"gv{i}@example.edu.vn") for i in range(3))
    jobs.commit()
    jobs.enqueue_many_after_commit("app.tasks:send_welcome_email", [[a.id]], at=utcnow() + timedelta(hours=1))
    jobs.commit()
    assert jobs.relay()["handed"] == 0 and smtp_server.messages == []
    now = utcnow()
    db.session.execute(sa.update(OutboxJob).values(not_before=now - timedelta(seconds=1)))
    db.session.add_all(
        [
            # claimed by a runner whose lease lapsed a second ago
            OutboxJob(
                path="app.tasks:send_welcome_email",
                args=[b.id],
                kwargs={},
                handed_at=now - timedelta(minutes=1),
                handovers=1,
                claim_token="dead",
                claimed_until=now - timedelta(seconds=1),
                attempts=1,
            ),
            # handed over a minute ago, never started
            OutboxJob(
                path="app.tasks:send_welcome_email",
                args=[c.id],
                kwargs={},
                handed_at=now - timedelta(minutes=1),
                handovers=1,
            ),
            # handed over just now: its runner has not had its grace period yet
            OutboxJob(
                path="app.tasks:send_welcome_email", args=[c.id], kwargs={}, handed_at=now, handovers=1
            ),
        ]
    )
    jobs.commit()
    assert jobs.relay()["handed"] == 3
    assert sorted(m["To"] for m in smtp_server.messages) == [f"gv{i}@example.edu.vn" for i in range(3)]
    assert len(_outbox()) == 1  # the fresh one waits for its grace period
    assert jobs.relay()["handed"] == 0


def test_relay_loop_never_raises_and_backs_off_within_its_interval(app, monkeypatch):
    calls = []

    def flaky(**kw):
        calls.append(kw)
        if len(calls) <= 5:
            raise jobs.RelayError("jobs: ConnectionError: Redis is down")
        return {"jobs": {"handed": 0}}

    monkeypatch.setattr(workers.jobs, "relay_all", flaky)
    loop = workers.RelayLoop(app, interval=10)
    assert [loop.run_once() for _ in range(6)] == [1, 2, 4, 8, 10, 10]
    assert loop.failures == 0


def test_relay_command_runs_one_pass_and_fails_loudly_when_it_cannot(app, runner, monkeypatch):
    result = runner.invoke(args=["notifications", "relay"])
    assert result.exit_code == 0 and result.output.strip() == "released 0, requeued 0, digests 0, jobs 0"
    monkeypatch.setattr(jobs, "relay", lambda **kw: (_ for _ in ()).throw(ConnectionError("no Redis")))
    result = runner.invoke(args=["notifications", "relay"])
    assert result.exit_code != 0 and "no Redis" in result.output


@pytest.mark.redis
def test_redis_down_at_commit_the_request_answers_and_the_relay_hands_the_job_over_later(
    app, client, smtp_server, redis_url, admin_and_school, run_jobs
):
    app.config.update(MAIL_URL=smtp_server.url, REDIS_URL=f"redis://127.0.0.1:{free_port()}/0")
    app.extensions.pop("redis", None)
    admin, school = admin_and_school
    try:
        _create_teacher(client, admin, school)  # answers 302: Redis being down is not the request's problem
        (row,) = _outbox()
        assert row.path == "app.tasks:send_welcome_email" and row.handovers == 1
    finally:
        app.config.update(REDIS_URL=redis_url, JOB_HANDOVER_GRACE_SECONDS=0)
        app.extensions.pop("redis", None)
    # Redis is back: the relay finds the job missing there and hands it over again, once.
    assert jobs.relay()["handed"] == 1
    assert jobs.relay()["handed"] == 0  # waiting in the queue now: left alone
    assert jobs.queue().count == 1
    run_jobs()
    assert [m["To"] for m in smtp_server.wait_for(1)] == ["co.lan@example.edu.vn"]
    assert _outbox() == []


@pytest.mark.redis
def test_a_job_lost_in_redis_is_handed_over_again_a_waiting_one_is_not(app, redis_url, run_jobs, smtp_server):
    app.config.update(MAIL_URL=smtp_server.url, REDIS_URL=redis_url, JOB_HANDOVER_GRACE_SECONDS=0)
    app.extensions.pop("redis", None)
    a, b = create_user("teacher", email="a@example.edu.vn"), create_user("teacher", email="b@example.edu.vn")
    jobs.commit()
    jobs.enqueue_many_after_commit("app.tasks:send_welcome_email", [[a.id], [b.id]])
    jobs.commit()
    first, second = _outbox()
    lost = Job.fetch(queues.job_id(first.id, first.handovers), connection=jobs.redis_connection())
    jobs.queue().remove(lost)  # as if Redis had lost it
    lost.delete()
    assert jobs.relay()["handed"] == 1
    assert sorted(j.id for j in jobs.queue().get_jobs()) == sorted(
        [queues.job_id(first.id, 2), queues.job_id(second.id, 1)]
    )
    run_jobs()
    assert sorted(m["To"] for m in smtp_server.wait_for(2)) == ["a@example.edu.vn", "b@example.edu.vn"]
