"""The installable app on a phone, in headless Chromium, against the live server: the manifest
and the service worker register; with the network cut, the child's page last opened shows from
the device with its "as of" note and any other page shows the offline page; logging out empties
the cache, so the next person on the phone sees none of it, even offline."""

from __future__ import annotations

import re

import pytest

from tests.contactbook_factories import cb_world  # noqa: F401 - a fixture
from tests.factories import PASSWORD

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)

OFFLINE_TITLE = "Bạn đang ngoại tuyến"  # "You are offline"
SAVED_COPY = "Đây là bản lưu lúc"  # "This is the copy saved on"


def log_in(page, live_server, login):
    page.goto(live_server("/auth/login"))
    page.get_by_label("Số điện thoại hoặc email").fill(login)
    page.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    expect(page).to_have_url(re.compile(r"/home$"))


def cached_pages(page) -> list[str]:
    return page.evaluate(
        """async () => {
            const cache = await caches.open("pages-v1");
            return (await cache.keys()).map((r) => new URL(r.url).pathname);
        }"""
    )


def test_offline_child_page_and_offline_page_then_logout_clears_the_cache(
    page,
    live_server,
    world,
    cb_world,  # noqa: F811 - the fixture imported above
    commit,
    assert_clean,
):
    commit()
    parent = world["users"]["parent"]
    child = cb_world["child"]
    log_in(page, live_server, parent.email or parent.phone)
    # The worker installed on the login page, before anyone was logged in: install it afresh now,
    # with the session cookie in the browser, so that the offline page it keeps could carry the
    # parent's name if the worker fetched it with the cookie.
    page.wait_for_function("async () => !!(await navigator.serviceWorker.ready)")
    page.evaluate(
        """async () => {
            for (const r of await navigator.serviceWorker.getRegistrations()) await r.unregister();
            for (const k of await caches.keys()) await caches.delete(k);
        }"""
    )
    page.reload()
    page.wait_for_function("async () => !!(await navigator.serviceWorker.ready)")
    page.wait_for_function("async () => !!(await caches.match('/offline'))")
    expect(page.get_by_text(parent.full_name).first).to_be_visible()  # logged in while it installed

    # The manifest is linked and valid; the service worker registers with the whole site as scope.
    manifest = page.evaluate(
        """async () => {
            const link = document.querySelector('link[rel="manifest"]');
            return (await fetch(link.href)).json();
        }"""
    )
    assert manifest["lang"] == "vi" and manifest["display"] == "standalone"
    scope = page.evaluate("async () => (await navigator.serviceWorker.ready).scope")
    assert scope == live_server("/")

    child_url = live_server(f"/contactbook/children/{child.id}")
    page.goto(child_url)
    page.wait_for_function("navigator.serviceWorker.controller !== null")
    page.reload()  # now through the worker, which keeps the copy
    expect(page.get_by_text(child.full_name).first).to_be_visible()
    page.wait_for_function(
        "async (path) => !!(await (await caches.open('pages-v1')).match(path))", arg=child_url
    )
    assert f"/contactbook/children/{child.id}" in cached_pages(page)
    assert "/auth/login" not in cached_pages(page) and "/home" not in cached_pages(page)

    page.context.set_offline(True)
    page.goto(child_url)
    note = page.locator("[data-offline-copy]")
    expect(note).to_contain_text(OFFLINE_TITLE)
    expect(note).to_contain_text(SAVED_COPY)
    expect(page.get_by_text(child.full_name).first).to_be_visible()
    page.goto(live_server("/notifications/preferences"))  # never kept: the offline page
    expect(page.get_by_role("heading", name=OFFLINE_TITLE)).to_be_visible()
    expect(page.get_by_text(parent.full_name)).to_have_count(0)  # saved without the session

    page.context.set_offline(False)
    page.goto(live_server("/home"))
    page.get_by_role("button", name="Đăng xuất").click()
    expect(page.get_by_role("link", name="Đăng nhập")).to_be_visible()
    page.wait_for_function("async () => (await (await caches.open('pages-v1')).keys()).length === 0")
    assert cached_pages(page) == []

    page.context.set_offline(True)
    page.goto(child_url)
    expect(page.get_by_role("heading", name=OFFLINE_TITLE)).to_be_visible()
    expect(page.get_by_text(child.full_name)).to_have_count(0)
    page.context.set_offline(False)
    assert_clean()


INSTALL_HINT = "Thêm trang này vào màn hình chính"  # "Add this site to your home screen"
OFFER_INSTALL = """() => {
    const event = new Event("beforeinstallprompt", { cancelable: true });
    window.prompted = 0;
    event.prompt = () => { window.prompted += 1; return Promise.resolve(); };
    window.dispatchEvent(event);
    return event.defaultPrevented;
}"""


def test_install_hint_on_a_phone_prompts_and_once_dismissed_stays_dismissed(page, live_server, browser):
    """Headless Chromium never offers to install: the test dispatches the browser's event itself."""
    page.goto(live_server("/auth/login"))
    hint = page.locator("[data-install-hint]")
    expect(hint).to_be_hidden()  # nothing before the browser offers to install
    assert page.evaluate(OFFER_INSTALL) is True  # the browser's own banner is held back
    expect(hint).to_be_visible()
    expect(hint).to_contain_text(INSTALL_HINT)
    page.get_by_role("button", name="Cài đặt").click()
    assert page.evaluate("window.prompted") == 1  # the browser's install dialog
    expect(hint).to_be_hidden()

    page.reload()  # installing was not declining: offered again, the hint comes back
    page.evaluate(OFFER_INSTALL)
    expect(hint).to_be_visible()
    page.get_by_role("button", name="Để sau").click()
    expect(hint).to_be_hidden()
    page.reload()
    page.evaluate(OFFER_INSTALL)
    expect(hint).to_be_hidden()  # dismissed stays dismissed (the handler shows it at once otherwise)
    assert page.evaluate("window.prompted") == 0

    iphone = browser.new_context(
        viewport={"width": 390, "height": 844},
        user_agent="Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1",
    )
    desktop = browser.new_context(viewport={"width": 1280, "height": 800})
    try:
        ios = iphone.new_page()
        ios.goto(live_server("/auth/login"))  # Safari has no install prompt: the hint says how
        expect(ios.locator("[data-install-hint] [data-ios]")).to_be_visible()
        expect(ios.locator("[data-install-hint] [data-install]")).to_be_hidden()
        wide = desktop.new_page()
        wide.goto(live_server("/auth/login"))
        wide.evaluate(OFFER_INSTALL)
        expect(wide.locator("[data-install-hint]")).to_be_hidden()  # phones only
    finally:
        iphone.close()
        desktop.close()
