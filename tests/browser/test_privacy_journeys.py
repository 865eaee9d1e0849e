"""On a phone-sized screen (390 px): a parent opens her personal-data page, withdraws the email
channel and reads what that does, then asks for her download, waits for it and reads it."""

from __future__ import annotations

import os
import re

import pytest

from tests.browser.contactbook_helpers import at, log_in, tr
from tests.factories import create_user

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)


def _shot(page, name: str) -> None:
    folder = os.environ.get("SCREENSHOTS")
    if folder:
        page.screenshot(path=os.path.join(folder, f"privacy-{name}.png"), full_page=True)


def test_parent_withdraws_the_email_channel_and_downloads_her_data(
    page, live_server, commit, drain, assert_clean
):
    parent = create_user("parent", email="me@example.vn", full_name="Phạm Thị Lan")
    commit()
    log_in(page, live_server, parent)
    page.get_by_role("link", name=tr("Your personal data and consents")).click()
    expect(page).to_have_url(at("/privacy/"))
    email = page.locator("#consent-email")
    email.get_by_role("button", name=tr("Give consent")).click()
    expect(email.get_by_role("button", name=tr("Withdraw consent"))).to_be_visible()
    expect(email).to_contain_text(
        tr(
            "We stop sending you emails at once. Notifications still reach your inbox in the app (and urgent ones by SMS)."
        )
    )
    _shot(page, "1-consents")
    email.get_by_role("button", name=tr("Withdraw consent")).click()
    expect(page.locator(".flash-success")).to_contain_text(
        tr(
            "We stop sending you emails at once. Notifications still reach your inbox in the app (and urgent ones by SMS)."
        )
    )
    expect(page.locator("#consent-email")).to_contain_text(tr("No emails are sent to you."))
    # The page fits the phone: nothing wider than the screen.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_role("button", name=tr("Prepare my download")).click()
    expect(page).to_have_url(re.compile(r"/privacy/downloads/\d+$"))
    drain()
    page.reload()
    page.get_by_role("link", name=tr("Read it (document)")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(tr("Everything we hold about you"))
    # One record reads as label → value, in Vietnamese: no English key, no ISO date.
    account = page.locator("section.privacy-section").filter(
        has=page.get_by_role("heading", name=tr("Account"))
    )
    expect(account.get_by_role("definition").filter(has_text="Phạm Thị Lan")).to_be_visible()
    expect(account).to_contain_text(tr("Full name"))
    expect(account).not_to_contain_text("full_name")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    _shot(page, "2-document")
