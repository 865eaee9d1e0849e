"""The notification tests' servers and helpers: a real local SMTP server (`Sink`) and HTTP SMS
gateway (`Gateway`), a frozen clock, guardians, and the `sink` and `in_process` fixtures (a pytest
plugin of tests/conftest.py, so that every test module has them without importing test modules
from each other)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections import Counter
from datetime import datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import utcnow
from app.notifications.models import Delivery, Notification
from tests.factories import create_user


class Sink:
    """A real SMTP server that records each accepted message (with its Message-ID).

    `delay`: seconds to hold each message before accepting it (a slow server). A client that
    disconnects while its message is held never gets a 250, and the message is not accepted.
    `hold_nth`, `hold_seconds`: hold only the n-th message received (1-based) that long — a
    message surely on the wire when a test kills the client.
    `replies`: address → list of RCPT replies to give in turn (the last one repeats), e.g.
    {"a@x": ["450 4.2.0 try later", "250 OK"]}.
    """

    def __init__(
        self,
        delay: float = 0.0,
        replies: dict | None = None,
        hold_nth: int | None = None,
        hold_seconds: float = 0.0,
    ):
        from aiosmtpd.controller import Controller  # lazy: 55 ms, this plugin loads with every run

        self.delay = delay
        self.hold_nth, self.hold_seconds = hold_nth, hold_seconds
        self.replies = {k: list(v) for k, v in (replies or {}).items()}
        self.messages: list = []
        self.received = 0  # DATA commands seen, accepted or not
        self.holding = 0
        sink = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                script = sink.replies.get(address)
                reply = (script.pop(0) if len(script) > 1 else script[0]) if script else "250 OK"
                if reply.startswith("250"):
                    envelope.rcpt_tos.append(address)
                return reply

            async def handle_DATA(self, server, session, envelope):
                sink.received += 1
                delay = sink.hold_seconds if sink.received == sink.hold_nth else sink.delay
                if delay:
                    sink.holding += 1
                    try:
                        await asyncio.sleep(delay)  # cancelled if the client disconnects
                    finally:
                        sink.holding -= 1
                sink.messages.append(message_from_bytes(envelope.content, policy=policy.default))
                return "250 OK"

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    def stop(self):
        self.controller.stop()

    def by_message_id(self) -> Counter:
        return Counter(m["Message-ID"] for m in self.messages)

    def to(self) -> list[str]:
        return sorted(m["To"] for m in self.messages)


class Gateway:
    """A local HTTP SMS gateway: records requests; `script` phone → list of statuses in turn."""

    def __init__(self, script: dict | None = None):
        self.script = {k: list(v) for k, v in (script or {}).items()}
        self.requests: list[dict] = []
        gw = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                body["idempotency_key"] = self.headers.get("Idempotency-Key")
                gw.requests.append(body)
                seq = gw.script.get(body["to"])
                status = (seq.pop(0) if len(seq) > 1 else seq[0]) if seq else 200
                payload = json.dumps({"status": "queued" if status < 300 else "error"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/sms"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def sink():
    s = Sink()
    yield s
    s.stop()


class Clock:
    def __init__(self, now: datetime):
        self.now = now

    def __call__(self):
        return self.now


def hanoi(h, m=0, day=10):
    return datetime(2026, 12, day, h, m) - timedelta(hours=7)


@pytest.fixture
def in_process(app, sink):
    """In-process jobs (no Redis), mail to the sink, clock frozen at 10:00 in Hanoi."""
    clock = Clock(hanoi(10))
    app.config.update(REDIS_URL=None, MAIL_URL=sink.url, NOTIFY_CLOCK=clock)
    app.extensions.pop("redis", None)
    return clock


def parents(n: int, *, prefix="ph", logged_in=True, **kw):
    out = []
    for i in range(n):
        u = create_user("parent", email=f"{prefix}{i}@example.vn", **kw)
        if logged_in:
            u.last_login_at = utcnow()
        out.append(u)
    return out


def choose_evening_digest(client) -> None:
    """The signed-in guardian keeps quiet hours 21:00-06:30 and gets announcements by email in a
    daily digest at 18:00."""
    resp = client.post_form(
        "/notifications/preferences",
        {
            "quiet_enabled": "y",
            "quiet_start": "21:00",
            "quiet_end": "06:30",
            "digest_at": "18:00",
            "email_announcement": "1",
            "digest_announcement": "1",
        },
    )
    assert resp.status_code == 302


def deliveries(notification_id: int, channel: str | None = None) -> list[Delivery]:
    db.session.expire_all()
    q = sa.select(Delivery).where(Delivery.notification_id == notification_id).order_by(Delivery.id)
    if channel:
        q = q.where(Delivery.channel == channel)
    return list(db.session.scalars(q))


def notification_foreign_ids(world) -> dict[str, int]:
    """For test_route_access.foreign_ids(): a school-B notification sent by school-B staff and
    the in-app copy of a school-B teacher — outside the scope of the users under test."""
    n = Notification(
        kind="test",
        sender_id=world["foreign"]["school_staff"].id,
        school_id=world["schools"][1].id,
        context={"title": "B"},
        recipient_count=1,
    )
    db.session.add(n)
    db.session.flush()
    d = Delivery(
        notification_id=n.id,
        recipient_id=world["foreign"]["teacher"].id,
        channel="in_app",
        status="sent",
        sent_at=utcnow(),
    )
    db.session.add(d)
    db.session.flush()
    return {"notification_id": n.id, "delivery_id": d.id}
