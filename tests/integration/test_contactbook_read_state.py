"""One notion of read: an inbox item and the announcement or conversation it points to are read
together, whichever the family (or teacher) opens first; the delivery report counts families,
not channels, and its "Read" agrees with the announcement page's opened count."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import utcnow
from app.notifications.models import Delivery, Notification
from app.notifications.service import family_counts
from contactbook.models import Announcement, AnnouncementRecipient, MessageThread
from tests.contactbook_factories import create_pupil, create_user
from tests.notification_helpers import Clock, Sink, hanoi
from tests.querycount import count_queries


@pytest.fixture
def mail(app):
    sink = Sink()
    app.config.update(MAIL_URL=sink.url, NOTIFY_CLOCK=Clock(hanoi(10)))
    yield sink
    sink.stop()


def _client(make_client, user):
    c = make_client()
    c.login_as(user)
    return c


def _announce(teacher, cb_world, title="Họp phụ huynh đầu năm", run_jobs=None):
    url = f"/contactbook/classes/{cb_world['a1'].id}/announcements/new"
    resp = teacher.post(
        url,
        data={"csrf_token": teacher.csrf(url), "title": title, "body": "Thứ bảy 8:00.", "requires_ack": "y"},
    )
    assert resp.status_code == 302
    if run_jobs is not None:
        run_jobs()  # with Redis: a real worker sends the emails and SMS
    a = db.session.scalar(sa.select(Announcement).where(Announcement.title == title))
    n = db.session.scalar(sa.select(Notification).where(Notification.subject == f"announcement:{a.id}"))
    return a, n


def _inbox_item(user_id, n):
    return db.session.scalar(
        sa.select(Delivery).where(
            Delivery.notification_id == n.id, Delivery.recipient_id == user_id, Delivery.channel == "in_app"
        )
    )


@pytest.fixture
def class_of_three(world, cb_world, mail):
    """Class 1A: the world parent (email: two channels) and two more families (phone only)."""
    parent = world["users"]["parent"]
    parent.email, parent.last_login_at = "me.an@example.vn", utcnow()
    more = [create_user("parent") for _ in range(2)]
    for guardian in more:
        create_pupil(cb_world["a1"], guardians=[guardian])
    jobs.commit()
    return parent, more


def test_reading_or_acknowledging_the_announcement_reads_the_inbox_item(
    app, world, cb_world, class_of_three, make_client, run_jobs
):
    parent_user, more = class_of_three
    teacher = _client(make_client, world["users"]["teacher"])
    a, n = _announce(teacher, cb_world, run_jobs=run_jobs)
    parent = _client(make_client, parent_user)
    assert "Chưa đọc" in parent.get("/notifications/").get_data(as_text=True)
    assert _inbox_item(parent_user.id, n).read_at is None

    page = parent.get(f"/contactbook/announcements/{a.id}").get_data(as_text=True)  # read on its page
    assert re.search(r'class="notif-link">[^<]*\(0\)', page)  # the header's badge on that very page
    db.session.expire_all()
    assert _inbox_item(parent_user.id, n).read_at is not None
    assert "Chưa đọc" not in parent.get("/notifications/").get_data(as_text=True)

    # Acknowledging without opening first (another family) reads it too.
    other = _client(make_client, more[0])
    other.post(f"/contactbook/announcements/{a.id}/ack", data={"csrf_token": other.csrf("/home")})
    db.session.expire_all()
    assert _inbox_item(more[0].id, n).read_at is not None

    # The delivery report and the announcement page count the same families.
    assert family_counts(n.id) == {"total": 3, "sent": 3, "waiting": 0, "failed": 0, "read": 2}
    page = teacher.get(f"/contactbook/announcements/{a.id}").get_data(as_text=True)
    assert "2/3 gia đình đã mở xem." in page
    report = teacher.get(f"/notifications/sent/{n.id}").get_data(as_text=True)
    assert 'data-family="read">2<' in report and 'data-family="total">3<' in report
    # Channels are counted separately, labelled as channel deliveries: 3 in-app, 1 email.
    assert "Lượt gửi theo kênh" in report
    assert 'data-channel="in_app" data-status="sent">3<' in report
    assert 'data-channel="email" data-status="sent">1<' in report


def test_opening_the_inbox_item_opens_the_announcement(app, world, cb_world, class_of_three, make_client):
    parent_user, more = class_of_three
    teacher = _client(make_client, world["users"]["teacher"])
    a, n = _announce(teacher, cb_world)
    parent = _client(make_client, parent_user)
    parent.get(f"/notifications/{_inbox_item(parent_user.id, n).id}")
    # "Mark all as read" is reading too.
    other = _client(make_client, more[0])
    other.post("/notifications/read-all", data={"csrf_token": other.csrf("/notifications/")})
    rows = {
        r.user_id: r
        for r in db.session.scalars(
            sa.select(AnnouncementRecipient).where(AnnouncementRecipient.announcement_id == a.id)
        )
    }
    assert rows[parent_user.id].read_at is not None and rows[more[0].id].read_at is not None
    assert rows[more[1].id].read_at is None
    assert rows[parent_user.id].acked_at is None  # opened is not confirmed
    assert family_counts(n.id)["read"] == 2


def test_teacher_reading_the_thread_reads_the_message_notifications(app, world, cb_world, mail, make_client):
    parent = _client(make_client, world["users"]["parent"])
    url = f"/contactbook/children/{cb_world['child'].id}/messages/new"
    for body in ("Thưa cô, cháu hơi mệt.", "Cháu xin nghỉ buổi chiều."):
        thread = db.session.scalar(sa.select(MessageThread))
        target = url if thread is None else f"/contactbook/threads/{thread.id}"
        resp = parent.post(
            target,
            data={
                "csrf_token": parent.csrf(target),
                "body": body,
                "recipient": str(world["users"]["teacher"].id),
            },
            content_type="multipart/form-data",
        )
        assert resp.status_code == 302
    thread = db.session.scalar(sa.select(MessageThread))
    teacher_id = world["users"]["teacher"].id
    unread = sa.select(sa.func.count(Delivery.id)).where(
        Delivery.recipient_id == teacher_id, Delivery.channel == "in_app", Delivery.read_at.is_(None)
    )
    assert db.session.scalar(unread) == 2
    teacher = _client(make_client, world["users"]["teacher"])
    assert "Chưa đọc" in teacher.get("/notifications/").get_data(as_text=True)
    teacher.get(f"/contactbook/threads/{thread.id}")
    assert db.session.scalar(unread) == 0
    assert "Chưa đọc" not in teacher.get("/notifications/").get_data(as_text=True)


def test_report_statements_do_not_grow_with_the_families(app, world, cb_world, class_of_three, make_client):
    teacher = _client(make_client, world["users"]["teacher"])
    _a, small = _announce(teacher, cb_world, "Một")
    for _ in range(6):
        create_pupil(cb_world["a1"], guardians=[create_user("parent", email=None)])
    jobs.commit()
    _a, large = _announce(teacher, cb_world, "Hai")
    counts = []
    for n in (small, large):
        with count_queries(app) as q:
            assert teacher.get(f"/notifications/sent/{n.id}").status_code == 200
            assert teacher.get(f"/notifications/sent/{n.id}/progress").status_code == 200
        counts.append(q.count)
    assert counts[0] == counts[1]
    assert family_counts(large.id)["total"] == 9
