"""Kill -9 of a real worker in the middle of a push send: the guarantee of app/notifications/
tasks.py for the push channel, with a real worker process, a real Redis and a real local push
service (HTTP) that holds one message on the wire while the worker's process group is killed.

Half of the kills happen after the push service took the message (it holds its reply), half
before (it holds the message and then drops it: the dead client never had it taken). Then:
- no push is lost: every device received its message, decrypted here with the device's keys;
- only the messages the push service had taken before a kill arrive twice, each time with the
  same `Topic` (so a real push service replaces the pending copy instead of showing it twice);
- the report counts exactly the messages in flight at the kills as possibly sent twice.

It runs in CI's PostgreSQL + Redis pass (REDIS_URL set).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa

from app import jobs
from app.auth.services import passwords
from app.extensions import db
from app.models import User, utcnow
from app.notifications import notify
from app.notifications.models import Delivery, NotificationSettings, PushSubscription
from app.notifications.push import generate_vapid_keys
from app.notifications.service import report_counts
from tests.factories import PASSWORD
from tests.processes import wait_until, worker, worker_env
from tests.push_service import Device

pytestmark = [pytest.mark.redis, pytest.mark.slow]

FAMILIES = 120
KILLS = 4
LEASE = 2


class HoldingPushService:
    """A push service that answers 201 and, when armed, holds the n-th message from now: mode
    `after` records it then holds the reply, `before` holds it and drops it unrecorded."""

    def __init__(self):
        self.received: list[tuple[str, str, bytes]] = []  # (device, Topic, body) taken
        self.plan: dict | None = None
        self.count = 0
        self.holding = threading.Event()
        self.release = threading.Event()
        self.held: list[tuple[str, str, str]] = []  # (mode, device, Topic)
        self.lock = threading.Lock()
        svc = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                device = self.path.rsplit("/", 1)[-1]
                topic = self.headers.get("Topic")
                with svc.lock:
                    svc.count += 1
                    plan = svc.plan
                    hold = plan is not None and svc.count >= plan["at"]
                    if hold:
                        svc.plan = None
                        svc.held.append((plan["mode"], device, topic))
                    if not hold or plan["mode"] == "after":
                        svc.received.append((device, topic, body))
                if hold:
                    svc.holding.set()
                    svc.release.wait(30)
                    svc.release.clear()
                    svc.holding.clear()
                    self.close_connection = True
                    return  # the client is dead: no reply
                self.send_response(201)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def arm(self, n: int, mode: str) -> None:
        with self.lock:
            self.plan = {"at": self.count + n, "mode": mode}

    def stop(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


def add_families(svc, n: int) -> dict[str, Device]:
    """n guardians using the app with one subscribed phone each, no email, no quiet hours."""

    digest = passwords().hash(PASSWORD)
    now = utcnow()
    ids = list(
        db.session.execute(
            sa.insert(User).returning(User.id, sort_by_parameter_order=True),
            [
                {
                    "role": "parent",
                    "phone": f"0986{i:06d}",
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
    devices = {}
    rows = []
    for uid in ids:
        d = devices[f"u{uid}"] = Device(svc, f"u{uid}")
        sub = d.subscription()
        rows.append(
            {
                "user_id": uid,
                "endpoint": sub["endpoint"],
                "p256dh": sub["keys"]["p256dh"],
                "auth": sub["keys"]["auth"],
                "created_at": now,
            }
        )
    db.session.execute(sa.insert(PushSubscription), rows)
    return devices


def push_statuses(nid: int) -> Counter:
    db.session.rollback()
    return Counter(
        db.session.scalars(
            sa.select(Delivery.status).where(Delivery.notification_id == nid, Delivery.channel == "push")
        )
    )


def test_kills_in_a_push_send_lose_nothing_and_repeat_only_the_message_in_flight_with_its_topic(
    app, ci_redis_url, database_url, tmp_path, world
):
    svc = HoldingPushService()
    private, _public = generate_vapid_keys()
    app.config.update(
        REDIS_URL=ci_redis_url, NOTIFY_CLOCK=None, NOTIFY_CHUNK_SIZE=20, VAPID_PRIVATE_KEY=private
    )
    app.extensions.pop("redis", None)
    env = worker_env(
        database_url,
        ci_redis_url,
        "smtp://127.0.0.1:9",
        tmp_path,
        NOTIFY_LEASE_SECONDS=LEASE,
        JOB_LEASE_SECONDS=LEASE,
        JOB_RELAY_INTERVAL=0.5,
        JOB_HANDOVER_GRACE_SECONDS=2,
        VAPID_PRIVATE_KEY=private,
        PUSH_TIMEOUT=60,
    )
    w = worker(env, app.config["JOB_QUEUE"], tmp_path / "worker.log")
    try:
        devices = add_families(svc, FAMILIES)
        jobs.commit()
        n = notify(
            "announcement",
            [int(name[1:]) for name in devices],
            {"title": "Họp phụ huynh toàn trường", "body": "Thứ Bảy 8:00."},
            school_id=world["schools"][0].id,
        )
        nid, topic = n.id, f"n{n.id}"
        jobs.commit()

        svc.arm(7, "after")
        w.start()
        in_flight = []
        for k in range(KILLS):
            wait_until(
                lambda: svc.holding.is_set() or not w.alive(),
                60,
                lambda k=k: f"kill {k + 1}: nothing held\n{w.log_tail(1500)}",
            )
            assert w.alive(), w.log_tail()
            w.kill_group()
            db.session.rollback()
            marked = db.session.execute(
                sa.select(Delivery.id, Delivery.status).where(
                    Delivery.notification_id == nid, Delivery.attempt_at.is_not(None)
                )
            ).all()
            assert len(marked) == 1 and marked[0].status == "sending", marked  # one message in flight
            in_flight.append(marked[0].id)
            svc.release.set()
            wait_until(lambda: not svc.holding.is_set(), 10, "the push service did not let go")
            if k + 1 < KILLS:
                svc.arm(9, "before" if k % 2 else "after")
            time.sleep(LEASE)
            w.start()

        wait_until(
            lambda: push_statuses(nid) == {"sent": FAMILIES},
            120,
            lambda: f"not everything was sent: {push_statuses(nid)}\n{w.log_tail()}",
            poll=0.2,
        )
        assert w.alive(), w.log_tail()

        by_device = Counter(device for device, _t, _b in svc.received)
        assert set(by_device) == set(devices)  # nothing lost
        assert {t for _d, t, _b in svc.received} == {topic}  # every copy, repeats too, with its Topic
        twice = {d for d, c in by_device.items() if c > 1}
        assert set(by_device.values()) <= {1, 2}
        assert twice == {device for mode, device, _t in svc.held if mode == "after"}
        assert len(svc.held) == KILLS
        for device, _t, body in svc.received:  # what each phone decrypts
            message = devices[device].decrypt(body)
            assert message["title"] == "Họp phụ huynh toàn trường" and message["tag"] == topic

        counts = report_counts(nid)
        assert counts["possibly_twice"] == KILLS
        assert counts["channels"]["push"]["sent"] == FAMILIES
        flagged = set(
            db.session.scalars(
                sa.select(Delivery.id).where(Delivery.notification_id == nid, Delivery.lost_attempts > 0)
            )
        )
        assert flagged == set(in_flight)
    finally:
        w.stop()
        svc.stop()
