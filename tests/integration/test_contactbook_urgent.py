"""Urgent notices: school staff (their school, whole or chosen classes) and district officers
(their district's schools) send one; a confirmation step shows the families and SMS first; it
goes at once by every channel the family has, past quiet hours; an audit entry in Vietnamese;
teachers cannot send one; empty, oversized and too frequent sends are refused.

Runs on SQLite with in-process jobs, and on PostgreSQL + Redis (DATABASE_URL, REDIS_URL) where
a real RQ worker drains the queue (`run_jobs`). Mail goes to a real local SMTP server, SMS to a
real local HTTP gateway."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app import jobs
from app.audit import describe
from app.extensions import db
from app.models import AuditLog, utcnow
from app.notifications.models import Delivery, Notification
from contactbook.models import Announcement, AnnouncementRecipient
from tests.notification_helpers import Clock, Gateway, Sink, hanoi

URL = "/contactbook/urgent/new"


@pytest.fixture
def servers(app):
    """Mail and SMS servers, the clock at 22:30 in Hanoi: inside everyone's quiet hours."""
    sink, gw = Sink(), Gateway()
    app.config.update(MAIL_URL=sink.url, SMS_GATEWAY_URL=gw.url, NOTIFY_CLOCK=Clock(hanoi(22, 30)))
    yield sink, gw
    sink.stop()
    gw.stop()


@pytest.fixture
def families(world, cb_world):
    """School A: the world parent (class 1A; email, phone, uses the app) and another family
    (class 1B; phone only). School B: one family."""
    parent = world["users"]["parent"]
    parent.email, parent.last_login_at = "me.an@example.vn", utcnow()
    jobs.commit()
    return parent, cb_world["other_family"], cb_world["b_parent"]


def _client(make_client, user):
    c = make_client()
    c.login_as(user)
    return c


def _post(c, **data):
    return c.post(URL, data={"csrf_token": c.csrf(URL), "requires_ack": "y", **data})


NOTICE = {
    "title": "Bão số 3: học sinh nghỉ học ngày mai",
    "body": "Nhà trường cho học sinh nghỉ học thứ Sáu.",
}


def test_staff_confirms_then_it_goes_at_once_by_every_channel(
    app, world, families, servers, make_client, run_jobs
):
    sink, gw = servers
    parent, other, foreign = families
    staff = _client(make_client, world["users"]["school_staff"])
    assert staff.get(URL).status_code == 200

    # The first POST only shows what would happen: 2 families, 2 SMS, 1 email. Nothing is sent.
    page = _post(staff, audience="school", **NOTICE)
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and 'name="confirm"' in html
    assert "2 gia đình" in html and "2 SMS" in html and "1 email" in html
    assert db.session.scalar(sa.select(sa.func.count(Notification.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(Announcement.id))) == 0

    sent = _post(staff, audience="school", confirm="1", **NOTICE)
    assert sent.status_code == 302, sent.get_data(as_text=True)[-800:]
    n = db.session.scalar(sa.select(Notification))
    assert sent.headers["Location"].endswith(f"/notifications/sent/{n.id}")
    a = db.session.scalar(sa.select(Announcement))
    assert (n.kind, n.urgent, n.subject, a.urgent) == ("emergency", True, f"announcement:{a.id}", True)
    run_jobs()

    rows = db.session.scalars(sa.select(Delivery).where(Delivery.notification_id == n.id)).all()
    by = {(d.recipient_id, d.channel): d for d in rows}
    # Every channel the family has, none held for quiet hours (22:30), none in a daily summary.
    assert set(by) == {
        (parent.id, "in_app"),
        (parent.id, "email"),
        (parent.id, "sms"),
        (other.id, "in_app"),
        (other.id, "sms"),
    }
    assert all(d.not_before is None and not d.digest and d.status == "sent" for d in rows)
    assert [m["To"] for m in sink.messages] == ["me.an@example.vn"]
    assert sorted(r["to"] for r in gw.requests) == sorted([parent.phone, other.phone])
    # The family of another school gets nothing.
    assert foreign.id not in {d.recipient_id for d in rows}
    assert (
        db.session.scalar(sa.select(AnnouncementRecipient).where(AnnouncementRecipient.user_id == foreign.id))
        is None
    )

    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "contactbook.urgent_notice"))
    assert entry.details["families"] == 2 and entry.details["sms"] == 2
    with app.test_request_context(headers={"Accept-Language": "vi"}):
        assert describe(entry).what == "Gửi thông báo khẩn"

    report = staff.get(f"/notifications/sent/{n.id}").get_data(as_text=True)
    assert 'data-family="total">2<' in report and 'data-family="sent">2<' in report


def test_chosen_classes_only_reach_their_families(app, world, cb_world, families, servers, make_client):
    parent, other, _foreign = families
    staff = _client(make_client, world["users"]["school_staff"])
    page = _post(staff, audience="classes", classes=str(cb_world["a2"].id), **NOTICE).get_data(as_text=True)
    assert "Các lớp được chọn: 1B" in page and "1 gia đình" in page
    resp = _post(staff, audience="classes", classes=str(cb_world["a2"].id), confirm="1", **NOTICE)
    assert resp.status_code == 302
    recipients = set(db.session.scalars(sa.select(Delivery.recipient_id)))
    assert recipients == {other.id}
    # A class of another school is not a valid choice.
    resp = _post(staff, audience="classes", classes=str(cb_world["b1"].id), confirm="1", **NOTICE)
    assert resp.status_code == 422 and "Chỉ chọn các lớp của trường mình." in resp.get_data(as_text=True)
    for bad in ("abc", ""):
        assert _post(staff, audience="classes", classes=bad, confirm="1", **NOTICE).status_code == 422
    assert _post(staff, audience="district", confirm="1", **NOTICE).status_code == 422  # officers' choice
    assert db.session.scalar(sa.select(sa.func.count(Announcement.id))) == 1


def test_district_officer_sends_to_chosen_schools_of_the_district_only(
    app, world, families, servers, make_client
):
    parent, other, foreign = families
    school_a, school_b = world["schools"]
    officer = _client(make_client, world["users"]["district_officer"])
    page = officer.get(URL).get_data(as_text=True)
    assert school_a.name in page and school_b.name not in page
    # A school of another district, alone or with one of the officer's own: refused, nothing sent.
    for chosen in ([school_b.id], [school_a.id, school_b.id]):
        resp = officer.post(
            URL,
            data={
                "csrf_token": officer.csrf(URL),
                "audience": "schools",
                "schools": chosen,
                "confirm": "1",
                **NOTICE,
            },
        )
        assert resp.status_code == 422
        assert "Chỉ chọn các trường trong quận/huyện của mình." in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Notification.id))) == 0
    resp = _post(officer, audience="district", confirm="1", **NOTICE)
    assert resp.status_code == 302
    assert set(db.session.scalars(sa.select(Delivery.recipient_id))) == {parent.id, other.id}
    assert db.session.scalar(sa.select(Notification.school_id)) == school_a.id


def test_teachers_and_parents_cannot_send_one(app, world, families, servers, make_client):
    for user in (world["users"]["teacher"], world["users"]["parent"], world["users"]["city_admin"]):
        c = _client(make_client, user)
        assert c.get(URL).status_code == 403, user.role
        resp = c.post(
            URL, data={"csrf_token": c.csrf("/home"), "audience": "school", "confirm": "1", **NOTICE}
        )
        assert resp.status_code == 403, user.role
    assert db.session.scalar(sa.select(sa.func.count(Notification.id))) == 0


@pytest.mark.parametrize(
    ("title", "body", "message"),
    [
        ("Bão", "", "Vui lòng viết nội dung thông báo."),
        ("", "Nghỉ học", "Vui lòng nhập tiêu đề."),
        ("Bão", "x" * 1001, "tối đa 1000 ký tự"),
        ("B" * 121, "Nghỉ học", "tối đa 120 ký tự"),
    ],
)
def test_empty_or_oversized_text_is_refused_clearly(
    app, world, families, servers, make_client, title, body, message
):
    staff = _client(make_client, world["users"]["school_staff"])
    resp = _post(staff, audience="school", confirm="1", title=title, body=body)
    assert resp.status_code == 422
    assert message in resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Notification.id))) == 0


def test_sends_are_rate_limited_per_sender(app, world, families, servers, make_client):
    app.config["URGENT_NOTICE_LIMIT_PER_HOUR"] = 1
    staff = _client(make_client, world["users"]["school_staff"])
    assert _post(staff, audience="school", confirm="1", **NOTICE).status_code == 302
    again = _post(staff, audience="school", confirm="1", **NOTICE)
    assert again.status_code == 422
    assert "trong một giờ qua" in again.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Announcement.id))) == 1
