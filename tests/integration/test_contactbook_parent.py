"""Parent pages: own children only (404 otherwise), a switcher between children in different
schools, published grades only with averages and the history of changes, comments, attendance,
the child's teachers — in a bounded number of queries whatever the class size."""

from __future__ import annotations

import socket
from datetime import date, datetime, timedelta

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.i18n import local_today
from app.notifications.models import Delivery, Notification
from contactbook.models import Attendance, Comment, OfficeHours
from tests.contactbook_factories import (
    add_grade,
    assign,
    create_pupil,
    create_subject,
    create_user,
    secondary_setup,
)
from tests.querycount import count_queries


def _client(make_client, user):
    c = make_client()
    c.login_as(user)
    return c


def test_parent_reaches_only_own_children(app, world, cb_world, make_client):
    parent = _client(make_client, world["users"]["parent"])
    assert parent.get("/contactbook/children").status_code == 302  # one child: straight to the page
    assert parent.get(f"/contactbook/children/{cb_world['child'].id}").status_code == 200
    for other in (cb_world["classmates"][0], cb_world["a2_pupil"], cb_world["b_pupil"]):
        assert parent.get(f"/contactbook/children/{other.id}").status_code == 404
        assert parent.get(f"/contactbook/children/{other.id}/absence").status_code == 404
        token = parent.csrf("/home")
        resp = parent.post(
            f"/contactbook/children/{other.id}/absence",
            data={
                "csrf_token": token,
                "from_date": local_today().isoformat(),
                "to_date": local_today().isoformat(),
                "reason": "Ốm",
            },
        )
        assert resp.status_code == 404
    assert parent.get("/contactbook/children/999999").status_code == 404
    # Teachers and staff do not use the parents' pages.
    teacher = _client(make_client, world["users"]["teacher"])
    assert teacher.get(f"/contactbook/children/{cb_world['child'].id}").status_code == 403


def test_switcher_published_grades_averages_and_changes(app, world, cb_world, make_client):
    parent_user = world["users"]["parent"]
    s = secondary_setup(world["districts"][0])
    second = create_pupil(s["cls"], guardians=[parent_user], full_name="Con Thứ Hai")
    t1, t2 = s["terms"]
    math = s["math"]
    for term, values in ((t1, (8, 7, 9, "7.5", 8)), (t2, (9, 9, 9, 9, 9))):
        for i, v in enumerate(values[:3], start=1):
            add_grade(second, math, term, "regular", v, seq=i)
        add_grade(second, math, term, "midterm", values[3])
        add_grade(second, math, term, "endterm", values[4])
    add_grade(second, s["pe"], t1, "regular", "D", status="draft")  # drafts stay hidden
    jobs.commit()

    parent = _client(make_client, parent_user)
    assert parent.get("/contactbook/children").status_code == 200  # two children: a list
    page = parent.get(f"/contactbook/children/{second.id}?term={t1.id}").get_data(as_text=True)
    assert "Con Của Phụ Huynh" in page and "Con Thứ Hai" in page  # the switcher
    assert "7.9" in page  # (8+7+9 + 15 + 24) / 8 = 7.875
    assert "Giáo dục thể chất" in page and "TX1: <strong>Đ" not in page
    page2 = parent.get(f"/contactbook/children/{second.id}?term={t2.id}").get_data(as_text=True)
    assert "9.0" in page2 and "8.6" in page2  # year = (7.9 + 2·9.0) / 3 = 8.633 → 8.6
    assert s["teacher"].full_name in page2

    # The teacher changes a published grade: the parent sees the change and the reason.
    teacher = _client(make_client, s["teacher"])
    url = f"/contactbook/classes/{s['cls'].id}/grades/{math.id}?term={t1.id}"
    resp = teacher.post(
        url,
        data={
            "csrf_token": teacher.csrf(url),
            "action": "save",
            f"g-{second.id}-regular-1": "10",
            "reason": "Cộng điểm bài sửa",
        },
    )
    assert resp.status_code == 302
    page = parent.get(f"/contactbook/children/{second.id}?term={t1.id}").get_data(as_text=True)
    assert "Cộng điểm bài sửa" in page and "8 → 10" in page


def test_child_page_runs_a_bounded_number_of_queries(app, world, cb_world, make_client):
    parent = _client(make_client, world["users"]["parent"])
    child = cb_world["child"]
    url = f"/contactbook/children/{child.id}"
    assert parent.get(url).status_code == 200
    with count_queries(app) as small:
        assert parent.get(url).status_code == 200
    # A much bigger class, more subjects and teachers, many grades, notes and absences.
    a1 = cb_world["a1"]
    term = cb_world["terms_a"][0]
    for _ in range(30):
        create_pupil(a1, guardians=[create_user("parent")])

    for i in range(6):
        subject = create_subject(a1.school, 1, f"Môn {i}")
        assign(create_user("teacher", school=a1.school), a1, subject)
        add_grade(child, subject, term, "level", "HT")
        add_grade(child, subject, term, "endterm", 7)
        db.session.add(
            Comment(
                pupil_id=child.id, author_id=world["users"]["teacher"].id, kind="note", body=f"Ghi chú {i}"
            )
        )
        db.session.add(
            Attendance(
                pupil_id=child.id,
                class_id=a1.id,
                on_date=date(2026, 10, 1) + timedelta(days=i),
                status="late",
            )
        )
    jobs.commit()
    with count_queries(app) as big:
        body = parent.get(url).get_data(as_text=True)
    assert "Môn 5" in body and "Ghi chú 5" in body
    assert big.count == small.count, (small.count, big.count)
    assert big.count <= 20


def test_parent_is_notified_when_grades_are_published(app, world, cb_world, make_client, run_jobs):
    teacher = _client(make_client, world["users"]["teacher"])
    child = cb_world["child"]
    parent_id, child_name = world["users"]["parent"].id, child.full_name
    url = f"/contactbook/classes/{cb_world['a1'].id}/grades/{cb_world['math_a'].id}"
    resp = teacher.post(
        url, data={"csrf_token": teacher.csrf(url), "action": "publish", f"g-{child.id}-level-1": "HTT"}
    )
    assert resp.status_code == 302
    run_jobs()
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Notification, Delivery)
        .join(Delivery, Delivery.notification_id == Notification.id)
        .where(Delivery.recipient_id == parent_id)
    ).all()
    assert rows, "the guardian got no notification"
    n = rows[0][0]
    assert n.kind == "contact_book" and n.context["child_name"] == child_name
    # Classmates' guardians are not told about this child.
    assert all(d.recipient_id == parent_id for _, d in rows)


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_grade_and_attendance_notifications_survive_redis_being_down(app, world, cb_world, make_client):
    """The notifications are written in the request's transaction (the outbox): Redis failing right
    after the commit neither fails the request nor loses them (the relay re-queues the fan-out)."""

    teacher = _client(make_client, world["users"]["teacher"])
    child = cb_world["child"]
    url = f"/contactbook/classes/{cb_world['a1'].id}/grades/{cb_world['math_a'].id}"
    token = teacher.csrf(url)
    real = app.config.get("REDIS_URL")
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{_closed_port()}/0"
    app.extensions.pop("redis", None)
    try:
        resp = teacher.post(
            url, data={"csrf_token": token, "action": "publish", f"g-{child.id}-level-1": "HTT"}
        )
        assert resp.status_code == 302
        day = cb_world["a1"].academic_year.starts_on + timedelta(days=2)
        att = f"/contactbook/classes/{cb_world['a1'].id}/attendance?date={day.isoformat()}"
        resp = teacher.post(att, data={"csrf_token": token, f"s-{child.id}": "unexcused"})
        assert resp.status_code == 302
    finally:
        app.config["REDIS_URL"] = real
        app.extensions.pop("redis", None)
        jobs.redis_connection()  # the app fixture cleans this test's queue keys through it
    db.session.expire_all()
    rows = db.session.execute(
        sa.select(Notification, Delivery)
        .join(Delivery, Delivery.notification_id == Notification.id)
        .where(Delivery.channel == "in_app")
    ).all()
    assert {d.recipient_id for _, d in rows} == {world["users"]["parent"].id}
    assert len(rows) == 2 and {n.context["child_name"] for n, _ in rows} == {child.full_name}
    assert all(n.kind == "contact_book" and n.school_id == cb_world["a1"].school_id for n, _ in rows)
    assert all(d.status == "sent" for _, d in rows)  # in the parent's inbox already


def test_a_whole_class_publish_tells_every_family_in_the_request_and_sends_once(
    app, world, make_client, runner, run_jobs
):
    """A whole class's grades published: one notification per child, written in the request's
    transaction with the grades (notify_many), even while Redis is down; `flask contactbook relay`
    then sends what the outage left unsent, exactly once."""

    app.config["NOTIFY_CLOCK"] = lambda: datetime(2026, 10, 5, 3, 0)  # 10:00 in Hanoi: no quiet hours
    s = secondary_setup(world["districts"][0])
    pupils = s["pupils"] + [create_pupil(s["cls"], guardians=[create_user("parent")]) for _ in range(12)]
    jobs.commit()
    teacher = _client(make_client, s["teacher"])
    # ids only: with Redis, run_jobs() runs a real worker and the test's objects are detached after
    book = f"/contactbook/classes/{s['cls'].id}/grades/{s['math'].id}"
    t1, t2 = (t.id for t in s["terms"])
    pupil_ids = [p.id for p in pupils]
    expected = sorted(p.full_name for p in pupils)

    def publish(term_id):
        url = f"{book}?term={term_id}"
        cells = {f"g-{pid}-regular-1": "8" for pid in pupil_ids}
        return teacher.post(url, data={"csrf_token": teacher.csrf(url), "action": "publish", **cells})

    def notified():
        db.session.expire_all()
        return sorted(
            n.context["child_name"]
            for n in db.session.scalars(sa.select(Notification).where(Notification.kind == "contact_book"))
        )

    def deliveries():
        db.session.expire_all()
        return sorted(db.session.execute(sa.select(Delivery.id, Delivery.channel, Delivery.status)).all())

    real = app.config.get("REDIS_URL")
    app.config["REDIS_URL"] = f"redis://127.0.0.1:{_closed_port()}/0"
    app.extensions.pop("redis", None)
    try:
        assert publish(t1).status_code == 302
    finally:
        app.config["REDIS_URL"] = real
        app.extensions.pop("redis", None)
        jobs.redis_connection()
    assert notified() == expected  # committed with the grades: nothing waits for a job
    unsent = [d for d in deliveries() if d.status == "queued"]
    assert unsent  # the SMS of families who never opened the app: no job took them (Redis down)
    result = runner.invoke(args=["contactbook", "relay"])
    assert result.exit_code == 0 and f"requeued {len(unsent)}," in result.output, result.output
    run_jobs()
    after = deliveries()
    assert {d.id for d in after} == {d.id for d in deliveries()} and all(d.status == "sent" for d in after)
    assert len(after) == len(unsent) * 2  # each child's guardian: the in-app message and one SMS
    assert "requeued 0," in runner.invoke(args=["contactbook", "relay"]).output
    assert notified() == expected and deliveries() == after  # exactly once

    # Redis up (or in-process): the deliveries go out right after the commit.
    assert publish(t2).status_code == 302
    run_jobs()
    assert notified() == sorted(expected * 2)
    assert all(d.status == "sent" for d in deliveries()) and len(deliveries()) == len(after) * 2


def test_child_page_lists_each_teacher_once_with_office_hours(app, world, cb_world, make_client):
    homeroom, other = world["users"]["teacher"], cb_world["a2_teacher"]
    db.session.add_all(
        [
            OfficeHours(teacher_id=homeroom.id, text="Thứ 2–6, 16:30–17:30"),
            OfficeHours(teacher_id=other.id, text="Thứ 7, 8:00–9:00"),
        ]
    )
    jobs.commit()
    parent = _client(make_client, world["users"]["parent"])
    page = parent.get(f"/contactbook/children/{cb_world['child'].id}").get_data(as_text=True)
    teachers = page.split(
        "<h2>",
    )[-1]
    assert (
        teachers.count(homeroom.full_name) == 1
        and "Toán" in teachers.split(homeroom.full_name)[1].split("</li>")[0]
    )
    assert "16:30–17:30" in teachers and "Thứ 7, 8:00–9:00" in teachers
    assert teachers.count(other.full_name) == 1
