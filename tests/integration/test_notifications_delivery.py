"""Notifications, in-process path, when things go wrong: SMTP and SMS gateway errors and retries,
no operator running the passes, odd input and messages that cannot be rendered.

A real local SMTP server (aiosmtpd) and a real local HTTP SMS gateway (http.server) receive the
messages (tests/notification_helpers.py).
"""

from __future__ import annotations

import re
import socket
from datetime import timedelta

import pytest
import sqlalchemy as sa

from app import autorelay, jobs
from app.extensions import db
from app.models import utcnow
from app.notifications import notify, render, rules
from app.notifications.models import Delivery
from app.notifications.relay import relay
from app.notifications.service import report_counts, sms_counts_by_school
from app.notifications.tasks import send_deliveries
from tests.admissions_factories import english
from tests.factories import create_user
from tests.notification_helpers import Gateway, Sink, choose_evening_digest, deliveries, hanoi, parents

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


# ------------------------------------------------------------------ no operator, odd input, bad messages


def test_web_requests_send_due_deferred_messages_and_digests_without_an_operator(
    app, in_process, sink, make_client
):
    """In-process mode (no Redis: `scripts/run`) with nobody running `notifications relay`: the
    web process itself sends what quiet hours held back and the daily digest, once due, from a
    background thread after a request, at most once a minute."""

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
