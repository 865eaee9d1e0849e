"""Web Push (RFC 8030 delivery, RFC 8291 encryption, RFC 8292 VAPID) as a notification channel.

Configuration: VAPID_PRIVATE_KEY (the application server's P-256 key, raw and base64url, as
`flask --app app notifications vapid-keys` prints it) and VAPID_SUBJECT (a mailto: or https:
contact for the push services). Without a key, subscribing is refused and the channel writes to
the log (like the other channels without their URL).

One push delivery is one message to every device the guardian subscribed: the message is
encrypted per device (pywebpush) and POSTed to the device's push service with
- `Topic: n<notification id>`: a repeat of the same notification (after a killed worker) replaces
  the copy still pending at the push service instead of showing twice;
- `TTL` (one day; an unreachable phone gets it when it comes back) and `Urgency`.
A 404 or 410 from the push service means the subscription is gone: its row is deleted. The
delivery succeeds when at least one device's push service accepted the message.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from urllib.parse import urlsplit
from urllib.request import getproxies, proxy_bypass

import sqlalchemy as sa
import urllib3
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from flask import current_app
from flask_babel import force_locale
from py_vapid import Vapid02
from pywebpush import WebPusher

from ..extensions import db
from ..links import public_url_for
from . import render, rules, service
from .channels import SendError
from .models import Notification, PushSubscription
from .settings import clock

log = logging.getLogger(__name__)
PS = PushSubscription.__table__
TTL_SECONDS = 24 * 3600
BODY_MAX = 600  # a push message carries at most ~4 KB; the full text is in the inbox


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def generate_vapid_keys() -> tuple[str, str]:
    """(private, public), both base64url: the raw 32-byte private value and the uncompressed point
    that browsers take as `applicationServerKey`."""
    key = ec.generate_private_key(ec.SECP256R1())
    private = key.private_numbers().private_value.to_bytes(32, "big")
    return b64url(private), public_key_of(b64url(private))


def public_key_of(private: str) -> str:
    value = int.from_bytes(b64url_decode(private), "big")
    key = ec.derive_private_key(value, ec.SECP256R1())
    point = key.public_key().public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
    )
    return b64url(point)


def public_key() -> str | None:
    """The VAPID public key the browser subscribes with; None when push is not configured."""
    private = current_app.config.get("VAPID_PRIVATE_KEY")
    return public_key_of(private) if private else None


def subscribe(user_id: int, data, user_agent: str | None) -> PushSubscription | None:
    """Store the browser's PushSubscription JSON for this user (in the request's transaction).
    The endpoint is unique: the same device subscribing again (or after another user on the same
    browser) replaces the row. None when the JSON is not a valid subscription."""
    sub = _parse(data)
    if sub is None:
        return None
    row = db.session.scalar(sa.select(PushSubscription).where(PushSubscription.endpoint == sub["endpoint"]))
    if row is None:
        row = PushSubscription(endpoint=sub["endpoint"])
        db.session.add(row)
    row.user_id, row.p256dh, row.auth = user_id, sub["p256dh"], sub["auth"]
    row.user_agent = (user_agent or "")[:200] or None
    db.session.flush()
    return row


def unsubscribe(user_id: int, endpoint) -> bool:
    if not isinstance(endpoint, str):
        return False
    result = db.session.execute(
        sa.delete(PushSubscription).where(
            PushSubscription.user_id == user_id, PushSubscription.endpoint == endpoint
        )
    )
    return bool(result.rowcount)


def device_count(user_id: int) -> int:
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(PushSubscription).where(PushSubscription.user_id == user_id)
    )


def _parse(data) -> dict | None:
    if not isinstance(data, dict):
        return None
    endpoint, keys = data.get("endpoint"), data.get("keys")
    if not isinstance(endpoint, str) or not isinstance(keys, dict) or len(endpoint) > 1000:
        return None
    parts = urlsplit(endpoint)
    local = parts.hostname in ("127.0.0.1", "localhost")
    if parts.scheme != "https" and not (
        parts.scheme == "http" and local and current_app.config.get("TESTING")
    ):
        return None
    p256dh, auth = keys.get("p256dh"), keys.get("auth")
    try:
        ok = len(b64url_decode(p256dh)) == 65 and len(b64url_decode(auth)) == 16
    except (TypeError, ValueError):
        return None
    return {"endpoint": endpoint, "p256dh": p256dh, "auth": auth} if ok else None


def subscriptions_by_user(user_ids) -> dict[int, list[tuple[int, str, str, str]]]:
    """{user id: [(subscription id, endpoint, p256dh, auth)]} for one chunk (one query)."""
    out: dict[int, list] = {}
    ids = sorted(set(user_ids))
    if not ids:
        return out
    q = sa.select(PS.c.user_id, PS.c.id, PS.c.endpoint, PS.c.p256dh, PS.c.auth).where(PS.c.user_id.in_(ids))
    for uid, *sub in db.session.execute(q.order_by(PS.c.id)):
        out.setdefault(uid, []).append(tuple(sub))
    return out


def topic(n: Notification) -> str:
    """RFC 8030 Topic: at most 32 URL-safe base64 characters, one per notification."""
    return f"n{n.id}"


def payload(n: Notification, locale: str | None) -> bytes:
    """What the service worker shows: the title naming the child, a short body, the page to open."""
    with force_locale(render._locale(locale)):
        title = render.subject_for(n)
    link = service.safe_link(n.context.get("url"), current_app.config.get("PUBLIC_URL"))
    body = " ".join(str(n.context.get("body") or "").split())
    if len(body) > BODY_MAX:
        body = body[: BODY_MAX - 1].rstrip() + "…"
    return json.dumps(
        {
            "title": title,
            "body": body,
            "url": link or public_url_for("notifications.inbox"),
            "tag": topic(n),
            "urgent": bool(n.urgent),
        },
        ensure_ascii=False,
    ).encode()


def digest_payload(notes: list[Notification], locale: str | None) -> bytes:
    """One daily-summary push for several notifications: how many, the first titles, the inbox."""
    with force_locale(render._locale(locale)):
        subject = render.render_digest_subject(len(notes))
        titles = [render.subject_for(n) for n in notes[:5]]
    return json.dumps(
        {
            "title": subject,
            "body": " · ".join(titles)[:BODY_MAX],
            "url": public_url_for("notifications.inbox"),
            "tag": "digest",
            "urgent": False,
        },
        ensure_ascii=False,
    ).encode()


class _Response:
    __slots__ = ("status_code", "reason", "text", "headers")

    def __init__(self, r: urllib3.BaseHTTPResponse):
        self.status_code, self.reason, self.headers = r.status, r.reason or "", r.headers
        self.text = r.data.decode("utf-8", "replace") if r.status >= 300 else ""


class _Poster:
    """The HTTP side of a chunk's push messages, handed to pywebpush in place of a requests
    session (it only calls `post`): urllib3's connection pools, kept alive for the chunk, the
    proxy settings read once. requests' per-call preparation (merging settings, hooks, cookies,
    redirects) was half of a push's CPU in the bench's profile; none of it applies to one POST
    to a push service."""

    def __init__(self, timeout: float):
        self.timeout = timeout
        self._proxies = {k: v for k, v in getproxies().items() if k in ("http", "https")}
        self._direct = urllib3.PoolManager(num_pools=4)
        self._proxied = {
            scheme: urllib3.ProxyManager(url, num_pools=4) for scheme, url in self._proxies.items()
        }

    def post(self, url: str, data: bytes | None = None, headers=None, timeout=None) -> _Response:
        parts = urlsplit(url)
        manager = self._proxied.get(parts.scheme)
        if manager is None or proxy_bypass(parts.hostname or ""):
            manager = self._direct
        r = manager.request(
            "POST",
            url,
            body=data,
            headers=dict(headers or {}),
            timeout=timeout or self.timeout,
            retries=False,
            redirect=False,
        )
        return _Response(r)

    def clear(self) -> None:
        for m in (self._direct, *self._proxied.values()):
            m.clear()


class PushChannel:
    """Sends push messages for one chunk: one HTTP session, VAPID headers signed once per push
    service (per origin) and reused for an hour; subscription bookkeeping (last success, removal
    on 404/410) on `conn`, the job's autocommit connection."""

    def __init__(self, conn: sa.Connection | None = None):
        self.private_key = current_app.config.get("VAPID_PRIVATE_KEY")
        self.subject = current_app.config.get("VAPID_SUBJECT") or "mailto:no-reply@localhost"
        self.timeout = float(current_app.config.get("PUSH_TIMEOUT", 10))
        self.conn = conn
        self.session = _Poster(self.timeout)
        self._vapid = Vapid02.from_string(self.private_key) if self.private_key else None
        self._signed: dict[str, tuple[float, dict]] = {}
        self._touched: list[int] = []  # subscriptions that took a message, recorded in batches

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        try:
            self._flush_touched()
        finally:
            self.session.clear()

    def _vapid_headers(self, endpoint: str) -> dict:
        parts = urlsplit(endpoint)
        aud = f"{parts.scheme}://{parts.netloc}"
        now = time.time()
        cached = self._signed.get(aud)
        if cached is None or cached[0] < now + 3600:
            exp = int(now) + 12 * 3600
            cached = self._signed[aud] = (
                exp,
                self._vapid.sign({"aud": aud, "exp": exp, "sub": self.subject}),
            )
        return dict(cached[1])

    def send(self, subscriptions: list[tuple], data: bytes, topic_: str, urgent: bool) -> int:
        """Send to every subscription; returns how many push services accepted the message.
        Raises SendError when none did (permanent when every subscription is gone)."""
        if not subscriptions:
            raise SendError(False, None, "no subscribed device")
        if self._vapid is None:
            log.info(
                "push (VAPID_PRIVATE_KEY unset) topic=%s to %d devices: %s", topic_, len(subscriptions), data
            )
            return len(subscriptions)
        accepted, gone, errors = 0, [], []
        for sub_id, endpoint, p256dh, auth in subscriptions:
            headers = self._vapid_headers(endpoint)
            headers["Topic"] = topic_
            headers["Urgency"] = "high" if urgent else "normal"
            info = {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}
            try:
                resp = WebPusher(info, requests_session=self.session).send(
                    data, headers, ttl=TTL_SECONDS, timeout=self.timeout
                )
            except (urllib3.exceptions.HTTPError, OSError) as err:
                errors.append(SendError(True, None, f"push service unreachable: {err}"))
                continue
            except (ValueError, TypeError) as err:  # keys that cannot encrypt: the device is unusable
                gone.append(sub_id)
                errors.append(SendError(False, None, f"bad subscription keys: {err}"))
                continue
            if resp.status_code in (404, 410):
                gone.append(sub_id)
            elif 200 <= resp.status_code < 300:
                accepted += 1
                self._touch(sub_id)
            else:
                code = resp.status_code
                errors.append(SendError(rules.http_is_transient(code), code, resp.text[:200] or resp.reason))
        if gone:
            self._remove(gone)
        if accepted:
            return accepted
        transient = [e for e in errors if e.transient]
        if transient:
            raise transient[0]
        if errors:
            raise errors[0]
        raise SendError(False, 410, "every subscribed device is gone")

    def _touch(self, sub_id: int) -> None:
        """`last_success_at` is bookkeeping, not part of the delivery's outcome: written 200 at a
        time (one statement) rather than one more round trip per message."""
        self._touched.append(sub_id)
        if len(self._touched) >= 200:
            self._flush_touched()

    def _flush_touched(self) -> None:
        ids, self._touched = self._touched, []
        if ids and self.conn is not None:
            self.conn.execute(sa.update(PS).where(PS.c.id.in_(ids)).values(last_success_at=clock()))

    def _remove(self, ids: list[int]) -> None:
        log.info("push subscriptions %s gone (404/410): removed", ids)
        if self.conn is not None:
            self.conn.execute(sa.delete(PS).where(PS.c.id.in_(ids)))
