"""School staff managing the contact book: a pupil who left, subjects (edit, delete), teachers'
activation emails sent again, reported conversations handled, grades read (read-only, audited)."""

from __future__ import annotations

import logging
import re
from datetime import date

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import AuditLog, User
from app.notifications.models import Delivery, Notification
from contactbook import tasks
from contactbook.catalog import standard_subjects
from contactbook.models import (
    Enrolment,
    Grade,
    MessageThread,
    Subject,
    TeachingAssignment,
    Term,
    ThreadReport,
)
from tests.contactbook_factories import add_grade, assign, create_pupil, create_subject
from tests.factories import create_user
from tests.querycount import count_queries


def _client(make_client, user):
    c = make_client()
    c.login_as(user)
    return c


def _post(client, url, data=None):
    return client.post(url, data={"csrf_token": client.csrf("/home"), **(data or {})})


def test_staff_removes_a_pupil_who_left_and_the_records_stay(app, world, cb_world, make_client):
    a1, child = cb_world["a1"], cb_world["child"]
    add_grade(child, cb_world["math_a"], cb_world["terms_a"][0], "level", "HT")
    jobs.commit()
    url = f"/contactbook/classes/{a1.id}/pupils/{child.id}/remove"
    # Not staff, another school's staff, a pupil of another class: refused.
    assert _post(_client(make_client, world["users"]["teacher"]), url).status_code == 403
    assert _post(_client(make_client, world["foreign"]["school_staff"]), url).status_code == 404
    staff = _client(make_client, world["users"]["school_staff"])
    other = f"/contactbook/classes/{a1.id}/pupils/{cb_world['a2_pupil'].id}/remove"
    assert _post(staff, other).status_code == 404
    page = staff.get(f"/contactbook/classes/{a1.id}").get_data(as_text=True)
    assert child.full_name in page and url in page

    assert _post(staff, url).status_code == 302
    assert db.session.scalar(sa.select(Enrolment.id).where(Enrolment.pupil_id == child.id)) is None
    page = staff.get(f"/contactbook/classes/{a1.id}").get_data(as_text=True)
    assert "no longer in class" in page or "không còn" in page  # the message
    assert url not in page and child.pupil_code not in page
    teacher = _client(make_client, world["users"]["teacher"])
    book = teacher.get(f"/contactbook/classes/{a1.id}/grades/{cb_world['math_a'].id}").get_data(as_text=True)
    assert child.full_name not in book
    # The family keeps the account and the link; the child is simply in no class this year.
    parent = _client(make_client, world["users"]["parent"])
    assert parent.get(f"/contactbook/children/{child.id}").status_code == 200
    assert parent.get(f"/contactbook/children/{child.id}/messages/new").status_code == 404
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == "contactbook.unenrol")
        )
        == 1
    )


def test_staff_edit_and_delete_subjects(app, world, cb_world, make_client):
    school = world["schools"][0]
    math, viet = cb_world["math_a"], cb_world["viet_a"]
    viet_id = viet.id
    spare = create_subject(school, 1, "Tin học", has_test=False)
    assign(world["users"]["teacher"], cb_world["a1"], spare)
    add_grade(cb_world["child"], math, cb_world["terms_a"][0], "level", "HT")
    add_grade(cb_world["child"], math, cb_world["terms_a"][0], "endterm", 8)
    jobs.commit()
    staff = _client(make_client, world["users"]["school_staff"])
    assert f"/contactbook/subjects/{spare.id}" in staff.get(
        f"/contactbook/schools/{school.id}/calendar"
    ).get_data(as_text=True)
    url = f"/contactbook/subjects/{math.id}"
    assert staff.get(url).status_code == 200

    def save(subject, **data):
        u = f"/contactbook/subjects/{subject.id}"
        form = {"name": subject.name, "assessment": subject.assessment, "regular_count": "3", "has_test": "y"}
        form.update(data)
        return staff.post(
            u, data={"csrf_token": staff.csrf(u), **{k: v for k, v in form.items() if v is not None}}
        )

    assert save(math, name="Tiếng Việt").status_code == 422  # the grade has one already
    assert save(math, assessment="scored").status_code == 422  # primary grades use levels
    assert save(math, has_test=None).status_code == 422  # test scores were entered
    db.session.expire_all()
    assert db.session.get(Subject, math.id).has_test is True
    assert save(spare, has_test="y").status_code == 302  # no grades yet: may change
    resp = save(math, name="Toán học", regular_count="4")
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Subject, math.id).name == "Toán học"
    assert (db.session.get(Subject, math.id).regular_count, db.session.get(Subject, spare.id).has_test) == (
        4,
        True,
    )

    # Delete: refused while grades exist, else the subject and its teaching assignments go.
    assert _post(staff, f"/contactbook/subjects/{math.id}/delete").status_code == 302
    assert db.session.get(Subject, math.id) is not None
    assert _post(staff, f"/contactbook/subjects/{viet_id}/delete").status_code == 302
    db.session.expire_all()
    assert db.session.get(Subject, viet_id) is None
    assert (
        db.session.scalar(
            sa.select(sa.func.count(TeachingAssignment.id)).where(TeachingAssignment.subject_id == viet_id)
        )
        == 0
    )

    # Scope: another school's staff 404, teachers 403.
    foreign = _client(make_client, world["foreign"]["school_staff"])
    assert foreign.get(url).status_code == 404
    assert _post(foreign, f"/contactbook/subjects/{spare.id}/delete").status_code == 404
    assert _client(make_client, world["users"]["teacher"]).get(url).status_code == 403
    db.session.expire_all()
    assert db.session.get(Subject, spare.id) is not None


def test_staff_send_a_teacher_a_new_activation_email(app, world, make_client, caplog, run_jobs):
    school = world["schools"][0]
    newcomer = create_user("teacher", school=school, full_name="Đỗ Thị Mới")
    newcomer.password_hash = None
    jobs.commit()
    newcomer_id, newcomer_email = newcomer.id, newcomer.email  # run_jobs may detach the objects
    caplog.set_level(logging.INFO, logger="app.mail")
    assert tasks.send_staff_activation(newcomer.id) is True  # the import's email (code lost since)
    jobs.commit()
    first = re.findall(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b", caplog.text)[-1]

    staff = _client(make_client, world["users"]["school_staff"])
    page = staff.get(f"/contactbook/schools/{school.id}").get_data(as_text=True)
    url = f"/contactbook/teachers/{newcomer.id}/activation-email"
    assert "Đỗ Thị Mới" in page and url in page
    assert page.count(url) == 1  # listed once, in the page (the <title> is the school's name alone)
    assert re.search(r"<title>[^<]*</title>", page) and "Đỗ Thị Mới" not in page.split("</title>")[0]
    assert (
        world["users"]["teacher"].full_name not in page.split(url)[0].split("<h2>")[-1]
    )  # active: not listed
    assert _post(_client(make_client, world["foreign"]["school_staff"]), url).status_code == 404
    assert _post(_client(make_client, world["users"]["teacher"]), url).status_code == 403
    caplog.clear()
    assert _post(staff, url).status_code == 302
    run_jobs()
    second = re.findall(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b", caplog.text)
    assert second and second[-1] != first

    activate = make_client()
    form = {
        "login": newcomer_email,
        "password": "mot ngay dep troi xanh",
        "confirm": "mot ngay dep troi xanh",
    }
    assert activate.post_form("/contactbook/activate", {**form, "code": first}).status_code == 422
    assert activate.post_form("/contactbook/activate", {**form, "code": second[-1]}).status_code == 302
    # Active now: nothing more is sent.
    caplog.clear()
    assert _post(staff, url).status_code == 302
    run_jobs()
    assert not re.findall(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b", caplog.text)
    assert db.session.get(User, newcomer_id).password_hash


def test_staff_read_a_reported_conversation_and_close_the_report(app, world, cb_world, make_client):
    parent = _client(make_client, world["users"]["parent"])
    new = f"/contactbook/children/{cb_world['child'].id}/messages/new"
    resp = parent.post(
        new,
        data={
            "csrf_token": parent.csrf(new),
            "recipient": str(world["users"]["teacher"].id),
            "body": "Cô ơi cho cháu nghỉ thứ sáu.",
        },
    )
    assert resp.status_code == 302
    thread = db.session.scalar(sa.select(MessageThread))
    turl = f"/contactbook/threads/{thread.id}"
    teacher = _client(make_client, world["users"]["teacher"])
    assert (
        teacher.post(
            f"{turl}/report", data={"csrf_token": teacher.csrf(turl), "reason": "Tin nhắn gửi nhầm người"}
        ).status_code
        == 302
    )
    report = db.session.scalar(sa.select(ThreadReport))
    url = f"/contactbook/reports/{report.id}"

    staff = _client(make_client, world["users"]["school_staff"])
    listing = staff.get(f"/contactbook/schools/{world['schools'][0].id}/reports").get_data(as_text=True)
    assert url in listing and "Tin nhắn gửi nhầm người" in listing
    page = staff.get(url)
    assert page.status_code == 200 and "Cô ơi cho cháu nghỉ thứ sáu." in page.get_data(as_text=True)
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "contactbook.view_reported_thread")
        )
        == 1
    )
    # Other schools' staff and the conversation's own members do not get the staff page.
    assert _client(make_client, world["foreign"]["school_staff"]).get(url).status_code == 404
    assert teacher.get(url).status_code == 403 and parent.get(url).status_code == 403

    assert staff.post(url, data={"csrf_token": staff.csrf(url), "resolution": ""}).status_code == 422
    done = staff.post(url, data={"csrf_token": staff.csrf(url), "resolution": "Đã gọi điện cho phụ huynh."})
    assert done.status_code == 302
    db.session.expire_all()
    report = db.session.get(ThreadReport, report.id)
    assert (report.status, report.closed_by_id, report.resolution) == (
        "closed",
        world["users"]["school_staff"].id,
        "Đã gọi điện cho phụ huynh.",
    )
    told = (
        db.session.execute(
            sa.select(Notification)
            .join(Delivery, Delivery.notification_id == Notification.id)
            .where(
                Delivery.recipient_id == world["users"]["teacher"].id,
                Notification.sender_id == world["users"]["school_staff"].id,
            )
        )
        .scalars()
        .all()
    )
    assert told and told[0].context["child_name"] == cb_world["child"].full_name
    # Closed: a second close changes nothing.
    again = staff.post(url, data={"csrf_token": staff.csrf(url), "resolution": "Khác"})
    assert again.status_code == 302
    db.session.expire_all()
    assert db.session.get(ThreadReport, report.id).resolution == "Đã gọi điện cho phụ huynh."


def test_reports_list_runs_a_bounded_number_of_queries(app, world, cb_world, make_client):
    def add_reports(n):
        for _ in range(n):
            guardian = create_user("parent")
            pupil = create_pupil(cb_world["a1"], guardians=[guardian])
            t = MessageThread(
                pupil_id=pupil.id,
                guardian_id=guardian.id,
                teacher_id=world["users"]["teacher"].id,
                school_id=cb_world["a1"].school_id,
            )
            db.session.add(t)
            db.session.flush()
            db.session.add(
                ThreadReport(thread_id=t.id, school_id=t.school_id, reporter_id=guardian.id, reason="x")
            )
        jobs.commit()

    staff = _client(make_client, world["users"]["school_staff"])
    url = f"/contactbook/schools/{world['schools'][0].id}/reports"
    add_reports(1)
    staff.get(url)
    with count_queries(app) as small:
        assert staff.get(url).status_code == 200
    add_reports(15)
    with count_queries(app) as big:
        assert staff.get(url).status_code == 200
    assert big.count == small.count


def test_staff_read_grades_without_changing_them(app, world, cb_world, make_client):
    a1, math, child = cb_world["a1"], cb_world["math_a"], cb_world["child"]
    add_grade(child, math, cb_world["terms_a"][0], "level", "HTT")
    jobs.commit()
    staff = _client(make_client, world["users"]["school_staff"])
    assert f"/contactbook/classes/{a1.id}/overview" in staff.get(f"/contactbook/classes/{a1.id}").get_data(
        as_text=True
    )
    overview = staff.get(f"/contactbook/classes/{a1.id}/overview")
    assert overview.status_code == 200 and "HTT" in overview.get_data(as_text=True)
    url = f"/contactbook/classes/{a1.id}/grades/{math.id}"
    book = staff.get(url)
    assert book.status_code == 200
    body = book.get_data(as_text=True)
    assert "HTT" in body and 'name="g-' not in body and "/import" not in body
    assert staff.get(url + "/export.xlsx").status_code == 200
    resp = staff.post(
        url, data={"csrf_token": staff.csrf("/home"), "action": "publish", f"g-{child.id}-level-1": "CHT"}
    )
    assert resp.status_code == 404
    assert db.session.scalar(sa.select(Grade.mark)) == "HTT"
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "contactbook.view_grades")
        )
        == 2
    )
    # Another school's staff, and a subject teacher who is not the homeroom teacher: 404.
    foreign = _client(make_client, world["foreign"]["school_staff"])
    assert foreign.get(url).status_code == 404
    assert foreign.get(f"/contactbook/classes/{a1.id}/overview").status_code == 404
    assert (
        _client(make_client, cb_world["a2_teacher"]).get(f"/contactbook/classes/{a1.id}/overview").status_code
        == 404
    )


def test_staff_set_the_terms_and_the_subjects_of_each_grade(app, world, cb_world, make_client):
    school = world["schools"][0]  # primary: grades 1–5
    year = cb_world["year"]
    staff = _client(make_client, world["users"]["school_staff"])
    url = f"/contactbook/schools/{school.id}/calendar"
    assert staff.get(url).status_code == 200

    def terms(t1s, t1e, t2s, t2e):
        return staff.post(
            url,
            data={
                "csrf_token": staff.csrf(url),
                "term1_start": t1s,
                "term1_end": t1e,
                "term2_start": t2s,
                "term2_end": t2e,
            },
        )

    start, end = year.starts_on, year.ends_on
    assert terms(start.isoformat(), "2027-01-10", "2027-01-05", end.isoformat()).status_code == 422  # overlap
    assert (
        terms("2026-08-01", "2027-01-10", "2027-01-11", end.isoformat()).status_code == 422
    )  # before the year
    assert terms(start.isoformat(), "2027-01-10", "2027-01-11", "2027-07-01").status_code == 422  # after it
    assert terms(start.isoformat(), "2027-01-10", "2027-01-11", end.isoformat()).status_code == 302
    db.session.expire_all()
    got = db.session.execute(
        sa.select(Term.number, Term.starts_on, Term.ends_on)
        .where(Term.school_id == school.id, Term.academic_year_id == year.id)
        .order_by(Term.number)
    ).all()
    assert got == [(1, start, date(2027, 1, 10)), (2, date(2027, 1, 11), end)]

    add = f"/contactbook/schools/{school.id}/subjects"

    def subject(**form):
        return staff.post(add, data={"csrf_token": staff.csrf(url), "regular_count": "3", **form})

    assert subject(grade="2", name="Tiếng Anh", assessment="primary", has_test="y").status_code == 302
    assert subject(grade="2", name="tieng anh", assessment="primary").status_code == 422  # same name
    assert subject(grade="7", name="Toán", assessment="scored").status_code == 422  # not taught here
    assert subject(grade="3", name="Toán", assessment="scored").status_code == 422  # primary levels
    assert subject(grade="3", name="=cmd()", assessment="primary").status_code == 422  # formula
    english = db.session.scalar(sa.select(Subject).where(Subject.school_id == school.id, Subject.grade == 2))
    assert (english.name, english.assessment, english.has_test) == ("Tiếng Anh", "primary", True)
    resp = staff.post(
        f"/contactbook/schools/{school.id}/subjects/standard",
        data={"csrf_token": staff.csrf(url), "grade": "4"},
    )
    assert resp.status_code == 302
    fourth = set(
        db.session.scalars(sa.select(Subject.name).where(Subject.school_id == school.id, Subject.grade == 4))
    )
    assert fourth == {s.name for s in standard_subjects(4)}
    staff.post(
        f"/contactbook/schools/{school.id}/subjects/standard",
        data={"csrf_token": staff.csrf(url), "grade": "4"},
    )
    assert db.session.scalar(sa.select(sa.func.count(Subject.id)).where(Subject.grade == 4)) == len(
        fourth
    )  # once

    foreign = _client(make_client, world["foreign"]["school_staff"])
    assert foreign.get(url).status_code == 404
    assert (
        foreign.post(
            add,
            data={
                "csrf_token": foreign.csrf("/home"),
                "grade": "2",
                "name": "Mĩ thuật",
                "assessment": "primary",
                "regular_count": "3",
            },
        ).status_code
        == 404
    )
    assert _client(make_client, world["users"]["teacher"]).get(url).status_code == 403
