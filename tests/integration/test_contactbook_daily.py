"""Attendance (homeroom teacher, whole class per day), term comments and notes, absence requests
(parent files, homeroom teacher approves or declines)."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.i18n import local_today
from app.notifications.models import Notification
from contactbook import daily
from contactbook.models import AbsenceRequest, Attendance, Comment, GradeChange, Guardian, TeachingAssignment
from tests.contactbook_factories import create_pupil, create_user
from tests.querycount import count_queries


def _client(make_client, user):
    c = make_client()
    c.login_as(user)
    return c


def _school_day(cls) -> date:
    year = cls.academic_year
    today = local_today()
    return today if year.starts_on <= today <= year.ends_on else year.starts_on + timedelta(days=30)


def test_homeroom_marks_attendance_for_the_whole_class(app, world, cb_world, make_client, monkeypatch):
    a1 = cb_world["a1"]
    day = _school_day(a1)

    monkeypatch.setattr(daily, "local_today", lambda: day)
    teacher = _client(make_client, world["users"]["teacher"])
    url = f"/contactbook/classes/{a1.id}/attendance?date={day.isoformat()}"
    page = teacher.get(url)
    assert page.status_code == 200
    child, other1, other2 = cb_world["child"], *cb_world["classmates"]
    resp = teacher.post(
        url,
        data={
            "csrf_token": teacher.csrf(url),
            f"s-{child.id}": "unexcused",
            f"n-{child.id}": "không báo",
            f"s-{other1.id}": "late",
            f"s-{cb_world['b_pupil'].id}": "unexcused",
        },
    )  # not of this class: ignored
    assert resp.status_code == 302
    rows = {a.pupil_id: a.status for a in db.session.scalars(sa.select(Attendance))}
    assert rows == {child.id: "unexcused", other1.id: "late", other2.id: "present"}
    again = teacher.post(
        url,
        data={
            "csrf_token": teacher.csrf(url),
            f"s-{child.id}": "unexcused",
            f"n-{child.id}": "không báo",
            f"s-{other1.id}": "late",
        },
    )
    assert again.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Attendance.id))) == 3

    future = f"/contactbook/classes/{a1.id}/attendance?date={(day + timedelta(days=1)).isoformat()}"
    assert teacher.post(future, data={"csrf_token": teacher.csrf(url)}).status_code == 422

    # Only the homeroom teacher: the subject teacher of 1A and teachers of other classes get 404.
    other = _client(make_client, cb_world["a2_teacher"])
    assert other.get(url).status_code == 404
    assert other.post(url, data={"csrf_token": other.csrf("/home")}).status_code == 404

    # The parent sees the absence.
    parent = _client(make_client, world["users"]["parent"])
    body = parent.get(f"/contactbook/children/{child.id}").get_data(as_text=True)
    assert day.strftime("%d/%m/%Y") in body and "không báo" in body


def test_attendance_page_runs_a_bounded_number_of_queries(app, world, cb_world, make_client):
    a1 = cb_world["a1"]
    day = a1.academic_year.starts_on + timedelta(days=3)
    teacher = _client(make_client, world["users"]["teacher"])
    url = f"/contactbook/classes/{a1.id}/attendance?date={day.isoformat()}"
    with count_queries(app) as small:
        assert teacher.get(url).status_code == 200
    for _ in range(25):
        create_pupil(a1, guardians=[create_user("parent")])
    jobs.commit()
    with count_queries(app) as big:
        assert teacher.get(url).status_code == 200
    assert big.count == small.count


def test_absence_request_approved_excuses_recorded_absences(app, world, cb_world, make_client):
    a1 = cb_world["a1"]
    child = cb_world["child"]
    today = local_today()
    db.session.add(Attendance(pupil_id=child.id, class_id=a1.id, on_date=today, status="unexcused"))
    jobs.commit()
    parent = _client(make_client, world["users"]["parent"])
    url = f"/contactbook/children/{child.id}/absence"
    bad = parent.post(
        url,
        data={
            "csrf_token": parent.csrf(url),
            "from_date": today.isoformat(),
            "to_date": (today - timedelta(days=1)).isoformat(),
            "reason": "Ốm",
        },
    )
    assert bad.status_code == 422
    ok = parent.post(
        url,
        data={
            "csrf_token": parent.csrf(url),
            "from_date": today.isoformat(),
            "to_date": (today + timedelta(days=1)).isoformat(),
            "reason": "Cháu bị sốt",
        },
    )
    assert ok.status_code == 302
    req = db.session.scalar(sa.select(AbsenceRequest))
    assert req.status == "pending" and req.class_id == a1.id

    # Another class's teacher cannot see or decide it.
    other = _client(make_client, cb_world["a2_teacher"])
    assert other.get(f"/contactbook/classes/{a1.id}/absences").status_code == 404
    assert (
        other.post(
            f"/contactbook/absences/{req.id}/decide",
            data={"csrf_token": other.csrf("/home"), "decision": "approved"},
        ).status_code
        == 404
    )

    teacher = _client(make_client, world["users"]["teacher"])
    listing = teacher.get(f"/contactbook/classes/{a1.id}/absences").get_data(as_text=True)
    assert "Cháu bị sốt" in listing
    resp = teacher.post(
        f"/contactbook/absences/{req.id}/decide",
        data={"csrf_token": teacher.csrf("/home"), "decision": "approved", "note": "Chúc cháu mau khỏe"},
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(AbsenceRequest, req.id).status == "approved"
    assert db.session.scalar(sa.select(Attendance.status)) == "excused"
    twice = teacher.post(
        f"/contactbook/absences/{req.id}/decide",
        data={"csrf_token": teacher.csrf("/home"), "decision": "declined"},
    )
    assert twice.status_code == 302
    assert db.session.get(AbsenceRequest, req.id).status == "approved"
    body = parent.get(f"/contactbook/children/{child.id}").get_data(as_text=True)
    assert "Chúc cháu mau khỏe" in body


def test_term_comments_and_notes_reach_the_family(app, world, cb_world, make_client):
    a1 = cb_world["a1"]
    child = cb_world["child"]
    term = cb_world["terms_a"][0]
    teacher = _client(make_client, world["users"]["teacher"])
    url = f"/contactbook/classes/{a1.id}/comments?term={term.id}"
    assert teacher.get(url).status_code == 200
    resp = teacher.post(
        url,
        data={
            "csrf_token": teacher.csrf(url),
            f"c-{child.id}": "Chăm ngoan, tiến bộ môn Toán.",
            f"c-{cb_world['b_pupil'].id}": "không thuộc lớp",
        },
    )
    assert resp.status_code == 302
    assert db.session.scalars(sa.select(Comment.body)).all() == ["Chăm ngoan, tiến bộ môn Toán."]

    # A subject teacher of the class (1A's Tiếng Việt) writes a note; other teachers cannot.
    subject_teacher = _client(make_client, cb_world["a2_teacher"])
    note_url = f"/contactbook/pupils/{child.id}/notes"
    assert (
        subject_teacher.post(
            note_url,
            data={"csrf_token": subject_teacher.csrf(note_url), "body": "Hôm nay con đọc bài rất tốt."},
        ).status_code
        == 302
    )
    stranger = _client(make_client, world["foreign"]["teacher"])
    assert stranger.get(note_url).status_code == 404
    assert (
        _client(make_client, world["users"]["teacher"])
        .get(f"/contactbook/pupils/{cb_world['b_pupil'].id}/notes")
        .status_code
        == 404
    )

    parent = _client(make_client, world["users"]["parent"])
    body = parent.get(f"/contactbook/children/{child.id}?term={term.id}").get_data(as_text=True)
    assert "Chăm ngoan, tiến bộ môn Toán." in body and "Hôm nay con đọc bài rất tốt." in body


def test_typed_notes_and_reasons_lose_control_characters(app, world, cb_world, make_client):
    """A NUL byte (pasted, or sent by a script) is dropped rather than stored: PostgreSQL refuses it
    in text, which answered 500."""

    a1, child = cb_world["a1"], cb_world["child"]
    teacher = _client(make_client, world["users"]["teacher"])
    token = teacher.csrf("/home")
    day = a1.academic_year.starts_on + timedelta(days=2)
    resp = teacher.post(
        f"/contactbook/classes/{a1.id}/attendance?date={day.isoformat()}",
        data={"csrf_token": token, f"s-{child.id}": "late", f"n-{child.id}": "xe\x00 hỏng\x07"},
    )
    assert resp.status_code == 302
    assert db.session.scalar(sa.select(Attendance.note).where(Attendance.pupil_id == child.id)) == "xe hỏng"
    book = f"/contactbook/classes/{a1.id}/grades/{cb_world['math_a'].id}"
    assert (
        teacher.post(
            book, data={"csrf_token": token, "action": "publish", f"g-{child.id}-level-1": "HT"}
        ).status_code
        == 302
    )
    resp = teacher.post(
        book,
        data={
            "csrf_token": token,
            "action": "save",
            f"g-{child.id}-level-1": "HTT",
            "reason": "chấm\x00 lại",
        },
    )
    assert resp.status_code == 302
    assert db.session.scalar(sa.select(GradeChange.reason)) == "chấm lại"
    form = {
        "login": "me\x00@example.vn",
        "code": "ABCD-EFGH",
        "password": "mot ngay dep troi",
        "confirm": "mot ngay dep troi",
    }
    assert make_client().post_form("/contactbook/activate", form).status_code == 422


def test_subject_teachers_write_term_comments_in_their_subject(app, world, cb_world, make_client):
    a1, child, viet = cb_world["a1"], cb_world["child"], cb_world["viet_a"]
    term = cb_world["terms_a"][0]
    url = f"/contactbook/classes/{a1.id}/grades/{viet.id}/comments?term={term.id}"
    viet_teacher = _client(make_client, cb_world["a2_teacher"])
    assert url.split("?")[0] in viet_teacher.get(f"/contactbook/classes/{a1.id}/grades/{viet.id}").get_data(
        as_text=True
    )
    long = viet_teacher.post(url, data={"csrf_token": viet_teacher.csrf(url), f"c-{child.id}": "x" * 2001})
    assert long.status_code == 422 and "x" * 2001 in long.get_data(as_text=True)  # what was typed stays
    resp = viet_teacher.post(
        url, data={"csrf_token": viet_teacher.csrf(url), f"c-{child.id}": "Đọc trôi chảy, viết còn chậm."}
    )
    assert resp.status_code == 302
    # The homeroom teacher reads the Tiếng Việt book but does not write its comments; nor do others.
    assert _client(make_client, world["users"]["teacher"]).get(url).status_code == 404
    assert _client(make_client, world["foreign"]["teacher"]).get(url).status_code == 404
    assert _client(make_client, world["users"]["school_staff"]).get(url).status_code == 403
    # The homeroom comment and the subject comment are separate; the family sees both, labelled.
    homeroom = _client(make_client, world["users"]["teacher"])
    hurl = f"/contactbook/classes/{a1.id}/comments?term={term.id}"
    assert (
        homeroom.post(hurl, data={"csrf_token": homeroom.csrf(hurl), f"c-{child.id}": "Ngoan."}).status_code
        == 302
    )
    page = _client(make_client, world["users"]["parent"]).get(
        f"/contactbook/children/{child.id}?term={term.id}"
    )
    body = page.get_data(as_text=True)
    assert "Đọc trôi chảy, viết còn chậm." in body and "Ngoan." in body
    assert f"({viet.name}): Đọc trôi chảy" in body
    # A new Tiếng Việt teacher takes over the class and edits the same comments.
    newcomer = create_user("teacher", school=world["schools"][0])
    db.session.execute(
        sa.update(TeachingAssignment)
        .where(TeachingAssignment.subject_id == viet.id, TeachingAssignment.class_id == a1.id)
        .values(teacher_id=newcomer.id)
    )
    jobs.commit()
    successor = _client(make_client, newcomer)
    assert "Đọc trôi chảy, viết còn chậm." in successor.get(url).get_data(as_text=True)
    assert (
        successor.post(url, data={"csrf_token": successor.csrf(url), f"c-{child.id}": ""}).status_code == 302
    )
    assert db.session.scalars(sa.select(Comment.body).order_by(Comment.id)).all() == ["Ngoan."]


def test_an_approved_absence_is_not_announced_to_the_family_again(
    app, world, cb_world, make_client, monkeypatch
):
    """The family asked for the day off and the teacher approved it: marking the child absent
    must not send them 'Absence recorded on …'; an unannounced absence still does."""

    a1 = cb_world["a1"]
    day = _school_day(a1)
    monkeypatch.setattr(daily, "local_today", lambda: day)
    child, other1, _other2 = cb_world["child"], *cb_world["classmates"]
    db.session.add(
        AbsenceRequest(
            pupil_id=child.id,
            class_id=a1.id,
            requested_by_id=world["users"]["parent"].id,
            from_date=day,
            to_date=day,
            reason="Khám răng",
            status="approved",
        )
    )
    db.session.add(Guardian(pupil_id=other1.id, user_id=create_user("parent").id))
    jobs.commit()
    teacher = _client(make_client, world["users"]["teacher"])
    url = f"/contactbook/classes/{a1.id}/attendance?date={day.isoformat()}"
    resp = teacher.post(
        url,
        data={"csrf_token": teacher.csrf(url), f"s-{child.id}": "excused", f"s-{other1.id}": "unexcused"},
    )
    assert resp.status_code == 302
    told = [n.context["child_name"] for n in db.session.scalars(sa.select(Notification))]
    assert told == [other1.full_name]
