"""Notifications, in-process path: outbox and inbox, preferences, quiet hours and digests with a
frozen clock, reports and access control. Errors, retries, SMS and odd input are in
test_notifications_delivery.py; the Redis/worker paths in test_notifications_redis.py.

A real local SMTP server (aiosmtpd) and a real local HTTP SMS gateway (http.server) receive the
messages (tests/notification_helpers.py).
"""

from __future__ import annotations

import re
from collections import Counter

import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.notifications import NotifyError, notify, notify_many
from app.notifications.models import Delivery, Notification, NotificationPreference
from app.notifications.relay import relay
from app.notifications.service import report_counts
from tests.factories import create_user
from tests.notification_helpers import Gateway, choose_evening_digest, deliveries, hanoi, parents

# ------------------------------------------------------------------ outbox and inbox


def test_school_notice_reaches_inbox_and_email_exactly_once(app, in_process, sink, world, make_client):
    school = world["schools"][0]
    staff = world["users"]["school_staff"]
    people = parents(3)
    jobs.commit()
    n = notify(
        "announcement",
        [p.id for p in people] + [people[0].id],
        {"title": "Họp phụ huynh đầu năm", "body": "Thứ Bảy 8:00 tại hội trường."},
        sender_id=staff.id,
        school_id=school.id,
    )
    assert sink.messages == []  # nothing leaves before the commit
    jobs.commit()

    assert sink.to() == sorted(p.email for p in people)
    assert all(c == 1 for c in sink.by_message_id().values()) and len(sink.by_message_id()) == 3
    msg = sink.messages[0]
    assert msg["Subject"] == "Họp phụ huynh đầu năm"
    assert "Thứ Bảy 8:00" in msg.get_body(("plain",)).get_content()
    assert school.name in msg.get_body(("html",)).get_content()
    rows = deliveries(n.id)
    assert Counter((d.channel, d.status) for d in rows) == {("in_app", "sent"): 3, ("email", "sent"): 3}
    assert all(d.attempts == 1 and d.sent_at for d in rows if d.channel == "email")

    # The parent sees it in the header badge and the inbox; opening it records the read receipt.
    c = make_client()
    c.login_as(people[0])
    home = c.get("/home").get_data(as_text=True)
    assert re.search(r'class="notif-link">[^<]*\(1\)', home)
    inbox = c.get("/notifications/").get_data(as_text=True)
    assert "Họp phụ huynh đầu năm" in inbox
    mine = next(d for d in rows if d.recipient_id == people[0].id and d.channel == "in_app")
    page = c.get(f"/notifications/{mine.id}")
    assert page.status_code == 200 and "Thứ Bảy 8:00" in page.get_data(as_text=True)
    assert re.search(r'class="notif-link">[^<]*\(0\)', c.get("/home").get_data(as_text=True))

    # The sender's report: 6 deliveries done, 1 read.
    s = make_client()
    s.login_as(staff)
    data = s.get(f"/notifications/sent/{n.id}/progress").get_json()
    assert data["total"] == 6 and data["sent"] == 6 and data["failed"] == 0 and data["read"] == 1
    assert data["finished"] is True and data["percent"] == 100
    report = s.get(f"/notifications/sent/{n.id}")
    assert report.status_code == 200 and "delivery-bar" in report.get_data(as_text=True)
    assert "Họp phụ huynh đầu năm" in s.get("/notifications/sent").get_data(as_text=True)


def test_nothing_is_written_or_sent_when_the_caller_rolls_back(app, in_process, sink):
    people = parents(2)
    jobs.commit()
    notify("announcement", [p.id for p in people], {"title": "Không gửi"})
    jobs.rollback()
    jobs.commit()
    assert sink.messages == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Delivery)) == 0


def test_notify_many_is_notify_per_message_in_a_bounded_number_of_queries(app, in_process, sink):
    people = parents(12)
    gone = create_user("parent", email="gone@example.vn", active=False)
    jobs.commit()

    ids, gone_id = [p.id for p in people], gone.id

    def batch(k):
        # one message per "child": two guardians each, the last one also names a deactivated account
        return [
            (
                [ids[2 * i], ids[2 * i + 1]] + ([gone_id] if i == k - 1 else []),
                {"title": f"Kết quả tuyển sinh của con {i}", "child_name": f"Nguyễn Văn {i}"},
            )
            for i in range(k)
        ]

    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        notes = notify_many("admission", batch(2))
        few, statements[:] = list(statements), []
        notes += notify_many("admission", batch(6))
        many = list(statements)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)

    def inserts(sts):
        return sum(st.startswith("INSERT INTO notification ") for st in sts)

    # Not one round of queries per message: recipients, preferences, settings, deliveries and the
    # outbox are read and written once per batch. The notifications themselves are one INSERT on
    # PostgreSQL; SQLAlchemy inserts them one by one on SQLite, which cannot return ids in order.
    assert len(many) - inserts(many) == len(few) - inserts(few), (few, many)
    if db.engine.dialect.name == "postgresql":
        assert inserts(many) == 1
    jobs.commit()

    assert [n.recipient_count for n in notes] == [2, 2] + [2] * 6
    assert [n.context["child_name"] for n in notes] == [f"Nguyễn Văn {i}" for i in (0, 1, *range(6))]
    for n, i in zip(notes[2:], range(6), strict=True):
        rows = deliveries(n.id)
        assert {d.recipient_id for d in rows} == {people[2 * i].id, people[2 * i + 1].id}
        assert Counter((d.channel, d.status) for d in rows) == {("in_app", "sent"): 2, ("email", "sent"): 2}
    # every email went out once, to the right guardians, naming the right child
    assert len(sink.by_message_id()) == 16 and all(c == 1 for c in sink.by_message_id().values())
    subjects = Counter((m["To"], m["Subject"]) for m in sink.messages)
    assert subjects[(people[11].email, "Nguyễn Văn 5: Kết quả tuyển sinh của con 5")] == 1, subjects
    assert notify_many("admission", []) == []


def test_notify_many_refuses_a_bad_message_and_writes_none_of_them(app, in_process, sink):
    p = parents(1)[0]
    jobs.commit()
    with pytest.raises(NotifyError):
        notify_many("admission", [([p.id], {"title": "A", "child_name": "An"}), ([p.id], {"title": "B"})])
    jobs.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
    assert sink.messages == []


def test_bad_calls_are_refused(app, in_process):
    p = parents(1)[0]
    with pytest.raises(NotifyError):
        notify("no-such-kind", [p.id], {"title": "x"})
    with pytest.raises(NotifyError):
        notify("contact_book", [p.id], {"title": "Điểm Toán"})  # about a child: child_name required
    with pytest.raises(NotifyError):
        notify("announcement", [p.id], {"body": "no title"})


def test_message_about_a_child_names_the_child_in_every_channel(app, in_process, sink):
    p = parents(1)[0]
    p.locale = "en"
    jobs.commit()
    n = notify("contact_book", [p.id], {"title": "Điểm kiểm tra Toán: 9", "child_name": "Nguyễn Minh An"})
    jobs.commit()
    msg = sink.messages[0]
    assert "Nguyễn Minh An" in msg["Subject"]
    assert "Nguyễn Minh An" in msg.get_body(("plain",)).get_content()
    assert "Nguyễn Minh An" in msg.get_body(("html",)).get_content()
    assert "About your child" in msg.get_body(("plain",)).get_content()  # the English frame
    assert deliveries(n.id, "email")[0].status == "sent"


def test_every_channel_names_the_child_in_vietnamese_and_english(app, in_process, sink, make_client):
    """Email (subject, text, HTML) in each guardian's language, the daily summary, the SMS and the
    in-app page: each one names the child."""
    clock = in_process
    gw = Gateway()
    try:
        app.config["SMS_GATEWAY_URL"] = gw.url
        vi, en, summary = parents(3)
        en.locale = "en"
        phone_only = create_user("parent", phone="0912000077")  # no email, never logged in: SMS

        db.session.add(
            NotificationPreference(user_id=summary.id, kind="contact_book", email=True, digest=True)
        )
        jobs.commit()
        n = notify(
            "contact_book",
            [vi.id, en.id, summary.id, phone_only.id],
            {"title": "Điểm kiểm tra Toán: 9", "child_name": "Nguyễn Minh An"},
        )
        jobs.commit()
        mails = {m["To"]: m for m in sink.messages}
        for who, frame in ((vi, "Về con của bạn: Nguyễn Minh An"), (en, "About your child: Nguyễn Minh An")):
            msg = mails[who.email]
            assert msg["Subject"] == "Nguyễn Minh An: Điểm kiểm tra Toán: 9"
            assert frame in msg.get_body(("plain",)).get_content()
            assert frame in msg.get_body(("html",)).get_content()
        assert [r["text"] for r in gw.requests] == ["[Nguyen Minh An] Diem kiem tra Toan: 9"]

        clock.now = hanoi(18)
        assert relay()["digests"] == 1
        digest = sink.messages[-1]
        assert digest["To"] == summary.email and digest["Subject"].startswith("Bản tin tổng hợp hằng ngày")
        assert "Nguyễn Minh An: Điểm kiểm tra Toán: 9" in digest.get_body(("plain",)).get_content()
        assert "Nguyễn Minh An" in digest.get_body(("html",)).get_content()

        c = make_client()
        c.login_as(vi)
        item = next(d for d in deliveries(n.id, "in_app") if d.recipient_id == vi.id)
        page = c.get(f"/notifications/{item.id}").get_data(as_text=True)
        assert "Về con của bạn: Nguyễn Minh An." in page
        assert "Nguyễn Minh An: Điểm kiểm tra Toán: 9" in c.get("/notifications/").get_data(as_text=True)
    finally:
        gw.stop()


def test_deactivated_and_unknown_recipients_are_skipped(app, in_process, sink):
    active, gone = parents(2)
    gone.active = False
    jobs.commit()
    n = notify("announcement", [active.id, gone.id, 999999], {"title": "Chỉ người còn hoạt động"})
    jobs.commit()
    assert sink.to() == [active.email]
    assert n.recipient_count == 1


def test_inbox_is_private_and_its_page_uses_a_bounded_number_of_queries(app, in_process, world, make_client):
    a, b = parents(2)
    jobs.commit()
    for i in range(25):
        notify("announcement", [a.id, b.id], {"title": f"Thông báo {i}"}, school_id=world["schools"][0].id)
    jobs.commit()
    theirs = deliveries(db.session.scalar(sa.select(sa.func.max(Notification.id))), "in_app")
    b_item = next(d for d in theirs if d.recipient_id == b.id)

    c = make_client()
    c.login_as(a)
    assert c.get(f"/notifications/{b_item.id}").status_code == 404
    assert c.post_form(f"/notifications/{b_item.id}", {}, token_from="/home").status_code in (404, 405)
    statements = []

    def count(conn, cursor, statement, *args):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        page = c.get("/notifications/")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    body = page.get_data(as_text=True)
    assert page.status_code == 200 and body.count('class="card unread"') == 20
    assert len(statements) <= 8, statements  # session + user + items + counts, not one per item
    assert c.post_form("/notifications/read-all", {}, token_from="/notifications/").status_code == 302
    db.session.expire_all()
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Delivery)
            .where(Delivery.recipient_id == a.id, Delivery.read_at.is_(None), Delivery.channel == "in_app")
        )
        == 0
    )
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Delivery)
            .where(Delivery.recipient_id == b.id, Delivery.read_at.is_(None), Delivery.channel == "in_app")
        )
        == 25
    )


def test_unread_badge_is_one_count_query(app, in_process, make_client):
    p = parents(1)[0]
    jobs.commit()
    c = make_client()
    c.login_as(p)
    statements = []
    listener = lambda conn, cursor, statement, *a: statements.append(statement)  # noqa: E731
    sa.event.listen(db.engine, "before_cursor_execute", listener)
    try:
        c.get("/home")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", listener)
    assert len([s for s in statements if "delivery" in s]) == 1


def test_report_is_for_the_sender_their_school_and_officers_only(app, in_process, world, make_client):
    school_a, school_b = world["schools"]
    staff_b = world["foreign"]["school_staff"]
    p = parents(1)[0]
    jobs.commit()
    n = notify("announcement", [p.id], {"title": "Trường B"}, sender_id=staff_b.id, school_id=school_b.id)
    jobs.commit()
    url = f"/notifications/sent/{n.id}"
    expect = {
        world["foreign"]["school_staff"]: 200,  # the sender
        world["foreign"]["district_officer"]: 200,  # officer of school B's district
        world["users"]["city_admin"]: 200,
        world["users"]["school_staff"]: 404,  # another school
        world["users"]["district_officer"]: 404,  # another district
        world["foreign"]["teacher"]: 404,  # a teacher of school B is not the sender
        world["users"]["parent"]: 403,
    }
    for user, status in expect.items():
        c = make_client()
        c.login_as(user)
        assert c.get(url).status_code == status, user.role
        assert c.get(url + "/progress").status_code == status, user.role


def test_send_test_notification_form(app, in_process, sink, world, make_client):
    staff = world["users"]["school_staff"]
    c = make_client()
    c.login_as(staff)
    assert c.get("/notifications/test").status_code == 200
    assert c.post_form("/notifications/test", {"title": ""}).status_code == 422
    resp = c.post_form("/notifications/test", {"title": "Thử", "body": "Xin chào"})
    assert resp.status_code == 302 and "/notifications/sent/" in resp.headers["Location"]
    assert sink.to() == [staff.email]
    assert c.get(resp.headers["Location"]).status_code == 200
    assert c.get("/notifications/test").status_code == 200
    parent = make_client()
    parent.login_as(world["users"]["parent"])
    assert parent.get("/notifications/test").status_code == 403


# ------------------------------------------------------------------ preferences, quiet hours, digests


def test_preferences_form_validates_and_switches_email_off(app, in_process, sink, make_client):
    p = parents(1)[0]
    jobs.commit()
    c = make_client()
    c.login_as(p)
    assert c.get("/notifications/preferences").status_code == 200
    bad = c.post_form(
        "/notifications/preferences",
        {"quiet_enabled": "y", "quiet_start": "25:00", "quiet_end": "06:30", "digest_at": "18:00"},
    )
    assert bad.status_code == 422
    same = c.post_form(
        "/notifications/preferences",
        {"quiet_enabled": "y", "quiet_start": "21:00", "quiet_end": "21:00", "digest_at": "18:00"},
    )
    assert same.status_code == 422
    ok = c.post_form(
        "/notifications/preferences",
        {
            "quiet_enabled": "y",
            "quiet_start": "22:00",
            "quiet_end": "06:00",
            "digest_at": "19:00",
            "email_test": "1",
            "email_contact_book": "1",
        },
    )
    assert ok.status_code == 302
    n = notify("announcement", [p.id], {"title": "Không qua email"})
    jobs.commit()
    assert [d.channel for d in deliveries(n.id)] == ["in_app"]
    assert sink.messages == []
    page = c.get("/notifications/preferences").get_data(as_text=True)
    assert 'value="22:00"' in page and 'name="email_contact_book" value="1" checked' in page


def test_quiet_hours_defer_email_until_morning_urgent_goes_at_once(app, in_process, sink):
    clock = in_process
    clock.now = hanoi(22)
    p = parents(1)[0]
    jobs.commit()
    n = notify("announcement", [p.id], {"title": "Lịch học tuần sau"})
    urgent = notify("emergency", [p.id], {"title": "Trường nghỉ học ngày mai do bão"})
    jobs.commit()
    assert [m["Subject"] for m in sink.messages] == [
        "[Khẩn] Trường nghỉ học ngày mai do bão"
    ]  # Vietnamese by default
    email = deliveries(n.id, "email")[0]
    assert email.status == "queued" and email.not_before == hanoi(6, 30, day=11)
    assert [d.channel for d in deliveries(urgent.id)] == ["in_app", "email", "sms"]

    # The sender's report says why the email waits, and until when (06:30 in Hanoi).

    counts = report_counts(n.id)
    assert (counts["queued"], counts["held"], counts["next_at"]) == (1, 1, hanoi(6, 30, day=11))

    clock.now = hanoi(23, 30)
    relay()
    assert len(sink.messages) == 1  # still quiet
    clock.now = hanoi(6, 31, day=11)
    assert relay()["requeued"] == 1
    assert [m["Subject"] for m in sink.messages][1:] == ["Lịch học tuần sau"]
    assert deliveries(n.id, "email")[0].status == "sent"
    relay()
    assert len(sink.messages) == 2  # sent once


def test_each_guardian_s_own_quiet_hours_are_used(app, in_process, sink, make_client):
    clock = in_process
    late, default, off = parents(3)
    jobs.commit()
    for who, form in (
        (late, {"quiet_enabled": "y", "quiet_start": "22:00", "quiet_end": "06:00"}),
        (off, {"quiet_start": "21:00", "quiet_end": "06:30"}),
    ):  # box unticked: no quiet hours
        c = make_client()
        c.login_as(who)
        assert (
            c.post_form(
                "/notifications/preferences", {**form, "digest_at": "18:00", "email_announcement": "1"}
            ).status_code
            == 302
        )
    clock.now = hanoi(21, 30)
    n = notify("announcement", [late.id, default.id, off.id], {"title": "Tối nay"})
    jobs.commit()
    assert sink.to() == sorted([late.email, off.email])  # 21:30: before 22:00 / no quiet hours
    held = [d for d in deliveries(n.id, "email") if d.status == "queued"]
    assert [(d.recipient_id, d.not_before) for d in held] == [(default.id, hanoi(6, 30, day=11))]
    clock.now = hanoi(23)
    notify("announcement", [late.id, off.id], {"title": "Khuya"})
    jobs.commit()
    assert [m["To"] for m in sink.messages[2:]] == [off.email]  # 23:00 is quiet for `late`, until 06:00
    clock.now = hanoi(6, 0, day=11)
    assert relay()["requeued"] == 1
    assert [m["To"] for m in sink.messages[3:]] == [late.email]


def test_report_explains_held_messages_and_a_test_send_ignores_quiet_hours(
    app, in_process, sink, world, make_client
):
    clock = in_process
    clock.now = hanoi(22, 15)
    staff = world["users"]["school_staff"]
    p = parents(1)[0]
    jobs.commit()
    n = notify(
        "announcement", [p.id], {"title": "Lịch học"}, sender_id=staff.id, school_id=world["schools"][0].id
    )
    jobs.commit()
    c = make_client()
    c.login_as(staff)
    page = c.get(f"/notifications/sent/{n.id}").get_data(as_text=True)
    assert "06:30 11/12/2026" in page  # Hanoi time, not the stored UTC (23:30)
    data = c.get(f"/notifications/sent/{n.id}/progress").get_json()
    assert data["held"] == 1 and data["next_at"] == "2026-12-10T23:30:00Z"
    # The officer's own test at night arrives at once: they want to see the channel work.
    resp = c.post_form("/notifications/test", {"title": "Thử ban đêm"})
    assert resp.status_code == 302
    assert [m["Subject"] for m in sink.messages] == ["Thử ban đêm"]
    assert "06:30" not in c.get(resp.headers["Location"]).get_data(as_text=True)


def test_daily_digest_bundles_the_day_into_one_email(app, in_process, sink, make_client):
    clock = in_process
    clock.now = hanoi(9)
    p, other = parents(2)
    jobs.commit()
    c = make_client()
    c.login_as(p)
    choose_evening_digest(c)
    first = notify("announcement", [p.id, other.id], {"title": "Thực đơn tuần"})
    jobs.commit()
    clock.now = hanoi(14)
    notify("announcement", [p.id], {"title": "Lịch tiêm chủng"})
    jobs.commit()
    assert sink.to() == [other.email]  # the other parent gets mail at once
    mine = [d for d in deliveries(first.id, "email") if d.recipient_id == p.id]
    assert mine[0].not_before == hanoi(18) and mine[0].digest

    clock.now = hanoi(17, 59)
    relay()
    assert len(sink.messages) == 1
    clock.now = hanoi(18, 0)
    assert relay()["digests"] == 1
    assert len(sink.messages) == 2
    digest = sink.messages[1]
    assert digest["To"] == p.email
    text = digest.get_body(("plain",)).get_content()
    assert "Thực đơn tuần" in text and "Lịch tiêm chủng" in text
    relay()
    assert len(sink.messages) == 2
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Delivery)
            .where(Delivery.digest.is_(True), Delivery.status == "sent")
        )
        == 2
    )
