"""Notification journeys on a phone, in headless Chromium, against the live server.

- the sender's delivery report: the progress bar and counts move while messages go out, without
  reloading the page (app/static/js/notifications.js polls the JSON progress);
- a parent: the unread count in the header, opening a notification, "mark all as read";
- the notification settings form: a mistake answers 422 with a Vietnamese message and keeps what
  the parent ticked.

Jobs run in-process (no Redis), email goes to a real local SMTP server; the clock is frozen at
22:00 in Hanoi so that email waits for the end of quiet hours, then moved to 06:31.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from app.models import utcnow
from app.notifications import notify
from app.notifications.relay import relay
from tests.browser.contactbook_helpers import tr
from tests.factories import PASSWORD, create_school, create_user
from tests.notification_helpers import Clock, Sink

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)

LOGIN_LABEL = "Số điện thoại hoặc email"  # "Phone number or email"
PASSWORD_LABEL = "Mật khẩu"  # "Password"
LOG_IN = "Đăng nhập"  # "Log in"
INBOX = "Hộp thư thông báo ({})"  # "Notifications (%(n)d)"
MARK_ALL = "Đánh dấu tất cả là đã đọc"  # "Mark all as read"
MARKED = "Đã đánh dấu {} thông báo là đã đọc."
QUIET_START = "Giờ yên tĩnh bắt đầu"  # "Quiet hours start"
QUIET_END = "Giờ yên tĩnh kết thúc"  # "Quiet hours end"
SAVE = "Lưu cài đặt"  # "Save settings"
SAVED = "Đã lưu cài đặt nhận thông báo."
SAME_TIME = "Giờ kết thúc phải khác giờ bắt đầu của giờ yên tĩnh."


def hanoi(h, m=0, day=10):
    return datetime(2026, 12, day, h, m) - timedelta(hours=7)


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.stop()


@pytest.fixture
def setup(app, sink):
    clock = Clock(hanoi(22))
    app.config.update(REDIS_URL=None, MAIL_URL=sink.url, NOTIFY_CLOCK=clock)
    app.extensions.pop("redis", None)
    return clock


def log_in(page, live_server, login):
    page.goto(live_server("/auth/login"))
    page.get_by_label(LOGIN_LABEL).fill(login)
    page.get_by_label(PASSWORD_LABEL, exact=True).fill(PASSWORD)
    page.get_by_role("button", name=LOG_IN).click()
    expect(page).to_have_url(re.compile(r"/home$"))


def test_sender_watches_the_progress_bar_fill_without_reloading(
    page, live_server, commit, setup, sink, assert_clean
):
    clock = setup
    school = create_school(name="Trường Tiểu học Dịch Vọng")
    staff = create_user("school_staff", school=school, full_name="Văn Thư")
    families = [create_user("parent", email=f"ph{i}@example.vn") for i in range(3)]
    commit()
    n = notify(
        "announcement",
        [p.id for p in families],
        {"title": "Họp phụ huynh đầu năm"},
        sender_id=staff.id,
        school_id=school.id,
    )
    commit()  # in-app copies are there; the 3 emails wait for 06:30
    assert sink.messages == []

    log_in(page, live_server, staff.email)
    page.goto(live_server(f"/notifications/sent/{n.id}"))
    bar = page.locator("#delivery-bar")
    expect(bar).to_have_attribute("value", "50")
    expect(page.locator('[data-family="waiting"]')).to_have_text("3")  # families, not messages
    expect(page.locator('[data-channel="email"][data-status="queued"]')).to_have_text("3")
    page.evaluate("window.__samePage = true")

    clock.now = hanoi(6, 31, day=11)
    relay()  # quiet hours are over: the emails go out while the page is open
    assert len(sink.messages) == 3
    expect(bar).to_have_attribute("value", "100")
    expect(page.locator('[data-family="sent"]')).to_have_text("3")  # 3 families, 6 channel deliveries
    expect(page.locator('[data-family="waiting"]')).to_have_text("0")
    expect(page.locator('[data-channel="email"][data-status="sent"]')).to_have_text("3")
    expect(page.locator('[data-channel="email"][data-status="queued"]')).to_have_text("0")
    assert page.evaluate("window.__samePage") is True  # updated in place, not reloaded
    assert_clean()


def test_parent_reads_notifications_and_the_header_count_follows(
    page, live_server, commit, setup, assert_clean
):
    parent = create_user("parent", phone="0912345678", full_name="Nguyễn Thị Mai")
    parent.last_login_at = utcnow()
    commit()
    for title in ("Lịch tiêm chủng", "Thực đơn tuần", "Họp phụ huynh"):
        notify("announcement", [parent.id], {"title": title, "body": f"Nội dung: {title}."})
    commit()

    log_in(page, live_server, parent.phone)
    header = page.locator("header")
    expect(header.get_by_role("link", name=INBOX.format(3))).to_be_visible()
    header.get_by_role("link", name=INBOX.format(3)).click()
    # The parent taps the title (the link's own box starts with its visually hidden "Unread:").
    page.locator(".inbox").get_by_text("Thực đơn tuần").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Thực đơn tuần")
    expect(page.get_by_text("Nội dung: Thực đơn tuần.")).to_be_visible()
    expect(header.get_by_role("link", name=INBOX.format(2))).to_be_visible()

    header.get_by_role("link", name=INBOX.format(2)).click()
    page.get_by_role("button", name=MARK_ALL).click()
    expect(page.get_by_text(MARKED.format(2))).to_be_visible()
    expect(header.get_by_role("link", name=INBOX.format(0))).to_be_visible()
    expect(page.get_by_role("button", name=MARK_ALL)).to_have_count(0)
    assert_clean()


def test_settings_mistake_is_explained_in_vietnamese_and_nothing_ticked_is_lost(
    page, live_server, commit, setup, assert_clean
):
    parent = create_user("parent", phone="0912345679", email="me@example.vn")
    commit()
    log_in(page, live_server, parent.phone)
    page.goto(live_server("/notifications/preferences"))
    email_box = page.locator('input[name="email_announcement"]')
    digest_box = page.locator('input[name="digest_contact_book"]')
    expect(email_box).to_be_checked()
    email_box.uncheck()
    digest_box.check()
    page.get_by_label(QUIET_START).fill("21:00")
    page.get_by_label(QUIET_END).fill("21:00")
    with page.expect_response(lambda r: r.request.method == "POST") as answer:
        page.get_by_role("button", name=SAVE).click()
    assert answer.value.status == 422
    expect(page.get_by_text(SAME_TIME)).to_be_visible()
    expect(email_box).not_to_be_checked()
    expect(digest_box).to_be_checked()

    page.get_by_label(QUIET_END).fill("06:00")
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_text(SAVED)).to_be_visible()
    expect(email_box).not_to_be_checked()
    expect(digest_box).to_be_checked()
    expect(page.get_by_label(QUIET_END)).to_have_value("06:00")
    assert_clean()


def test_a_parent_without_email_sees_only_what_can_reach_her_on_a_phone(
    page, live_server, commit, setup, assert_clean
):
    """No Email boxes for an account without an address, no staff-only 'test' row, and the
    quiet-hours checkbox drawn beside its label, not as a large box above it."""

    parent = create_user("parent", phone="0912345670", email=None)
    teacher = create_user("teacher", school=create_school(), email="gv@example.edu.vn")
    commit()
    assert page.viewport_size["width"] <= 414
    log_in(page, live_server, parent.phone)
    page.goto(live_server("/notifications/preferences"))
    expect(page.locator('input[type=checkbox][name^="email_"]')).to_have_count(0)
    expect(page.get_by_role("rowheader", name=tr("Test notifications"))).to_have_count(0)
    expect(page.locator(".hint").filter(has_text="SMS")).to_be_visible()  # why there is no email
    box = page.locator('input[name="quiet_enabled"]').bounding_box()
    label = (
        page.locator("label.checkbox").filter(has=page.locator('input[name="quiet_enabled"]')).bounding_box()
    )
    assert box["width"] <= 32 and box["height"] <= 32, box
    assert box["y"] >= label["y"] and box["y"] + box["height"] <= label["y"] + label["height"], (box, label)
    assert box["x"] <= label["x"] + 4, (box, label)  # the box beside its text, at the left
    page.get_by_role("button", name=SAVE).click()
    expect(page.get_by_text(SAVED)).to_be_visible()
    assert_clean()

    page.context.clear_cookies()
    log_in(page, live_server, teacher.email)
    page.goto(live_server("/notifications/preferences"))
    expect(page.get_by_role("rowheader", name=tr("Test notifications"))).to_have_count(1)
    expect(page.locator('input[type=checkbox][name="email_announcement"]')).to_have_count(1)
    assert_clean()
