"""One notion of read, and the urgent notice, on a 390 px phone in headless Chromium.

- A teacher announces to the class; a parent reads the announcement on its page; the parent's
  inbox item is no longer unread ("Chưa đọc"), and the teacher's delivery report shows 1 family
  read out of 2, as the announcement page does.
- School staff write an urgent notice, see the families and SMS on the confirmation step, send
  it, and land on its delivery report; it went past the families' quiet hours (22:00 here).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta

import pytest

from tests.browser.contactbook_helpers import log_in, tr
from tests.contactbook_factories import create_class, create_pupil
from tests.factories import create_school, create_user
from tests.notification_helpers import Clock, Sink

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)


def hanoi(h, m=0, day=10):
    return datetime(2026, 12, day, h, m) - timedelta(hours=7)


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.stop()


@pytest.fixture
def school_with_class(app, sink, commit):
    app.config.update(REDIS_URL=None, MAIL_URL=sink.url, NOTIFY_CLOCK=Clock(hanoi(22)))
    app.extensions.pop("redis", None)
    school = create_school(name="Trường Tiểu học Dịch Vọng")
    teacher = create_user("teacher", school=school, full_name="Cô Lan")
    staff = create_user("school_staff", school=school, full_name="Văn Thư")
    cls = create_class(school, "1A", homeroom=teacher)
    parents = [
        create_user("parent", phone="0912000101", email="mai@example.vn", full_name="Nguyễn Thị Mai"),
        create_user("parent", phone="0912000102", full_name="Trần Văn Hùng"),
    ]
    for p in parents:
        create_pupil(cls, guardians=[p])
    commit()
    return school, cls, teacher, staff, parents


def test_parent_reads_the_announcement_and_every_count_agrees(
    page, live_server, school_with_class, assert_clean
):
    _school, cls, teacher, _staff, (mai, _hung) = school_with_class
    assert page.viewport_size["width"] == 390
    log_in(page, live_server, teacher)
    page.goto(live_server(f"/contactbook/classes/{cls.id}/announcements/new"))
    page.get_by_label(tr("Title")).fill("Họp phụ huynh đầu năm")
    page.get_by_label(tr("Announcement")).fill("Thứ Bảy 8:00 tại lớp 1A.")
    page.get_by_role("button", name=tr("Send")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Họp phụ huynh đầu năm")
    announcement_url = page.url

    page.context.clear_cookies()
    log_in(page, live_server, mai)
    page.goto(live_server("/notifications/"))
    item = page.locator(".inbox li").filter(has_text="Họp phụ huynh đầu năm")
    expect(item).to_contain_text(tr("Unread:"))
    # The parent reads it where the contact book shows it (not through the inbox).
    page.goto(live_server("/contactbook/announcements"))
    page.get_by_role("link", name="Họp phụ huynh đầu năm").click()
    expect(page.get_by_text("Thứ Bảy 8:00 tại lớp 1A.")).to_be_visible()
    page.goto(live_server("/notifications/"))
    expect(item).to_be_visible()
    expect(item).not_to_contain_text(tr("Unread:"))
    expect(page.locator(".inbox li.unread")).to_have_count(0)

    page.context.clear_cookies()
    log_in(page, live_server, teacher)
    page.goto(announcement_url)
    expect(page.get_by_text(tr("%(read)d of %(n)d families have opened it.", read=1, n=2))).to_be_visible()
    page.get_by_role("link", name=tr("Delivery report (app, email, SMS)")).click()
    expect(page).to_have_url(re.compile(r"/notifications/sent/\d+$"))
    expect(page.locator('[data-family="read"]')).to_have_text("1")
    expect(page.locator('[data-family="total"]')).to_have_text("2")
    expect(
        page.get_by_role("table", name=tr("Channel deliveries (a family can be reached by several channels)"))
    ).to_be_visible()
    assert_clean()


def test_staff_send_an_urgent_notice_from_the_home_page_on_a_phone(
    page, live_server, school_with_class, sink, assert_clean
):
    _school, _cls, _teacher, staff, (mai, hung) = school_with_class
    log_in(page, live_server, staff)
    page.get_by_role("link", name=tr("Send an urgent notice (closure, incident)")).click()
    page.get_by_label(tr("Title")).fill("Bão số 3: nghỉ học ngày mai")
    page.get_by_label(tr("What families must know and do")).fill(
        "Học sinh nghỉ học thứ Sáu, an toàn là trên hết."
    )
    page.get_by_label(tr("The whole school")).check()
    page.get_by_role("button", name=tr("Continue: check before sending")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(tr("Confirm the urgent notice"))
    expect(page.locator('[data-confirm="sms"]')).to_have_text("2 SMS")
    assert sink.messages == []  # nothing sent before the confirmation
    page.get_by_role("button", name=tr("Send the urgent notice now")).click()
    expect(page).to_have_url(re.compile(r"/notifications/sent/\d+$"))
    expect(page.get_by_role("heading", level=1)).to_have_text(tr("Delivery report"))
    expect(page.locator('[data-family="total"]')).to_have_text("2")
    expect(page.locator('[data-channel="sms"][data-status="sent"]')).to_have_text("2")
    # 22:00 in Hanoi, inside quiet hours: the email went at once all the same.
    expect(page.locator('[data-channel="email"][data-status="sent"]')).to_have_text("1")
    assert [m["To"] for m in sink.messages] == ["mai@example.vn"]
    assert_clean()
