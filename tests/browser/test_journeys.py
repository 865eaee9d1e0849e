"""Account journeys a parent makes on a phone, in headless Chromium, against the live server.

Fields are found by their Vietnamese labels (the catalog in app/translations/vi), as a parent
sees them; every journey ends by checking that the browser saw no console error, no page error
and no Content-Security-Policy violation.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.models import User
from tests.factories import PASSWORD, create_user
from tests.sms import last_code

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)

# The Vietnamese strings the parent reads (msgstr of the compiled catalog).
LOGIN_LABEL = "Số điện thoại hoặc email"  # "Phone number or email"
PASSWORD_LABEL = "Mật khẩu"  # "Password"
FULL_NAME_LABEL = "Họ và tên"  # "Full name"
MOBILE_LABEL = "Số điện thoại di động"  # "Mobile phone number"
CONFIRM_LABEL = "Nhập lại mật khẩu"  # "Repeat the password"
AGREE_LABEL = "Tôi đã đọc thông báo xử lý dữ liệu cá nhân và đồng ý với việc xử lý này."  # the privacy notice
LOG_IN = "Đăng nhập"  # "Log in"
LOG_OUT = "Đăng xuất"  # "Log out"
CREATE_ACCOUNT = "Tạo tài khoản"  # "Create account"
HELLO = "Xin chào, {}"  # "Hello, %(name)s"
LOGGED_OUT = "Bạn đã đăng xuất."  # "You have logged out."
WELCOME = "Chào mừng bạn! Tài khoản của bạn đã sẵn sàng."
WRONG_LOGIN = "Số điện thoại/email hoặc mật khẩu không đúng."
CODE_LABEL = "Mã"  # "Code"
CONFIRM = "Xác nhận"  # "Confirm"
BAD_PHONE = "Vui lòng nhập số điện thoại di động Việt Nam gồm 10 chữ số, bắt đầu bằng 03, 05, 07, 08 hoặc 09."


def _path(url: str) -> str:
    return re.sub(r"^https?://[^/]+", "", url)


def _at(path: str):
    return re.compile(r"^https?://[^/]+" + re.escape(path) + r"(\?.*)?$")


def test_parent_logs_in_on_a_phone_and_logs_out(page, live_server, commit, assert_clean):
    parent = create_user("parent", phone="0912345678", full_name="Nguyễn Thị Mai")
    commit()

    page.goto(live_server("/auth/login"))
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(page.get_by_role("heading", level=1)).to_have_text(LOG_IN)
    page.get_by_label(LOGIN_LABEL).fill(parent.phone)
    page.get_by_label(PASSWORD_LABEL, exact=True).fill(PASSWORD)
    page.get_by_role("button", name=LOG_IN).click()

    expect(page).to_have_url(_at("/home"))
    expect(page.get_by_role("heading", level=1)).to_have_text(HELLO.format("Nguyễn Thị Mai"))
    header = page.locator("header")
    expect(header.get_by_role("link", name="Nguyễn Thị Mai")).to_be_visible()

    logout = header.get_by_role("button", name=LOG_OUT)
    expect(logout).to_be_visible()
    logout.click()

    expect(page).to_have_url(_at("/auth/login"))
    expect(page.get_by_role("heading", level=1)).to_have_text(LOG_IN)
    expect(page.get_by_text(LOGGED_OUT)).to_be_visible()
    expect(header.get_by_role("button", name=LOG_OUT)).to_have_count(0)
    # The session is gone: /home sends the parent back to the login page.
    page.goto(live_server("/home"))
    expect(page).to_have_url(_at("/auth/login"))
    assert_clean()


def test_parent_registers_after_correcting_a_bad_phone_number(page, live_server, db, assert_clean):
    page.goto(live_server("/auth/register"))
    page.get_by_label(FULL_NAME_LABEL).fill("Nguyễn Thị Hoa")
    page.get_by_label(MOBILE_LABEL).fill("0212345678")  # 02x is a landline prefix
    page.get_by_label(PASSWORD_LABEL, exact=True).fill("mot buoi sang dep troi")
    page.get_by_label(CONFIRM_LABEL).fill("mot buoi sang dep troi")
    page.get_by_label(AGREE_LABEL).check()
    page.get_by_role("button", name=CREATE_ACCOUNT).click()

    # The error sits beside the field and is tied to it for screen readers.
    expect(page).to_have_url(_at("/auth/register"))
    phone = page.get_by_label(MOBILE_LABEL)
    expect(phone).to_have_attribute("aria-invalid", "true")
    error = page.locator("#phone-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(BAD_PHONE)
    expect(phone).to_have_attribute("aria-describedby", re.compile(r"\bphone-error\b"))
    expect(page.get_by_label(FULL_NAME_LABEL)).to_have_value("Nguyễn Thị Hoa")
    expect(page.get_by_label(FULL_NAME_LABEL)).not_to_have_attribute("aria-invalid", "true")

    phone.fill("+84 912 000 111")
    page.get_by_label(PASSWORD_LABEL, exact=True).fill("mot buoi sang dep troi")
    page.get_by_label(CONFIRM_LABEL).fill("mot buoi sang dep troi")
    page.get_by_role("button", name=CREATE_ACCOUNT).click()

    # The code sent by SMS (written to the log without a gateway) creates the account.
    expect(page).to_have_url(_at("/auth/verify"))
    page.get_by_label(CODE_LABEL, exact=True).fill(last_code("0912000111"))
    page.get_by_role("button", name=CONFIRM).click()
    expect(page).to_have_url(_at("/home"))
    expect(page.get_by_text(WELCOME)).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_have_text(HELLO.format("Nguyễn Thị Hoa"))
    expect(page.locator("header").get_by_role("button", name=LOG_OUT)).to_be_visible()
    db.session.rollback()  # see the server thread's commit
    user = db.session.scalar(sa.select(User).where(User.phone == "0912000111"))
    assert user is not None and user.role == "parent" and user.full_name == "Nguyễn Thị Hoa"
    assert_clean()


def test_wrong_password_shows_the_error_and_does_not_log_in(page, live_server, commit, assert_clean):
    parent = create_user("parent", phone="0987654321", full_name="Trần Văn Nam")
    commit()

    page.goto(live_server("/auth/login"))
    page.get_by_label(LOGIN_LABEL).fill(parent.phone)
    page.get_by_label(PASSWORD_LABEL, exact=True).fill("not the right password")
    page.get_by_role("button", name=LOG_IN).click()

    expect(page).to_have_url(_at("/auth/login"))
    error = page.locator("#password-error")
    expect(error).to_be_visible()
    expect(error).to_have_text(WRONG_LOGIN)
    expect(page.get_by_label(PASSWORD_LABEL, exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label(PASSWORD_LABEL, exact=True)).to_have_value("")  # never echoed back
    expect(page.get_by_label(LOGIN_LABEL)).to_have_value(parent.phone)
    expect(page.locator("header").get_by_role("button", name=LOG_OUT)).to_have_count(0)
    page.goto(live_server("/home"))
    expect(page).to_have_url(_at("/auth/login"))
    assert_clean()


def test_language_switch_to_english_and_back(page, live_server, assert_clean):
    page.goto(live_server("/auth/login"))
    heading = page.get_by_role("heading", level=1)
    expect(heading).to_have_text(LOG_IN)

    page.get_by_role("button", name="English").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    expect(heading).to_have_text("Log in")
    expect(page).to_have_url(_at("/auth/login"))  # back on the same page
    expect(page.get_by_label("Phone number or email")).to_be_visible()
    expect(page.get_by_role("button", name="English")).to_have_count(0)

    page.get_by_role("button", name="Tiếng Việt").click()
    expect(page.locator("html")).to_have_attribute("lang", "vi")
    expect(heading).to_have_text(LOG_IN)
    expect(page).to_have_url(_at("/auth/login"))
    expect(page.get_by_label(LOGIN_LABEL)).to_be_visible()
    assert_clean()


def test_login_form_works_from_the_keyboard(page, live_server, commit, assert_clean):
    parent = create_user("parent", phone="0391234567", full_name="Lê Văn Bình")
    commit()

    page.goto(live_server("/auth/login"))
    login = page.get_by_label(LOGIN_LABEL)
    password = page.get_by_label(PASSWORD_LABEL, exact=True)
    submit = page.get_by_role("button", name=LOG_IN)
    expect(login).to_be_focused()  # autofocus: a parent can type at once

    # From the heading, Tab walks the form in reading order: login, password, submit.
    page.get_by_role("heading", level=1).click()
    expect(login).not_to_be_focused()
    page.keyboard.press("Tab")
    expect(login).to_be_focused()
    page.keyboard.type(parent.phone)
    page.keyboard.press("Tab")
    expect(password).to_be_focused()
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    expect(submit).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(_at("/home"))
    expect(page.get_by_role("heading", level=1)).to_have_text(HELLO.format("Lê Văn Bình"))
    assert_clean()


def test_enter_in_the_password_field_submits(page, live_server, commit, assert_clean):
    parent = create_user("parent", phone="0701234567", full_name="Phạm Thu Hà")
    commit()

    page.goto(live_server("/auth/login"))
    # The login field has the focus already (autofocus): typed into without a click. Waited for,
    # not assumed: on a busy machine the browser applies autofocus a moment after the page is
    # shown, and keys typed before it went to the page (Tab then reached the skip link).
    expect(page.get_by_label(LOGIN_LABEL)).to_be_focused()
    page.keyboard.type(parent.phone)
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    expect(page).to_have_url(_at("/home"))
    expect(page.get_by_role("heading", level=1)).to_have_text(HELLO.format("Phạm Thu Hà"))
    assert_clean()


def test_public_pages_have_no_console_errors_or_csp_violations(
    page, live_server, page_problems, assert_clean
):
    for path in ("/", "/auth/login", "/auth/register"):
        resp = page.goto(live_server(path))
        assert resp is not None and resp.ok, f"{path}: {resp and resp.status}"
        csp = resp.header_value("content-security-policy") or ""
        assert "script-src 'self'" in csp, f"{path}: no CSP"
        # The stylesheet and script load under the CSP (no inline code was needed).
        assert page.evaluate("() => document.styleSheets.length") >= 1, f"{path}: stylesheet blocked"
        expect(page.locator("script[src$='app.js']")).to_have_count(1)
    assert _path(page.url) == "/auth/register"
    assert_clean()


SENDING = "Đang gửi…"  # "Sending…"


def test_a_posted_form_shows_it_is_on_its_way_and_back_brings_it_back(
    page, live_server, commit, assert_clean
):
    """Opening day: an answer may take seconds. The pressed button says the form is on its way
    (and it cannot go twice); a page the browser restores from memory works again."""
    parent = create_user("parent", phone="0912345670", full_name="Trần Thị Chờ")
    commit()
    page.goto(live_server("/auth/login"))
    page.get_by_label(LOGIN_LABEL).fill(parent.phone)
    page.get_by_label(PASSWORD_LABEL, exact=True).fill(PASSWORD)
    # The answer that would take seconds: the page's submits are held after the app's own
    # handler has run (and counted when that handler let them go).
    page.evaluate(
        """() => {
            window.sent = 0;
            window.hold = (e) => { if (!e.defaultPrevented) { window.sent += 1; } e.preventDefault(); };
            window.addEventListener('submit', window.hold);
        }"""
    )
    page.get_by_role("button", name=LOG_IN).click()
    busy = page.locator("main form[aria-busy=true]")
    expect(busy).to_have_count(1)
    expect(busy.locator("button[type=submit]")).to_have_text(SENDING)
    expect(busy.locator("button[type=submit]")).to_be_disabled()
    expect(page.locator(".lang-switch button")).to_have_text("English")  # only the pressed one says so
    page.get_by_label(PASSWORD_LABEL, exact=True).press("Enter")  # impatient: Enter again
    assert page.evaluate("window.sent") == 1  # one login on its way

    # Back to this page from the browser's memory (bfcache): the form works again.
    page.evaluate("window.dispatchEvent(new PageTransitionEvent('pageshow', {persisted: true}))")
    expect(page.locator("main form[aria-busy]")).to_have_count(0)
    expect(page.get_by_role("button", name=LOG_IN)).to_be_enabled()
    page.evaluate("window.removeEventListener('submit', window.hold)")
    page.get_by_role("button", name=LOG_IN).click()
    expect(page).to_have_url(_at("/home"))
    assert_clean()
