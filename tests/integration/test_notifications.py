"""Notifications, in-process path: outbox, inbox, preferences, quiet hours and digests with a
frozen clock, SMTP and SMS gateway errors, reports and access control.

A real local SMTP server (aiosmtpd) and a real local HTTP SMS gateway (http.server) receive the
messages. The Redis/worker paths are in test_notifications_redis.py.
"""

from __future__ import annotations

import asyncio
import json
import re
import socket
import threading
from collections import Counter
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import utcnow
from app.notifications import NotifyError, notify, notify_many, rules
from app.notifications.models import Delivery, Notification
from app.notifications.relay import relay
from app.notifications.service import sms_counts_by_school
from tests.factories import create_user

# ------------------------------------------------------------------ test servers


class Sink:
    """A real SMTP server that records each accepted message (with its Message-ID).

    `delay`: seconds to hold each message before accepting it (a slow server). A client that
    disconnects while its message is held never gets a 250, and the message is not accepted.
    `hold_nth`, `hold_seconds`: hold only the n-th message received (1-based) that long — a
    message surely on the wire when a test kills the client.
    `replies`: address → list of RCPT replies to give in turn (the last one repeats), e.g.
    {"a@x": ["450 4.2.0 try later", "250 OK"]}.
    """

    def __init__(
        self,
        delay: float = 0.0,
        replies: dict | None = None,
        hold_nth: int | None = None,
        hold_seconds: float = 0.0,
    ):
        from aiosmtpd.controller import Controller

        self.delay = delay
        self.hold_nth, self.hold_seconds = hold_nth, hold_seconds
        self.replies = {k: list(v) for k, v in (replies or {}).items()}
        self.messages: list = []
        self.received = 0  # DATA commands seen, accepted or not
        self.holding = 0
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                script = sink.replies.get(address)
                reply = (script.pop(0) if len(script) > 1 else script[0]) if script else "250 OK"
                if reply.startswith("250"):
                    envelope.rcpt_tos.append(address)
                return reply

            async def handle_DATA(self, server, session, envelope):
                sink.received += 1
                delay = sink.hold_seconds if sink.received == sink.hold_nth else sink.delay
                if delay:
                    sink.holding += 1
                    try:
                        await asyncio.sleep(delay)  # cancelled if the client disconnects
                    finally:
                        sink.holding -= 1
                sink.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    def stop(self):
        self.controller.stop()

    def by_message_id(self) -> Counter:
        return Counter(m["Message-ID"] for m in self.messages)

    def to(self) -> list[str]:
        return sorted(m["To"] for m in self.messages)


class Gateway:
    """A local HTTP SMS gateway: records requests; `script` phone → list of statuses in turn."""

    def __init__(self, script: dict | None = None):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.requests: list[dict] = []
        gw = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["idempotency_key"] = self.headers.get("Idempotency-Key")
                gw.requests.append(body)
                seq = gw.script.get(body["to"])
                status = (seq.pop(0) if len(seq) > 1 else seq[0]) if seq else 200
                payload = json.dumps({"status": "queued" if status < 300 else "error"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.stop()


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self):
        return self.now


def hanoi(h, m=0, day=10):
    return datetime(2026, 12, day, h, m) - timedelta(hours=7)


@pytest.fixture
def in_process(app, sink):
    """In-process jobs (no Redis), mail to the sink, clock frozen at 10:00 in Hanoi."""
    clock = Clock(hanoi(10))
    app.config.update(REDIS_URL=None, MAIL_URL=sink.url, NOTIFY_CLOCK=clock)
    app.extensions.pop("redis", None)
    return clock


def parents(n: int, *, prefix="ph", logged_in=True, **kw):
    out = []
    for i in range(n):
        u = create_user("parent", email=f"{prefix}{i}@example.vn", **kw)
        if logged_in:
            u.last_login_at = utcnow()
        out.append(u)
    return out


def choose_evening_digest(client) -> None:
    """The signed-in guardian keeps quiet hours 21:00-06:30 and gets announcements by email in a
    daily digest at 18:00."""
    resp = client.post_form(
        "/notifications/preferences",
        {
            "quiet_enabled": "y",
            "quiet_start": "21:00",
            "quiet_end": "06:30",
            "digest_at": "18:00",
            "email_announcement": "1",
            "digest_announcement": "1",
        },
    )
    assert resp.status_code == 302


def deliveries(notification_id: int, channel: str | None = None) -> list[Delivery]:
    db.session.expire_all()
    q = sa.select(Delivery).where(Delivery.notification_id == notification_id).order_by(Delivery.id)
    if channel:
        q = q.where(Delivery.channel == channel)
    return list(db.session.scalars(q))


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
        from app.notifications.models import NotificationPreference

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
    from app.notifications.service import report_counts

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


# ------------------------------------------------------------------ errors, retries, SMS


def test_smtp_transient_error_is_retried_permanent_error_recorded(app, in_process, world):
    clock = in_process
    flaky = Sink(
        replies={
            "tam@example.vn": ["451 4.3.0 try again later", "250 OK"],
            "sai@example.vn": ["550 5.1.1 no such user"],
        }
    )
    try:
        app.config["MAIL_URL"] = flaky.url
        ok = create_user("parent", email="ok@example.vn")
        tam = create_user("parent", email="tam@example.vn")
        sai = create_user("parent", email="sai@example.vn")
        jobs.commit()
        n = notify(
            "announcement", [ok.id, tam.id, sai.id], {"title": "Thông báo"}, school_id=world["schools"][0].id
        )
        jobs.commit()
        state = {d.recipient_id: d for d in deliveries(n.id, "email")}
        assert state[ok.id].status == "sent"
        assert state[tam.id].status == "queued" and state[tam.id].attempts == 1
        assert state[tam.id].not_before == clock.now + timedelta(seconds=30)
        assert "451" in state[tam.id].last_error
        assert state[sai.id].status == "failed" and "550" in state[sai.id].last_error
        assert flaky.to() == ["ok@example.vn"]

        clock.now += timedelta(seconds=31)
        relay()
        state = {d.recipient_id: d for d in deliveries(n.id, "email")}
        assert state[tam.id].status == "sent" and state[tam.id].attempts == 2
        assert flaky.to() == ["ok@example.vn", "tam@example.vn"]
        counts = {"sent": 2, "failed": 1}
        from app.notifications.service import report_counts

        r = report_counts(n.id)
        assert r["channels"]["email"]["sent"] == counts["sent"] and r["failed"] == 1
    finally:
        flaky.stop()


def test_mail_server_down_keeps_everything_queued_for_later(app, in_process, sink):
    clock = in_process
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    app.config["MAIL_URL"] = f"smtp://127.0.0.1:{dead}"
    people = parents(4)
    jobs.commit()
    n = notify("announcement", [p.id for p in people], {"title": "Sau khi máy chủ thư hoạt động lại"})
    jobs.commit()
    rows = deliveries(n.id, "email")
    assert all(d.status == "queued" and d.not_before for d in rows)
    assert sum(d.attempts for d in rows) <= 1  # only the first was really tried
    app.config["MAIL_URL"] = sink.url
    clock.now += timedelta(minutes=1)
    relay()
    assert sink.to() == sorted(p.email for p in people)


def test_sms_gateway_retries_5xx_records_4xx_and_counts_per_school(app, in_process, sink, world, make_client):
    clock = in_process
    gw = Gateway({"0912000001": [503, 200], "0912000002": [400]})
    try:
        app.config["SMS_GATEWAY_URL"] = gw.url
        school = world["schools"][0]
        retry = create_user("parent", phone="0912000001")
        bad = create_user("parent", phone="0912000002")
        fine = create_user("parent", phone="0912000003")
        app_user = create_user("parent", phone="0912000004")
        app_user.last_login_at = utcnow()
        jobs.commit()
        # Not urgent: SMS only for guardians no free channel reaches (no email, never logged in).
        n = notify(
            "announcement",
            [retry.id, bad.id, fine.id, app_user.id],
            {"title": "Họp phụ huynh"},
            school_id=school.id,
        )
        jobs.commit()
        assert sorted(r["to"] for r in gw.requests) == ["0912000001", "0912000002", "0912000003"]
        state = {d.recipient_id: d for d in deliveries(n.id, "sms")}
        assert app_user.id not in state
        assert state[fine.id].status == "sent"
        assert state[retry.id].status == "queued" and "503" in state[retry.id].last_error
        assert state[bad.id].status == "failed" and "400" in state[bad.id].last_error
        assert (
            gw.requests[0]["idempotency_key"]
            == gw.requests[0]["reference"]
            == f"delivery-{state[retry.id].id}"
        )

        clock.now += timedelta(seconds=31)
        relay()
        state = {d.recipient_id: d for d in deliveries(n.id, "sms")}
        assert state[retry.id].status == "sent" and state[retry.id].attempts == 2
        assert len(gw.requests) == 4

        # Urgent news about a child reaches every guardian by SMS, naming the child (ASCII).
        urgent = notify(
            "contact_book",
            [app_user.id],
            {"title": "Con chưa đến lớp sáng nay", "child_name": "Trần Đức Minh"},
            school_id=school.id,
            urgent=True,
        )
        jobs.commit()
        assert gw.requests[-1]["text"].startswith("[Tran Duc Minh] Con chua den lop")
        assert deliveries(urgent.id, "sms")[0].status == "sent"
        assert sms_counts_by_school() == [(school.id, school.name, 3)]
        admin = make_client()
        admin.login_as(world["users"]["city_admin"])
        page = admin.get("/notifications/admin/failures").get_data(as_text=True)
        assert re.search(rf"<td>{re.escape(school.name)}</td><td>3</td>", page)
    finally:
        gw.stop()


def test_admin_failures_page_lists_failed_deliveries(app, in_process, world, make_client):
    app.config["MAIL_URL"] = None
    p = create_user("parent", phone="0912000009")
    jobs.commit()
    n = notify("announcement", [p.id], {"title": "x"}, school_id=world["schools"][0].id)
    db.session.flush()
    d = deliveries(n.id, "sms") or []
    jobs.commit()
    db.session.execute(
        sa.update(Delivery)
        .where(Delivery.notification_id == n.id, Delivery.channel == "sms")
        .values(status="failed", last_error="400 invalid number")
    )
    jobs.commit()
    assert d
    admin = make_client()
    admin.login_as(world["users"]["city_admin"])
    page = admin.get("/notifications/admin/failures")
    assert page.status_code == 200 and "400 invalid number" in page.get_data(as_text=True)
    officer = make_client()
    officer.login_as(world["users"]["district_officer"])
    assert officer.get("/notifications/admin/failures").status_code == 403


def test_duplicate_jobs_and_retries_never_send_twice(app, in_process, sink):
    from app.notifications.tasks import send_deliveries

    people = parents(5)
    jobs.commit()
    nid = notify("announcement", [p.id for p in people], {"title": "Một lần thôi"}).id
    jobs.commit()
    ids = [d.id for d in deliveries(nid, "email")]
    jobs.run_job("app.notifications.tasks:send_deliveries", [ids], {})  # a duplicate job
    assert send_deliveries(ids) == 0
    relay(stale_seconds=0, lease_seconds=0)
    assert len(sink.messages) == 5 and set(sink.by_message_id().values()) == {1}
    assert {d.status for d in deliveries(nid, "email")} == {rules.SENT}


def test_the_report_says_when_sending_was_interrupted_and_what_may_have_gone_twice(
    app, in_process, sink, world, make_client
):
    """A sending job killed mid-chunk leaves its rows 'sending'; one of them with its attempt
    marker set (the message was on its way). The relay takes them over once the lease lapsed:
    both are sent, and the report counts the one with the open attempt as possibly sent twice."""
    clock = in_process
    clock.now = hanoi(22)  # quiet hours: the emails wait, so that the test can play the dead job
    staff = world["users"]["school_staff"]
    a, b, c = parents(3)
    jobs.commit()
    n = notify("announcement", [a.id, b.id, c.id], {"title": "Nghỉ học"}, sender_id=staff.id)
    jobs.commit()
    rows = deliveries(n.id, "email")
    clock.now = hanoi(7, day=11)
    dead = {"status": "sending", "claim_token": "dead", "claimed_at": clock.now - timedelta(minutes=2)}
    db.session.execute(
        sa.update(Delivery).where(Delivery.id == rows[0].id).values(**dead, attempt_at=clock.now)
    )
    db.session.execute(sa.update(Delivery).where(Delivery.id == rows[1].id).values(**dead))
    jobs.commit()
    assert relay(lease_seconds=30)["released"] == 2
    assert {d.status for d in deliveries(n.id, "email")} == {"sent"} and len(sink.messages) == 3
    rows = deliveries(n.id, "email")
    assert [(d.takeovers, d.lost_attempts) for d in rows] == [(1, 1), (1, 0), (0, 0)]
    s = make_client()
    s.login_as(staff)
    s.post_form("/lang", {"lang": "en"}, token_from="/home")
    data = s.get(f"/notifications/sent/{n.id}/progress").get_json()
    assert (data["interrupted"], data["possibly_twice"]) == (2, 1)
    page = s.get(f"/notifications/sent/{n.id}").get_data(as_text=True)
    assert "Sending was interrupted (a sending process stopped) and resumed: 2 messages" in page
    assert "Possibly sent twice: 1 (the same email again, with the same Message-ID" in page
    calm = notify("announcement", [a.id], {"title": "Đi học lại"}, sender_id=staff.id)
    jobs.commit()  # sent at once, nobody interrupted it: the report says nothing of the kind
    page = s.get(f"/notifications/sent/{calm.id}").get_data(as_text=True)
    assert "Sending was interrupted" not in page and "Possibly sent twice" not in page


def notification_foreign_ids(world) -> dict[str, int]:
    """For test_route_access.foreign_ids(): a school-B notification sent by school-B staff and
    the in-app copy of a school-B teacher — outside the scope of the users under test."""
    n = Notification(
        kind="test",
        sender_id=world["foreign"]["school_staff"].id,
        school_id=world["schools"][1].id,
        context={"title": "B"},
        recipient_count=1,
    )
    db.session.add(n)
    db.session.flush()
    d = Delivery(
        notification_id=n.id,
        recipient_id=world["foreign"]["teacher"].id,
        channel="in_app",
        status="sent",
        sent_at=utcnow(),
    )
    db.session.add(d)
    db.session.flush()
    return {"notification_id": n.id, "delivery_id": d.id}


# ------------------------------------------------------------------ no operator, odd input, bad messages


def test_web_requests_send_due_deferred_messages_and_digests_without_an_operator(
    app, in_process, sink, make_client
):
    """In-process mode (no Redis: `scripts/run`) with nobody running `notifications relay`: the
    web process itself sends what quiet hours held back and the daily digest, once due, from a
    background thread after a request, at most once a minute."""
    from app import autorelay

    clock = in_process
    clock.now = hanoi(22)
    app.config["NOTIFY_AUTO_RELAY_SECONDS"] = 60
    auto = autorelay.of(app)
    night, digest = parents(2)
    jobs.commit()
    c = make_client()
    c.login_as(digest)
    choose_evening_digest(c)
    auto.wait()
    n = notify("announcement", [night.id, digest.id], {"title": "Lịch họp phụ huynh"})
    jobs.commit()
    assert sink.messages == []

    clock.now = hanoi(23)  # still quiet: a pass finds nothing due
    auto.next_at = 0
    assert c.get("/auth/login").status_code in (200, 302)
    auto.wait()
    assert sink.messages == []

    clock.now = hanoi(6, 31, day=11)
    auto.next_at = 0
    passes = auto.passes
    c.get("/notifications/")
    auto.wait()
    assert auto.passes == passes + 1
    assert sink.to() == [night.email]
    c.get("/notifications/")  # within the minute: no second pass
    assert auto.passes == passes + 1

    clock.now = hanoi(18, 0, day=11)
    auto.next_at = 0
    c.get("/notifications/")
    auto.wait()
    assert sink.to() == sorted([night.email, digest.email])
    assert "Lịch họp phụ huynh" in sink.messages[1].get_body(("plain",)).get_content()
    assert {d.status for d in deliveries(n.id, "email")} == {"sent"}
    auto.next_at = 0
    c.get("/notifications/")
    auto.wait()
    assert len(sink.messages) == 2 and set(sink.by_message_id().values()) == {1}


def test_automatic_passes_are_off_under_testing_unless_configured(app, in_process, make_client):
    from app import autorelay

    auto = autorelay.of(app)
    c = make_client()
    c.get("/auth/login")
    assert auto.passes == 0 and auto.thread is None
    app.config["NOTIFY_AUTO_RELAY_SECONDS"] = 0
    app.testing = False
    try:
        c.get("/auth/login")
        assert auto.passes == 0
    finally:
        app.testing = True


def test_a_title_with_a_line_break_still_goes_out_on_one_line(app, in_process, sink):
    p = parents(1)[0]
    jobs.commit()
    n = notify("contact_book", [p.id], {"title": "Họp phụ huynh\r\nlớp 3A", "child_name": "Lê\nHoa"})
    jobs.commit()
    assert [m["Subject"] for m in sink.messages] == ["Lê Hoa: Họp phụ huynh lớp 3A"]
    assert deliveries(n.id, "email")[0].status == "sent"


def test_a_message_that_cannot_be_rendered_is_recorded_and_retried_not_left_claimed(
    app, in_process, sink, monkeypatch
):
    from app.notifications import render

    clock = in_process
    app.config["JOBS_RAISE"] = True
    people = parents(2)
    jobs.commit()

    def broken(n, locale):
        raise KeyError("missing template variable")

    monkeypatch.setattr(render, "render_email", broken)
    n = notify("announcement", [p.id for p in people], {"title": "Mẫu hỏng"})
    jobs.commit()  # the job itself does not fail: each message records its error
    rows = deliveries(n.id, "email")
    assert {(d.status, d.attempts) for d in rows} == {("queued", 1)}
    assert all("internal error: KeyError" in d.last_error for d in rows)
    for _ in range(rules.MAX_ATTEMPTS - 1):
        clock.now += timedelta(hours=3)
        relay()
    rows = deliveries(n.id, "email")
    assert {(d.status, d.attempts) for d in rows} == {("failed", rules.MAX_ATTEMPTS)}
    monkeypatch.undo()
    clock.now += timedelta(hours=3)
    assert relay() == {"released": 0, "requeued": 0, "digests": 0}
    assert sink.messages == []


@pytest.mark.parametrize(
    "path",
    [
        "/notifications/" + "9" * 30,
        "/notifications/2147483648",
        "/notifications/sent/" + "9" * 25,
        "/notifications/sent/" + "9" * 25 + "/progress",
        "/notifications/-1",
    ],
)
def test_huge_or_negative_ids_are_not_found_not_a_server_error(app, in_process, world, make_client, path):
    c = make_client()
    c.login_as(world["users"]["city_admin"])
    assert c.get(path).status_code == 404


def test_odd_inbox_page_numbers(app, in_process, make_client):
    p = parents(1)[0]
    jobs.commit()
    notify("announcement", [p.id], {"title": "Một"})
    jobs.commit()
    c = make_client()
    c.login_as(p)
    for page in ("-3", "0", "abc", "99999999999", "9" * 40):
        resp = c.get(f"/notifications/?page={page}")
        assert resp.status_code == 200, page


def test_preferences_errors_are_localized_and_keep_what_was_ticked(app, in_process, make_client):
    p = parents(1)[0]
    jobs.commit()
    c = make_client()
    c.login_as(p)
    # Vietnamese is the default language: every message is the catalog's, none is WTForms' English.
    resp = c.post_form(
        "/notifications/preferences",
        {
            "quiet_enabled": "y",
            "quiet_start": "25:00",
            "quiet_end": "6h",
            "digest_at": "18:00\x00",
            "digest_announcement": "1",
            "email_announcement": "1",
        },
    )
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "Not a valid time value" not in page
    for example in ("21:00", "06:30", "18:00"):
        assert f"Vui lòng nhập giờ, ví dụ {example}." in page
    # Not lost: the boxes come back as the guardian left them (email off for tests, summary on).
    assert 'name="digest_announcement" value="1" checked' in page
    assert 'name="email_test" value="1" checked' not in page
    same = c.post_form(
        "/notifications/preferences",
        {"quiet_enabled": "y", "quiet_start": "21:00", "quiet_end": "21:00", "digest_at": "18:00"},
    )
    assert same.status_code == 422
    assert "Giờ kết thúc phải khác giờ bắt đầu của giờ yên tĩnh." in same.get_data(as_text=True)
    # A browser may send seconds; they are accepted.
    ok = c.post_form(
        "/notifications/preferences",
        {"quiet_enabled": "y", "quiet_start": "21:30:00", "quiet_end": "06:00", "digest_at": "18:00"},
    )
    assert ok.status_code == 302
    assert 'value="21:30"' in c.get("/notifications/preferences").get_data(as_text=True)


def test_inbox_item_links_only_to_this_site(app, in_process, make_client):
    """A path here, or an address under PUBLIC_URL (http://localhost in the tests); any other
    site is not linked, https or not (a forged Host header once planted one)."""
    app.config["PUBLIC_URL"] = "http://localhost"
    p = parents(1)[0]
    jobs.commit()
    urls = {
        "https://so-lien-lac.example.vn/x": False,
        "https://evil.example/contactbook/announcements/3": False,
        "http://localhost//evil.example/x": False,
        "http://localhost@evil.example/x": False,
        "/contactbook/announcements/1": True,
        "http://localhost/contactbook/announcements/2": True,  # under PUBLIC_URL
        "//evil.example/x": False,
        "/\\evil.example/x": False,
        "http://evil.example/x": False,
        "javascript:alert(1)": False,
        "http://localhost.evil.example/x": False,
    }
    made = {
        url: notify("announcement", [p.id], {"title": f"Link {i}", "url": url}) for i, url in enumerate(urls)
    }
    jobs.commit()
    c = make_client()
    c.login_as(p)
    for url, shown in urls.items():
        d = deliveries(made[url].id, "in_app")[0]
        page = c.get(f"/notifications/{d.id}").get_data(as_text=True)
        assert (f'href="{url}"' in page.replace("&#34;", '"')) is shown, url


@pytest.mark.parametrize(
    ("unread", "english_text", "vietnamese_text"),
    [
        (1, "1 notification marked as read.", "Đã đánh dấu 1 thông báo là đã đọc."),
        (3, "3 notifications marked as read.", "Đã đánh dấu 3 thông báo là đã đọc."),
    ],
)
def test_read_all_says_how_many_in_the_right_number(
    app, in_process, make_client, unread, english_text, vietnamese_text
):
    from tests.admissions_factories import english

    (a,) = parents(1)
    jobs.commit()
    for i in range(unread):
        notify("announcement", [a.id], {"title": f"Thông báo {i}"})
    jobs.commit()
    c = make_client()
    c.login_as(a)
    read = c.post_form("/notifications/read-all", {}, token_from="/notifications/")
    assert vietnamese_text in c.get(read.headers["Location"]).get_data(as_text=True)
    for i in range(unread):
        notify("announcement", [a.id], {"title": f"Thông báo mới {i}"})
    jobs.commit()
    english(c)
    read = c.post_form("/notifications/read-all", {}, token_from="/notifications/")
    assert english_text in c.get(read.headers["Location"]).get_data(as_text=True)
