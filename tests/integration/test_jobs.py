"""Jobs: in-process without Redis, real RQ queue + real `flask worker` process with Redis.

The job proving both paths is the staff welcome email, received by a real local SMTP server.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import User
from tests.factories import create_school, create_user


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
    from redis import Redis
    from rq import Queue

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
    from admissions.models import ImportJob

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
