"""On a phone-sized screen (390 px): a parent sees where the account is logged in and logs out
every other device; a district officer finds a teacher, deactivates the account (its sessions
end at once) and reactivates it. Labels are the Vietnamese a person reads."""

from __future__ import annotations

import os

import pytest

from tests.browser.contactbook_helpers import at, tr
from tests.factories import PASSWORD, create_user

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)

IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


def _shot(page, name: str) -> None:
    """Screenshots for a person to look at (SCREENSHOTS=<folder>); nothing otherwise."""
    folder = os.environ.get("SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"accounts-{name}.png"), full_page=True)


def _log_in(page, live_server, login: str) -> None:
    page.goto(live_server("/auth/login"))
    page.get_by_label(tr("Phone number or email")).fill(login)
    page.get_by_label(tr("Password"), exact=True).fill(PASSWORD)
    page.get_by_role("button", name=tr("Log in")).click()
    expect(page).to_have_url(at("/home"))


def _fits(page) -> None:
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def test_a_parent_logs_out_every_other_device(page, browser, live_server, db, commit, assert_clean):
    parent = create_user("parent")
    commit()
    # The same account, logged in on an iPhone elsewhere.
    other = browser.new_context(user_agent=IPHONE)
    try:
        other_page = other.new_page()
        _log_in(other_page, live_server, parent.phone)
        page.on("dialog", lambda dialog: dialog.accept())
        _log_in(page, live_server, parent.phone)
        page.goto(live_server("/auth/password"))
        page.get_by_role("link", name=tr("Where you are logged in")).click()
        expect(page).to_have_url(at("/auth/sessions"))
        current = page.locator(".sessions .card.current")
        expect(current.get_by_text(tr("This device"))).to_be_visible()
        expect(page.get_by_text("Safari trên iPhone")).to_be_visible()
        expect(page.get_by_text("127.0.x.x").first).to_be_visible()
        _fits(page)
        _shot(page, "1-sessions")
        page.get_by_role("button", name=tr("Log out everywhere else")).click()
        expect(page).to_have_url(at("/auth/sessions"))
        expect(page.get_by_text("Đã đăng xuất 1 phiên khác.")).to_be_visible()
        expect(page.locator(".sessions .card")).to_have_count(1)
        _shot(page, "2-sessions-after")
        # The iPhone is back at the login page at its next click.
        other_page.goto(live_server("/home"))
        expect(other_page).to_have_url(at("/auth/login"))
    finally:
        other.close()
    assert_clean()


def test_a_district_officer_deactivates_and_reactivates_a_teacher(
    page, browser, live_server, world, commit, assert_clean
):
    teacher = world["users"]["teacher"]
    officer = world["users"]["district_officer"]
    teacher_context = browser.new_context()
    try:
        teacher_page = teacher_context.new_page()
        _log_in(teacher_page, live_server, teacher.email)
        page.on("dialog", lambda dialog: dialog.accept())
        _log_in(page, live_server, officer.email)
        page.get_by_role("link", name=tr("Staff accounts")).click()
        expect(page).to_have_url(at("/admin/users"))
        page.get_by_label(tr("Search by name, email or phone")).fill(teacher.email)
        page.get_by_role("button", name=tr("Search")).click()
        page.get_by_role("link", name=teacher.full_name).click()
        expect(page).to_have_url(at(f"/admin/users/{teacher.id}/edit"))
        _fits(page)
        _shot(page, "3-edit")
        page.get_by_role("button", name=tr("Deactivate"), exact=True).click()
        expect(
            page.get_by_text(tr("The account has been deactivated and logged out everywhere."))
        ).to_be_visible()
        expect(page.get_by_role("button", name=tr("Reactivate"))).to_be_visible()
        _fits(page)
        _shot(page, "4-deactivated")
        # The teacher's open session ended with it.
        teacher_page.goto(live_server("/home"))
        expect(teacher_page).to_have_url(at("/auth/login"))
        page.get_by_role("button", name=tr("Reactivate")).click()
        expect(page.get_by_text(tr("The account has been reactivated."))).to_be_visible()
        _log_in(teacher_page, live_server, teacher.email)
    finally:
        teacher_context.close()
    assert_clean()
