"""Browser tier: real journeys in headless Chromium against a live server.

Every test in this folder is marked `browser` and skipped (with the reason) when Chromium is
missing. Chromium is Debian's /usr/bin/chromium; set CHROMIUM_PATH to use another binary.

The live server serves the very app built by the `app` fixture (tests/conftest.py), so the
database is the session's migrated one and tables are emptied after each test as everywhere
else. The server runs in another thread with its own database connections: commit test data
(`commit()` below) before the browser asks for it.
"""

from __future__ import annotations

import os
import re
import threading
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server

from app import jobs
from app.extensions import db

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
ARTIFACTS = ROOT / "test-artifacts"

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
    "--no-first-run",
]
PHONE = {
    "viewport": {"width": 390, "height": 844},
    "device_scale_factor": 3,
    "is_mobile": True,
    "has_touch": True,
    "locale": "vi-VN",
    "timezone_id": "Asia/Ho_Chi_Minh",
}
TIMEOUT_MS = 10_000

# Reports securitypolicyviolation events (CSP) from every document to Python. Init scripts and
# bindings are injected by the DevTools protocol, so the page's own CSP does not block them.
_CSP_LISTENER = """
document.addEventListener("securitypolicyviolation", function (e) {
  window.__reportCsp([e.violatedDirective, e.blockedURI, e.sourceFile + ":" + e.lineNumber].join(" "));
});
"""


def chromium_path() -> str:
    return os.environ.get("CHROMIUM_PATH") or "/usr/bin/chromium"


def _in_this_folder(item) -> bool:
    try:
        return Path(str(item.path)).resolve().is_relative_to(HERE)
    except (OSError, ValueError):
        return False


def pytest_collection_modifyitems(config, items):
    path = chromium_path()
    missing = not (os.path.isfile(path) and os.access(path, os.X_OK))
    skip = pytest.mark.skip(reason=f"browser tier: no Chromium at {path} (set CHROMIUM_PATH)")
    for item in items:
        if _in_this_folder(item):
            item.add_marker(pytest.mark.browser)
            if missing:
                item.add_marker(skip)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    # Keep each phase's report on the item so that `page` can screenshot failures.
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


# ---------------------------------------------------------------------------------------------
# Live server


class LiveServer:
    def __init__(self, app):
        self.app = app
        self.server = make_server("127.0.0.1", 0, app, threaded=True)
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name="live-server", daemon=True
        )

    def start(self) -> LiveServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)

    def __call__(self, path: str = "/") -> str:
        return self.url + path


@pytest.fixture
def live_server(app):
    """The base URL of the `app` fixture's app, served by werkzeug in a daemon thread.

    Yields a LiveServer: str-like via `.url`, and `live_server("/auth/login")` builds URLs.
    """
    server = LiveServer(app).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def commit(app):
    """Commit the test's data so that the server thread (its own connection) sees it."""

    return jobs.commit


# ---------------------------------------------------------------------------------------------
# Browser


@pytest.fixture(scope="session")
def browser():
    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class PageProblems:
    """Console errors, uncaught page errors and CSP violations seen during a test."""

    # Chromium logs the main document's status when it is >= 400; forms answer 422 on purpose
    # when the input needs correcting, so that entry is not a problem by itself.
    EXPECTED = re.compile(r"^Failed to load resource: the server responded with a status of 422\b")

    def __init__(self):
        self.console: list[str] = []
        self.page_errors: list[str] = []
        self.csp: list[str] = []

    def on_console(self, msg) -> None:
        if msg.type == "error" and not self.EXPECTED.match(msg.text):
            loc = msg.location or {}
            self.console.append(f"{msg.text} ({loc.get('url', '')}:{loc.get('lineNumber', '')})")
        elif "Content Security Policy" in msg.text:
            self.csp.append(msg.text)

    def all(self) -> list[str]:
        return (
            [f"console: {m}" for m in self.console]
            + [f"pageerror: {m}" for m in self.page_errors]
            + [f"csp: {m}" for m in self.csp]
        )


@pytest.fixture
def page_problems():
    return PageProblems()


def _phone_page(browser, page_problems):
    """A page in a new phone-sized context: 10 s default timeout, console errors, page errors and
    CSP violations collected in `page_problems`."""
    context = browser.new_context(**PHONE)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)
    context.expose_function("__reportCsp", lambda text: page_problems.csp.append(text))
    context.add_init_script(_CSP_LISTENER)
    pg = context.new_page()
    pg.on("console", page_problems.on_console)
    pg.on("pageerror", lambda exc: page_problems.page_errors.append(str(exc)))
    return pg


def _close(request, pages, suffix: str = "") -> None:
    """Close the pages' contexts; on a failing test screenshot each first (test-artifacts/<test>
    <suffix><n>.png; a screenshot must never hide the real failure)."""
    rep = getattr(request.node, "rep_call", None)
    for n, pg in enumerate(pages, 1):
        if rep is not None and rep.failed:
            try:
                ARTIFACTS.mkdir(exist_ok=True)
                name = re.sub(r"[^\w.-]+", "_", request.node.nodeid.split("::", 1)[-1])
                number = f"{suffix}{n}" if suffix else ""
                pg.screenshot(path=str(ARTIFACTS / f"{name}{number}.png"), full_page=True, timeout=3000)
            except Exception:  # noqa: BLE001, S110 - a screenshot must never hide the real failure
                pass
        pg.context.close()


@pytest.fixture
def page(browser, request, page_problems):
    """A fresh phone-sized context (390×844, touch, vi-VN) per test; 10 s default timeout.

    On a failing test a full-page screenshot goes to test-artifacts/<test>.png. Console errors,
    page errors and CSP violations are collected in `page_problems` (see `assert_clean`).
    """
    pg = _phone_page(browser, page_problems)
    try:
        yield pg
    finally:
        _close(request, [pg])


@pytest.fixture
def assert_clean(page_problems):
    """Call at the end of a journey: no console errors, page errors or CSP violations."""

    def check():
        problems = page_problems.all()
        assert not problems, "browser reported problems:\n" + "\n".join(problems)

    return check


@pytest.fixture
def drain(app, run_jobs):
    """Run queued jobs: with Redis, a real RQ worker in an app context of its own (its session
    reset must not detach the test's objects); in-process mode already ran them at the commit."""

    def go():
        with app.app_context():
            run_jobs()
        db.session.expire_all()

    return go


@pytest.fixture
def extra_phone(browser, request, page_problems):
    """Yields `open_page()` → a page on another phone (a new phone-sized context), watched like `page`.
    Console errors, page errors and CSP violations land in the same `page_problems` as the
    `page` fixture's; on a failing test each page is screenshotted to
    test-artifacts/<test>-extra<n>.png. The contexts are closed afterwards."""
    pages = []

    def open_page():
        pages.append(_phone_page(browser, page_problems))
        return pages[-1]

    try:
        yield open_page
    finally:
        _close(request, pages, "-extra")
