"""The SMS the app sent, read where the SMS channel writes them without a gateway (the log), and
the registration journey with its code. With Redis configured, queued jobs are drained first.
Used inside the tests' app context."""

from __future__ import annotations

import logging
import re

from flask import current_app
from rq import Queue

from app import jobs
from app.workers import Worker
from tests.factories import PASSWORD


class _Sink(logging.Handler):
    def __init__(self):
        super().__init__(logging.INFO)
        self.sent: list[tuple[str, str]] = []

    def emit(self, record):
        m = re.match(r"sms \(SMS_GATEWAY_URL unset\) to=(\S+) ref=\S+: (.*)", record.getMessage(), re.S)
        if m:
            self.sent.append((m.group(1), m.group(2)))


SINK = _Sink()
# Codes are logged by app.auth.verification, other SMS by the SMS channel: both below "app".
logging.getLogger("app").addHandler(SINK)
logging.getLogger("app.notifications.channels").setLevel(logging.INFO)


def _drain() -> None:
    app = current_app._get_current_object()
    conn = jobs.redis_connection()
    if conn is None:
        return

    with app.app_context():
        Worker([Queue(app.config["JOB_QUEUE"], connection=conn)], connection=conn).work(burst=True)


def texts_to(phone: str) -> list[str]:
    _drain()
    return [text for to, text in SINK.sent if to == phone]


def last_code(phone: str) -> str | None:
    texts = texts_to(phone)
    found = re.match(r"(\d{6}) ", texts[-1]) if texts else None
    return found.group(1) if found else None


def register(client, phone: str, name: str = "Trần Thị Mẹ", password: str = PASSWORD):
    """Fill in the registration form, then enter the code the SMS brought: logged in."""
    resp = client.post_form(
        "/auth/register", {"full_name": name, "phone": phone, "password": password, "confirm": password}
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/verify", resp.status_code
    code = last_code(phone)
    assert code, texts_to(phone)
    resp = client.post_form("/auth/verify", {"code": code})
    assert resp.status_code == 302, resp.get_data(as_text=True)[-800:]
    return resp
