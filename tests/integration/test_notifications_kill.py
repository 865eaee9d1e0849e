"""Ten kill -9 of a real worker in the middle of one 600-family send: the guarantee of
app/notifications/tasks.py, proved with real processes and real servers.

A real `flask --app app worker` subprocess (its own process group) sends an announcement to 600
families through a real local SMTP server (aiosmtpd) on a real Redis. Ten times, in the middle of
the send, the server holds the message on the wire and the worker's whole process group is killed
with SIGKILL; then the worker is started again. Half of the time the server has already taken the
message when the worker dies (it replies only later), half of the time not yet. Then:

- no email is lost: each of the 600 families gets its email;
- at most the one in-flight message per kill reaches the server twice, always with the same
  Message-ID — here exactly the five taken before the kill;
- the sender's report counts as possibly sent twice exactly the ten messages in flight at a
  kill, and says that sending was interrupted and resumed;
- after each restart the stalled part goes out well within a minute (leases of 2 s here; the
  production figures, 30 s leases and a 10 s relay interval, give at most about 40 s);
- in-app copies: exactly one per family.

It runs in CI's PostgreSQL + Redis pass (REDIS_URL set); it takes about a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from app import jobs
from app.auth.services import passwords
from app.extensions import db
from app.models import User, utcnow
from app.notifications import notify
from app.notifications.channels import message_id
from app.notifications.models import Delivery, NotificationSettings
from app.notifications.service import report_counts
from app.outbox import OutboxJob
from tests.factories import PASSWORD
from tests.processes import free_port, wait_until, worker, worker_env

pytestmark = [pytest.mark.redis, pytest.mark.slow]

FAMILIES = 600
KILLS = 10
LEASE = 2  # seconds: NOTIFY_LEASE_SECONDS and JOB_LEASE_SECONDS of the worker under test


class HoldingSink:
    """A real SMTP server that records every message it accepts and, when armed, holds one:
    `arm(n, mode, after_seeing=mid)` holds the n-th message received once `mid` has been received
    (again), or from now. Modes: `before` — the server waits before taking the message (a client
    that dies meanwhile never had it taken), `after` — it takes it at once and waits before
    replying 250 (the client dies without knowing the server has it)."""

    def __init__(self):
        self.messages: list = []
        self.arrivals: dict[str, list[float]] = {}  # Message-ID → when each copy arrived
        self.received = 0  # DATA commands seen
        self.plan: dict | None = None
        self.holding = 0
        self.held: list[tuple[str, str]] = []  # (mode, Message-ID) of each held message
        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                msg = message_from_bytes(envelope.content, policy=policy.default)
                mid = msg["Message-ID"]
                sink.received += 1
                sink.arrivals.setdefault(mid, []).append(time.monotonic())
                plan = sink.plan
                if plan is not None and plan["at"] is None and mid == plan["after_seeing"]:
                    plan["at"] = sink.received + plan["n"]
                if plan is None or plan["at"] is None or sink.received < plan["at"]:
                    sink.messages.append(msg)
                    return "250 OK"
                sink.plan = None
                sink.held.append((plan["mode"], mid))
                if plan["mode"] == "after":
                    sink.messages.append(msg)
                sink.holding += 1
                try:
                    await asyncio.sleep(60)  # cancelled when the client's connection drops
                finally:
                    sink.holding -= 1
                if plan["mode"] == "before":
                    sink.messages.append(msg)
                return "250 OK"

        self.port = free_port()
        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port)
        self.controller.start()
        self.url = f"smtp://127.0.0.1:{self.port}"

    def arm(self, n: int, mode: str, after_seeing: str | None = None) -> None:
        at = None if after_seeing else self.received + n
        self.plan = {"n": n, "mode": mode, "after_seeing": after_seeing, "at": at}

    def arrived_since(self, mid: str, since: float) -> float | None:
        return next((t for t in self.arrivals.get(mid, []) if t > since), None)

    def stop(self):
        self.controller.stop()


def add_families(n: int) -> list[int]:
    """n guardians with an email address who use the app (in-app + email each), no quiet hours
    (the worker runs on the real clock), in two INSERTs."""

    digest = passwords().hash(PASSWORD)
    now = utcnow()
    ids = list(
        db.session.execute(
            sa.insert(User).returning(User.id, sort_by_parameter_order=True),
            [
                {
                    "role": "parent",
                    "phone": f"0987{i:06d}",
                    "email": f"giadinh{i}@example.vn",
                    "full_name": f"Phụ Huynh {i}",
                    "password_hash": digest,
                    "active": True,
                    "created_at": now,
                    "last_login_at": now,
                }
                for i in range(n)
            ],
        ).scalars()
    )
    db.session.execute(sa.insert(NotificationSettings), [{"user_id": i, "quiet_enabled": False} for i in ids])
    return ids


def state(nid: int) -> str:
    """What the database and the queue hold (for a failure message)."""

    db.session.rollback()
    rows = db.session.execute(
        sa.select(
            OutboxJob.id,
            OutboxJob.handovers,
            OutboxJob.attempts,
            OutboxJob.handed_at,
            OutboxJob.claimed_until,
            OutboxJob.not_before,
            OutboxJob.last_error,
        )
    ).all()
    statuses = Counter(
        db.session.execute(
            sa.select(Delivery.status, Delivery.enqueued_at.is_not(None)).where(
                Delivery.notification_id == nid, Delivery.channel == "email"
            )
        ).all()
    )
    return f"now {utcnow()}\noutbox {rows}\ndeliveries {statuses}\nqueue {jobs.queue().get_job_ids()}"


def email_statuses(nid: int) -> Counter:
    db.session.rollback()  # a fresh snapshot: the worker commits from another process
    return Counter(
        db.session.scalars(
            sa.select(Delivery.status).where(Delivery.notification_id == nid, Delivery.channel == "email")
        )
    )


def test_ten_kills_in_one_send_lose_nothing_and_double_at_most_the_message_in_flight(
    app, ci_redis_url, database_url, tmp_path, world, make_client
):
    sink = HoldingSink()
    app.config.update(REDIS_URL=ci_redis_url, MAIL_URL=sink.url, NOTIFY_CLOCK=None, NOTIFY_CHUNK_SIZE=20)
    app.extensions.pop("redis", None)
    env = worker_env(
        database_url,
        ci_redis_url,
        sink.url,
        tmp_path,
        NOTIFY_LEASE_SECONDS=LEASE,
        JOB_LEASE_SECONDS=LEASE,
        JOB_RELAY_INTERVAL=0.5,
        JOB_HANDOVER_GRACE_SECONDS=2,
    )
    w = worker(env, app.config["JOB_QUEUE"], tmp_path / "worker.log")
    staff = world["users"]["school_staff"]
    try:
        families = add_families(FAMILIES)
        jobs.commit()
        n = notify(
            "announcement",
            families,
            {"title": "Họp phụ huynh toàn trường", "body": "Thứ Bảy 8:00."},
            sender_id=staff.id,
            school_id=world["schools"][0].id,
        )
        nid = n.id
        jobs.commit()
        assert jobs.queue().count == 30  # 600 emails in chunks of 20, handed over after the commit

        started = time.monotonic()
        step = 10  # messages between a restart's first resent message and the next kill
        sink.arm(step, "after")
        w.start()
        in_flight: list[int] = []  # the delivery being sent at each kill
        resumed_after: list[float] = []
        for k in range(KILLS):
            # The server holds a message, a little into the send (again): kill the worker then.
            wait_until(
                lambda: sink.holding or not w.alive(),
                60,
                lambda k=k: f"kill {k + 1}: nothing on the wire\n{state(nid)}\n{w.log_tail(1500)}",
            )
            assert w.alive(), w.log_tail()
            w.kill_group()
            wait_until(lambda: not sink.holding, 15, "the server did not notice the dead client")
            db.session.rollback()
            marked = db.session.execute(
                sa.select(Delivery.id, Delivery.status).where(
                    Delivery.notification_id == nid, Delivery.attempt_at.is_not(None)
                )
            ).all()
            assert len(marked) == 1 and marked[0].status == "sending", marked  # one message in flight
            in_flight.append(marked[0].id)
            mid = message_id(f"n{nid}", f"d{marked[0].id}")
            if k + 1 < KILLS:  # the next kill: `step` messages after this one went out again
                sink.arm(step, "after" if k % 2 else "before", after_seeing=mid)
            # A supervisor restarts it a moment later (by then the dead worker's claims lapsed).
            time.sleep(LEASE)
            restarted = time.monotonic()
            w.start()
            # The stalled part resumes: the interrupted message goes out again.
            resent = wait_until(
                lambda mid=mid, t=restarted: sink.arrived_since(mid, t),
                60,
                lambda k=k: (
                    f"kill {k + 1}: the stalled part did not resume within a minute\n{state(nid)}\n"
                    + w.log_tail(1500)
                ),
            )
            resumed_after.append(resent - restarted)

        wait_until(
            lambda: email_statuses(nid) == {"sent": FAMILIES},
            120,
            lambda: f"not everything was sent: {email_statuses(nid)}\n{w.log_tail()}",
            poll=0.2,
        )
        elapsed = time.monotonic() - started
        assert w.alive(), w.log_tail()

        # Nothing lost: every family's email reached the server.
        by_id = Counter(m["Message-ID"] for m in sink.messages)
        assert len(by_id) == FAMILIES
        assert {m["To"] for m in sink.messages} == {f"giadinh{i}@example.vn" for i in range(FAMILIES)}
        # At most the message in flight at each kill twice, with the same Message-ID: exactly those
        # the server had taken before the worker died.
        twice = {mid for mid, c in by_id.items() if c > 1}
        assert set(by_id.values()) <= {1, 2}
        assert len(twice) <= KILLS
        assert twice == {mid for mode, mid in sink.held if mode == "after"}
        assert len(sink.held) == KILLS
        # The report counts exactly the ten messages in flight as possibly sent twice.
        db.session.rollback()
        counts = report_counts(nid)
        assert counts["possibly_twice"] == KILLS
        assert counts["interrupted"] >= KILLS
        flagged = set(
            db.session.scalars(
                sa.select(Delivery.id).where(Delivery.notification_id == nid, Delivery.lost_attempts > 0)
            )
        )
        assert flagged == set(in_flight)
        assert {message_id(f"n{nid}", f"d{d}") for d in in_flight} == {mid for _, mid in sink.held}
        # In-app: exactly one per family.
        in_app = Counter(
            db.session.scalars(
                sa.select(Delivery.status).where(
                    Delivery.notification_id == nid, Delivery.channel == "in_app"
                )
            )
        )
        assert in_app == {"sent": FAMILIES}
        assert max(resumed_after) < 60, resumed_after

        # The sender's report says so.
        c = make_client()
        c.login_as(staff)
        c.post_form("/lang", {"lang": "en"}, token_from="/home")
        page = c.get(f"/notifications/sent/{nid}").get_data(as_text=True)
        assert "Sending was interrupted (a sending process stopped) and resumed" in page
        assert f"Possibly sent twice: {KILLS} " in page
        print(
            f"\n{KILLS} kills, {FAMILIES} families: done in {elapsed:.1f} s; resumed after "
            + ", ".join(f"{s:.1f}" for s in resumed_after)
            + f" s; {len(twice)} reached the server twice; {counts['interrupted']} taken over"
        )
    finally:
        w.stop()
        sink.stop()
