"""Web Push as a channel: subscriptions, the encrypted message a real local push service receives
(decrypted here with the device's keys), Topic/TTL/VAPID headers, 404/410 removing subscriptions,
retries, quiet hours and digests, free-first routing and the SMS that push saved; the installable
app's manifest, service worker and offline page."""

from __future__ import annotations

import base64
import json
import re

import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import utcnow
from app.notifications import notify
from app.notifications.models import Notification, PushSubscription
from app.notifications.push import generate_vapid_keys, public_key_of
from app.notifications.relay import relay
from app.notifications.service import report_counts, sms_saved_by_school
from tests.contactbook_factories import cb_world  # noqa: F401 - a fixture
from tests.factories import create_user
from tests.notification_helpers import Gateway, deliveries, hanoi
from tests.push_service import PushService

PUBLIC = "https://solienlac.example.vn"


@pytest.fixture
def peer(app, in_process):
    private, _public = generate_vapid_keys()
    app.config.update(VAPID_PRIVATE_KEY=private, VAPID_SUBJECT="mailto:hotro@example.vn", PUBLIC_URL=PUBLIC)
    svc = PushService()
    yield svc
    svc.stop()


def subscribed_parent(svc: PushService, *names: str, **kw):
    user = create_user("parent", **kw)
    devices = [svc.device(n) for n in names or (f"d{user.email or user.phone}",)]
    jobs.commit()
    for d in devices:
        sub = d.subscription()
        db.session.add(
            PushSubscription(
                user_id=user.id,
                endpoint=sub["endpoint"],
                p256dh=sub["keys"]["p256dh"],
                auth=sub["keys"]["auth"],
            )
        )
    jobs.commit()
    return user, devices


def subscriptions_of(user) -> list[str]:
    db.session.expire_all()
    return list(
        db.session.scalars(sa.select(PushSubscription.endpoint).where(PushSubscription.user_id == user.id))
    )


def _jwt_claims(authorization: str) -> tuple[dict, str]:
    scheme, _sp, rest = authorization.partition(" ")
    assert scheme == "vapid"
    parts = dict(p.strip().split("=", 1) for p in rest.split(","))
    payload = parts["t"].split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))), parts["k"]


def test_vapid_keys_command_prints_a_usable_pair(app, runner):
    result = runner.invoke(args=["notifications", "vapid-keys"])
    assert result.exit_code == 0, result.output
    private = result.output.splitlines()[0].removeprefix("VAPID_PRIVATE_KEY=")
    public = result.output.split("public key")[1].split(":", 1)[1].strip()
    assert public_key_of(private) == public
    assert len(base64.urlsafe_b64decode(public + "=")) == 65


def test_the_local_push_service_gets_an_encrypted_message_naming_the_child(app, peer, world, make_client):
    parent, (phone,) = subscribed_parent(peer, "phone", email="me@example.vn")
    url = f"{PUBLIC}/contactbook/children/7"
    n = notify(
        "contact_book",
        [parent.id],
        {
            "title": "Điểm kiểm tra Toán: 9",
            "child_name": "Nguyễn Minh An",
            "url": url,
            "body": "Cô Lan nhận xét.",
        },
    )
    jobs.commit()

    (req,) = peer.to(phone)
    assert req["headers"]["Content-Encoding"] == "aes128gcm"
    assert b"Nguy" not in req["body"]  # encrypted on the wire
    message = phone.decrypt(req["body"])
    assert "Nguyễn Minh An" in message["title"] and "Điểm kiểm tra Toán: 9" in message["title"]
    assert message["body"] == "Cô Lan nhận xét."
    assert message["url"] == url  # opens the child's page, under PUBLIC_URL
    assert req["headers"]["Topic"] == f"n{n.id}" == message["tag"]
    assert int(req["headers"]["TTL"]) > 0
    assert req["headers"]["Urgency"] == "normal"
    claims, key = _jwt_claims(req["headers"]["Authorization"])
    assert claims["aud"] == peer.origin and claims["sub"] == "mailto:hotro@example.vn"
    assert key == public_key_of(app.config["VAPID_PRIVATE_KEY"])

    (d,) = deliveries(n.id, "push")
    assert d.status == "sent" and d.attempts == 1
    assert report_counts(n.id)["channels"]["push"]["sent"] == 1  # counted in the delivery report
    staff = create_user("school_staff", school=world["schools"][0])
    n.sender_id = staff.id
    jobs.commit()
    c = make_client()
    c.login_as(staff)
    assert "Thông báo đẩy trên thiết bị" in c.get(f"/notifications/sent/{n.id}").get_data(as_text=True)
    db.session.expire_all()
    assert db.session.scalar(sa.select(PushSubscription.last_success_at)) is not None


def test_404_and_410_remove_the_subscription_other_devices_still_get_it(app, peer):
    peer.script.update({"old": [410], "gone": [404]})
    parent, (old, gone, phone) = subscribed_parent(peer, "old", "gone", "phone")
    n = notify("announcement", [parent.id], {"title": "Họp phụ huynh"})
    jobs.commit()
    assert len(peer.to(phone)) == 1 and len(peer.to(old)) == 1 and len(peer.to(gone)) == 1
    assert subscriptions_of(parent) == [phone.endpoint]
    assert deliveries(n.id, "push")[0].status == "sent"

    peer.script["phone"] = [410]
    n2 = notify("announcement", [parent.id], {"title": "Họp phụ huynh lần 2"})
    jobs.commit()
    assert subscriptions_of(parent) == []
    (d,) = deliveries(n2.id, "push")
    assert d.status == "failed" and "410" in d.last_error


def test_a_push_service_error_is_retried_with_the_same_topic(app, peer):
    clock = in_process_clock(app)
    peer.script["phone"] = [503, 201]
    parent, (phone,) = subscribed_parent(peer, "phone")
    n = notify("announcement", [parent.id], {"title": "Lịch thi"})
    jobs.commit()
    (d,) = deliveries(n.id, "push")
    assert d.status == "queued" and "503" in d.last_error
    clock.now = d.not_before

    relay()
    jobs.commit()
    (d,) = deliveries(n.id, "push")
    assert d.status == "sent"
    assert [r["headers"]["Topic"] for r in peer.to(phone)] == [f"n{n.id}", f"n{n.id}"]


def in_process_clock(app):
    return app.config["NOTIFY_CLOCK"]


def test_quiet_hours_hold_push_urgent_goes_at_once_and_still_by_sms(app, peer):
    clock = in_process_clock(app)
    clock.now = hanoi(22)
    gw = Gateway()
    try:
        app.config["SMS_GATEWAY_URL"] = gw.url
        parent, (phone,) = subscribed_parent(peer, "phone", phone="0912000009")
        n = notify("announcement", [parent.id], {"title": "Họp phụ huynh"})
        jobs.commit()
        assert peer.to(phone) == []
        (d,) = deliveries(n.id, "push")
        assert d.status == "queued" and d.not_before == hanoi(6, 30, day=11)

        urgent = notify("emergency", [parent.id], {"title": "Trường nghỉ học do bão"})
        jobs.commit()
        (req,) = peer.to(phone)
        assert req["headers"]["Urgency"] == "high"
        assert phone.decrypt(req["body"])["urgent"] is True
        # A push service accepting a message is no proof the phone showed it: urgent SMS still go.
        assert [r["to"] for r in gw.requests] == ["0912000009"]
        assert {d.channel for d in deliveries(urgent.id)} == {"push", "in_app", "sms"}
    finally:
        gw.stop()


def test_free_first_push_spares_the_sms_fallback_and_the_count_shows_it(app, peer, world, make_client):
    gw = Gateway()
    try:
        app.config["SMS_GATEWAY_URL"] = gw.url
        school = world["schools"][0]
        # Phone-only guardians who never opened the site: SMS was their only channel.
        with_push, (phone,) = subscribed_parent(peer, "phone", phone="0912000011")
        without = create_user("parent", phone="0912000012")
        jobs.commit()
        n = notify(
            "announcement", [with_push.id, without.id], {"title": "Họp phụ huynh"}, school_id=school.id
        )
        jobs.commit()
        assert [r["to"] for r in gw.requests] == ["0912000012"]
        assert len(peer.to(phone)) == 1
        db.session.expire_all()
        assert db.session.get(Notification, n.id).sms_saved == 1

        assert sms_saved_by_school() == [(school.id, school.name, 1)]
        admin = create_user("city_admin")
        jobs.commit()
        c = make_client()
        c.login_as(admin)
        page = c.get("/notifications/admin/failures").get_data(as_text=True)
        assert "SMS tiết kiệm nhờ thông báo đẩy" in page
        row = re.search(rf"<tr><td>{re.escape(school.name)}</td><td>(\d+)</td><td>(\d+)</td></tr>", page)
        assert row and row.groups() == ("1", "1")  # one SMS sent, one saved by push
    finally:
        gw.stop()


def test_push_can_be_switched_off_per_kind_and_digests_bundle_push(app, peer, make_client):
    parent, (phone,) = subscribed_parent(peer, "phone", email="digest@example.vn")
    parent.last_login_at = utcnow()
    jobs.commit()
    c = make_client()
    c.login_as(parent)
    resp = c.get("/notifications/preferences")
    page = resp.get_data(as_text=True)
    assert 'name="push_announcement"' in page and "data-push" in page
    resp = c.post_form(
        "/notifications/preferences",
        {
            "quiet_enabled": "y",
            "quiet_start": "21:00",
            "quiet_end": "06:30",
            "digest_at": "18:00",
            "push_announcement": "1",
            "digest_announcement": "1",
        },
    )
    assert resp.status_code == 302
    n1 = notify("announcement", [parent.id], {"title": "Thông báo một"})
    n2 = notify("announcement", [parent.id], {"title": "Thông báo hai"})
    other = notify("contact_book", [parent.id], {"title": "Điểm", "child_name": "An"})
    jobs.commit()
    assert deliveries(other.id, "push") == []  # push_contact_book left unticked
    assert {d.digest for n in (n1, n2) for d in deliveries(n.id, "push")} == {True}
    assert peer.to(phone) == []

    clock = in_process_clock(app)
    clock.now = hanoi(18, 1)

    relay()
    jobs.commit()
    (req,) = peer.to(phone)
    message = phone.decrypt(req["body"])
    assert (
        "2" in message["title"] and "Thông báo một" in message["body"] and "Thông báo hai" in message["body"]
    )
    assert message["url"] == f"{PUBLIC}/notifications/"


def test_subscribe_and_unsubscribe_endpoints(app, peer, make_client):
    parent = create_user("parent", email="sub@example.vn")
    jobs.commit()
    c = make_client()
    c.login_as(parent)
    device = peer.device("mine")
    token = c.csrf("/notifications/preferences")
    url = "/notifications/push/subscribe"

    assert c.post(url, json=device.subscription()).status_code == 400  # no CSRF token
    bad = c.post(url, json={"endpoint": "ftp://x", "keys": {}}, headers={"X-CSRFToken": token})
    assert bad.status_code == 400 and "thử lại" in bad.get_json()["error"]
    ok = c.post(url, json=device.subscription(), headers={"X-CSRFToken": token})
    assert ok.status_code == 201 and ok.get_json()["devices"] == 1
    again = c.post(url, json=device.subscription(), headers={"X-CSRFToken": token})
    assert again.get_json()["devices"] == 1  # the endpoint is unique: same device, same row
    assert subscriptions_of(parent) == [device.endpoint]

    # Another account on the same browser takes the device over.
    other = create_user("parent", email="other@example.vn")
    jobs.commit()
    c2 = make_client()
    c2.login_as(other)
    t2 = c2.csrf("/notifications/preferences")
    c2.post(url, json=device.subscription(), headers={"X-CSRFToken": t2})
    assert subscriptions_of(parent) == [] and subscriptions_of(other) == [device.endpoint]

    # Unsubscribing someone else's endpoint removes nothing.
    gone = c.post(
        "/notifications/push/unsubscribe", json={"endpoint": device.endpoint}, headers={"X-CSRFToken": token}
    )
    assert gone.get_json()["removed"] is False
    gone = c2.post(
        "/notifications/push/unsubscribe", json={"endpoint": device.endpoint}, headers={"X-CSRFToken": t2}
    )
    assert gone.get_json()["removed"] is True and subscriptions_of(other) == []

    app.config["VAPID_PRIVATE_KEY"] = None
    off = c.post(url, json=device.subscription(), headers={"X-CSRFToken": token})
    assert off.status_code == 404
    assert "data-push" not in c.get("/notifications/preferences").get_data(as_text=True)


def test_manifest_service_worker_and_offline_page(app, client):
    m = client.get("/manifest.webmanifest")
    assert m.status_code == 200 and m.mimetype == "application/manifest+json"
    body = m.get_json(force=True)
    assert body["lang"] == "vi" and body["name"] == "Tuyển sinh & Sổ liên lạc" and body["scope"] == "/"
    for icon in body["icons"]:
        assert client.get(icon["src"]).status_code == 200
    sw = client.get("/sw.js")
    assert sw.status_code == 200 and sw.mimetype == "text/javascript"
    assert sw.headers["Service-Worker-Allowed"] == "/"
    assert "no-cache" in sw.headers["Cache-Control"]
    offline = client.get("/offline")
    assert offline.status_code == 200 and "ngoại tuyến" in offline.get_data(as_text=True).lower()
    home = client.get("/").get_data(as_text=True)
    assert 'rel="manifest"' in home and "js/pwa.js" in home and "<script>" not in home


def test_only_the_child_pages_are_marked_for_offline_copies_and_logout_clears_the_cache(
    app,
    client,
    world,
    cb_world,  # noqa: F811 - the fixture imported above
):
    pupil = cb_world["child"]
    client.login_as(world["users"]["parent"])
    page = client.get(f"/contactbook/children/{pupil.id}")
    assert page.status_code == 200 and page.headers["X-Offline-Copy"] == "1"
    assert "%7Btime%7D" in page.headers["X-Offline-Note"]
    assert "X-Offline-Copy" not in client.get("/notifications/preferences").headers
    resp = client.post_form("/auth/logout", token_from="/home")
    assert resp.headers["Clear-Site-Data"] == '"cache"'
