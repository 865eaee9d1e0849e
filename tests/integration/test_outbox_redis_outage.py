"""A Redis outage while people work: nothing answers 500, nothing is lost, nothing runs twice.

Real processes and servers: a private redis-server on a free port (stopped and started again;
without persistence, so it comes back empty, the harshest case), a real `flask --app app worker`
and a real `flask --app app notifications relay --loop` on it, a real local SMTP server, the
suite's database. While Redis is stopped:

(0) the worker and the relay loop start while Redis is down,
(a) a city admin creates a teacher through /admin/users/new (the welcome email is a job),
(b) a district officer uploads an admissions roster through /admissions/imports (a job),
(c) the officer runs an allocation round, and, in a second outage, publishes it (the families'
    notices are a job that writes notifications, whose emails are more jobs).

Every request answers normally. Once Redis is back, within a minute, every email, job and notice
goes out exactly once (counted at the SMTP server and in the database), and the worker and the
relay loop are still the same processes, alive. Small leases and intervals keep it quick; the
production figures (docs/notifications.md) give well under a minute too.

It runs in CI's PostgreSQL + Redis pass (REDIS_URL set).
"""

from __future__ import annotations

import io
import time
from collections import Counter

import openpyxl
import pytest
import sqlalchemy as sa

from admissions.models import AllocationRound, RosterEntry
from app import jobs
from app.extensions import db
from app.models import District, ImportJob, Role, User, utcnow
from app.notifications.models import Delivery, Notification, NotificationSettings
from app.outbox import OutboxJob
from tests.admissions_factories import (
    add_child_for,
    close_window,
    create_application,
    create_area,
    create_season,
    enter_beacon,
    level_of,
)
from tests.factories import create_school, create_user
from tests.notification_helpers import Sink
from tests.processes import PrivateRedis, relay_loop, wait_until, worker, worker_env

pytestmark = [pytest.mark.redis, pytest.mark.slow]

RECOVERY = 60  # seconds: everything out within a minute of Redis coming back


def count(model, *where) -> int:
    db.session.rollback()  # a fresh snapshot: the worker commits from another process
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0


def state() -> str:
    """What the database holds (for a failure message)."""
    db.session.rollback()
    outbox = db.session.execute(
        sa.select(OutboxJob.id, OutboxJob.path, OutboxJob.handovers, OutboxJob.attempts, OutboxJob.last_error)
    ).all()
    notes = Counter(db.session.scalars(sa.select(Notification.kind)))
    deliveries = Counter(db.session.execute(sa.select(Delivery.channel, Delivery.status)).all())
    return f"outbox {outbox}\nnotifications {notes}\ndeliveries {deliveries}"


def roster_file(client) -> bytes:
    """The import page's own template (one example row) plus a second child."""
    resp = client.get("/admissions/imports/template?kind=roster")
    assert resp.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(resp.data))
    ws = wb.active
    example = [c.value for c in ws[2]]
    second = list(example)
    second[0], second[1] = "001320012399", "Nguyễn Thị Bình"
    ws.append(second)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def test_redis_outage_requests_answer_and_everything_goes_out_once_it_is_back(
    app, ci_redis_url, database_url, tmp_path, make_client
):
    redis = PrivateRedis(tmp_path)  # not started yet: the worker and the relay start in an outage
    sink = Sink()
    app.config.update(REDIS_URL=redis.url, MAIL_URL=sink.url, NOTIFY_CLOCK=None, JOB_HANDOVER_GRACE_SECONDS=2)
    app.extensions.pop("redis", None)
    env = worker_env(
        database_url,
        redis.url,
        sink.url,
        app.instance_path,  # the uploaded import file is read by the worker
        JOB_QUEUE=app.config["JOB_QUEUE"],
        JOB_HANDOVER_GRACE_SECONDS=2,
        JOB_RELAY_INTERVAL=1,
        JOB_LEASE_SECONDS=5,
        NOTIFY_LEASE_SECONDS=5,
    )
    w = worker(env, app.config["JOB_QUEUE"], tmp_path / "worker.log").start()
    r = relay_loop(env, tmp_path / "relay.log", interval=1).start()
    time.sleep(2)
    redis.start()

    def logs() -> str:
        return f"--- worker\n{w.log_tail()}\n--- relay\n{r.log_tail()}"

    try:
        # The world: a city admin and a school; Cầu Giấy with its officer, a grade-1 season whose
        # window has closed, five children of two families (with email) who applied.
        admin = create_user("city_admin")
        school = create_school()
        district = District(code="CG", name="Quận Cầu Giấy")
        db.session.add(district)
        db.session.flush()
        officer = create_user("district_officer", district=district)
        area = create_area(district, n_children=3)
        area.home.capacity = 2
        season = create_season()
        level = close_window(level_of(season))
        parents = [
            create_user("parent", email="me.an@example.vn"),
            create_user("parent", email="bo.binh@example.vn"),
        ]
        for p in parents:
            p.locale, p.last_login_at = "en", utcnow()
        db.session.flush()
        # The worker runs on the real clock: no quiet hours, or email after 21:00 waits for 06:30.
        db.session.add_all(NotificationSettings(user_id=p.id, quiet_enabled=False) for p in parents)
        for i, entry in enumerate(area.children):
            child = add_child_for(parents[i % 2], entry, season)
            create_application(child, level, parents[i % 2], catchment=area.home)
        enter_beacon(level, district.id, officer)  # frozen at the close; the officer types the beacon
        jobs.commit()
        district_id, level_id, officer_id = district.id, level.id, officer.id

        boss, office = make_client(), make_client()
        boss.login_as(admin)
        office.login_as(officer)
        office.post_form("/lang", {"lang": "en"}, token_from="/home")
        rounds_page = f"/admissions/office/districts/{district_id}/levels/{level_id}/rounds"
        assert office.post_form(rounds_page, {}).status_code == 302
        rnd_id = db.session.scalar(sa.select(AllocationRound.id))
        upload = roster_file(office)
        wait_until(lambda: w.alive() and r.alive() and "Listening on" in w.log_tail(), 60, logs)

        # ---- first outage: (a) a teacher account, (b) an import, (c) a round run
        redis.stop()
        time.sleep(1.5)  # long enough for the worker and the relay loop to hit the outage
        resp = boss.post_form(
            "/admin/users/new",
            {
                "full_name": "Phạm Thị Lan",
                "email": "co.lan@example.edu.vn",
                "phone": "",
                "role": "teacher",
                "school_id": school.id,
                "district_id": 0,
                "password": "mot hai ba bon nam sau",
            },
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)[-800:]
        token = office.csrf("/admissions/imports")
        resp = office.post(
            "/admissions/imports?kind=roster",
            data={"csrf_token": token, "roster-file": (io.BytesIO(upload), "danh sach.xlsx")},
            content_type="multipart/form-data",
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)[-800:]
        resp = office.post_form(
            f"/admissions/office/rounds/{rnd_id}/run", {}, token_from=f"/admissions/office/rounds/{rnd_id}"
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)[-800:]
        assert count(OutboxJob) == 3  # the three jobs wait in the outbox, committed with the requests
        assert sink.messages == []
        time.sleep(2)
        assert w.alive() and r.alive(), logs()

        redis.start()  # back, and empty: the jobs handed over before the outage are gone
        back = time.monotonic()
        wait_until(
            lambda: (
                count(OutboxJob) == 0
                and count(ImportJob, ImportJob.status == "done") == 1
                and count(AllocationRound, AllocationRound.status == "done") == 1
                and len(sink.messages) == 1
            ),
            RECOVERY,
            lambda: f"not done {RECOVERY} s after Redis came back\n{state()}\n{logs()}",
            poll=0.2,
        )
        first_recovery = time.monotonic() - back
        assert [m["To"] for m in sink.messages] == ["co.lan@example.edu.vn"]
        assert db.session.scalar(sa.select(User.welcome_sent_at).where(User.role == Role.TEACHER)) is not None
        job = db.session.scalar(sa.select(ImportJob))
        assert (job.status, job.created_count, job.user_id) == ("done", 2, officer_id)
        assert count(RosterEntry, RosterEntry.full_name.in_(["Nguyễn Thị An", "Nguyễn Thị Bình"])) == 2

        # ---- second outage: (c) the round is published
        redis.stop()
        time.sleep(1.5)
        resp = office.post_form(
            f"/admissions/office/rounds/{rnd_id}/publish",
            {"confirm_by": "", "confirm": "y"},
            token_from=f"/admissions/office/rounds/{rnd_id}",
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)[-800:]
        waiting = db.session.scalars(sa.select(OutboxJob.path)).all()
        # The families' notices wait: the round's results, and the office's offer of the nearest
        # school with seats to a catchment child the round left out (two jobs, one each).
        assert set(waiting) == {"admissions.offers:notify_families"} and count(Notification) == 0, waiting
        time.sleep(2)
        assert w.alive() and r.alive(), logs()

        redis.start()
        back = time.monotonic()
        children = len(area.children)
        wait_until(
            lambda: (
                count(OutboxJob) == 0
                and count(Notification, Notification.kind == "admission") >= children
                and count(Delivery, Delivery.channel == "email", Delivery.status == "sent")
                == count(Notification, Notification.kind == "admission")
            ),
            RECOVERY,
            lambda: (
                f"the notices did not go out within {RECOVERY} s of Redis coming back\n{state()}\n{logs()}"
            ),
            poll=0.2,
        )
        second_recovery = time.monotonic() - back
        time.sleep(1.5)  # a late duplicate would show up here

        # Exactly once: one notice per child, one email per notice, nothing doubled at the server.
        db.session.rollback()
        # One notice per child: the round's result, or for the child the round left out (capacity 2
        # for 3 catchment children) the office's offer; each notice once, each by one email.
        notes = db.session.scalars(sa.select(Notification).where(Notification.kind == "admission")).all()
        assert len(notes) == children
        assert {n.context["child_name"] for n in notes} == {c.full_name for c in area.children}
        assert len({(n.context["child_name"], n.context["title"]) for n in notes}) == len(notes)
        assert Counter(db.session.scalars(sa.select(Delivery.status).where(Delivery.channel == "email"))) == {
            "sent": len(notes)
        }
        by_id = Counter(m["Message-ID"] for m in sink.messages)
        assert len(sink.messages) == 1 + len(notes) and set(by_id.values()) == {1}
        assert sum(Counter(m["To"] for m in sink.messages[1:]).values()) == len(notes)
        assert count(OutboxJob) == 0
        # The same worker and relay processes rode out the three outages (one at their start),
        # and stop when asked.
        assert w.alive() and r.alive() and w.starts == 1 and r.starts == 1, logs()
        assert "Traceback" not in r.log_tail(100_000)
        assert w.stop(timeout=10) and r.stop(timeout=10), logs()
        print(f"\nrecovered in {first_recovery:.1f} s and {second_recovery:.1f} s after Redis came back")
    finally:
        w.stop()
        r.stop()
        redis.stop()
        sink.stop()
        app.extensions.pop("redis", None)
        app.config["REDIS_URL"] = None
