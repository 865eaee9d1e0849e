"""On a phone-sized screen: register with the code sent by SMS, forget the password, recover it
with a new code, log in with the new password. The SMS are read where the SMS channel
writes them without a gateway (the log); labels are the Vietnamese a parent reads."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa

from app.models import User
from tests.browser.contactbook_helpers import at, tr
from tests.sms import last_code

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)

PHONE_NUMBER = "0912 000 222"
FIRST = "mot buoi sang dep troi"
SECOND = "chieu thu bay di cong vien"


def _shot(page, name: str) -> None:
    """Screenshots for a person to look at (SCREENSHOTS=<folder>); nothing otherwise."""
    folder = os.environ.get("SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"codes-{name}.png"), full_page=True)


def test_register_with_a_code_forget_the_password_and_recover_it(page, live_server, db, assert_clean):
    # 1. Register: the form, then the code the SMS brought.
    page.goto(live_server("/auth/register"))
    page.get_by_label(tr("Full name")).fill("Đỗ Thị Thu")
    page.get_by_label(tr("Mobile phone number")).fill(PHONE_NUMBER)
    page.get_by_label(tr("Password"), exact=True).fill(FIRST)
    page.get_by_label(tr("Repeat the password")).fill(FIRST)
    page.get_by_label(tr("I have read the privacy notice and agree to this processing.")).check()
    page.get_by_role("button", name=tr("Create account")).click()
    expect(page).to_have_url(at("/auth/verify"))
    expect(page.get_by_text("091****222")).to_be_visible()
    _shot(page, "1-verify")
    code = last_code("0912000222")
    wrong = "000000" if code != "000000" else "111111"
    page.get_by_label(tr("Code"), exact=True).fill(wrong)
    page.get_by_role("button", name=tr("Confirm")).click()
    expect(page.locator("#code-error")).to_have_text(tr("Wrong code. Check the SMS and try again."))
    page.get_by_label(tr("Code"), exact=True).fill(code)
    page.get_by_role("button", name=tr("Confirm")).click()
    expect(page).to_have_url(at("/home"))
    expect(page.get_by_text(tr("Welcome! Your account is ready."))).to_be_visible()
    page.locator("header").get_by_role("button", name=tr("Log out")).click()
    expect(page).to_have_url(at("/auth/login"))

    # 2. Forgot password: from the login page, the number, then the code and a new password.
    page.get_by_role("link", name=tr("Forgot password?")).click()
    expect(page).to_have_url(at("/auth/forgot"))
    page.get_by_label(tr("Phone number or email")).fill(PHONE_NUMBER)
    page.get_by_role("button", name=tr("Send the code")).click()
    expect(page).to_have_url(at("/auth/reset"))
    page.get_by_label(tr("Code"), exact=True).fill(last_code("0912000222"))
    page.get_by_label(tr("New password")).fill(SECOND)
    page.get_by_label(tr("Repeat the password")).fill(SECOND)
    _shot(page, "2-reset")
    # Nothing in the page is wider than the phone's screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    page.get_by_role("button", name=tr("Change password")).click()
    expect(page).to_have_url(at("/home"))
    expect(
        page.get_by_text(tr("Your password has been changed. Other devices have been logged out."))
    ).to_be_visible()
    _shot(page, "3-home")

    # 3. The new password opens the account, the old one no longer does.
    page.locator("header").get_by_role("button", name=tr("Log out")).click()
    page.get_by_label(tr("Phone number or email")).fill(PHONE_NUMBER)
    page.get_by_label(tr("Password"), exact=True).fill(FIRST)
    page.get_by_role("button", name=tr("Log in")).click()
    expect(page.get_by_text(tr("Wrong phone number/email or password."))).to_be_visible()
    page.get_by_label(tr("Password"), exact=True).fill(SECOND)
    page.get_by_role("button", name=tr("Log in")).click()
    expect(page).to_have_url(at("/home"))
    db.session.rollback()  # see the server thread's commits
    user = db.session.scalar(sa.select(User).where(User.phone == "0912000222"))
    assert user.full_name == "Đỗ Thị Thu" and user.phone_verified_at is not None
    assert_clean()
