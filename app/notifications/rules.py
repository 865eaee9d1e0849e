"""Pure notification rules: channels, quiet hours, digests, retries, error classes, SMS text.

Standard library only (no Flask, no SQLAlchemy) so that every rule is unit-tested with plain
values and a frozen clock (tests/unit/test_notification_rules.py). Times: naive UTC datetimes
in and out (as stored in the database); local wall-clock rules use `tz` (Asia/Ho_Chi_Minh).
"""

from __future__ import annotations

import functools
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

IN_APP, EMAIL, SMS, PUSH = "in_app", "email", "sms", "push"
CHANNELS = (IN_APP, EMAIL, SMS, PUSH)
FREE_CHANNELS = (PUSH, IN_APP, EMAIL)  # the routing order: free first, SMS (paid) last
QUEUED, SENDING, SENT, FAILED = "queued", "sending", "sent", "failed"
STATUSES = (QUEUED, SENDING, SENT, FAILED)

DEFAULT_TZ = "Asia/Ho_Chi_Minh"
DEFAULT_QUIET_START = time(21, 0)
DEFAULT_QUIET_END = time(6, 30)
DEFAULT_DIGEST_AT = time(18, 0)
MAX_ATTEMPTS = 5
BACKOFF_SECONDS = (30, 120, 600, 1800, 7200)
SMS_MAX_CHARS = 160


@dataclass(frozen=True)
class Kind:
    """A kind of notification. `about_child` kinds need `child_name` in their context."""

    name: str
    urgent: bool = False
    about_child: bool = False
    channels: tuple[str, ...] = (IN_APP, EMAIL)  # default channels before preferences
    digestible: bool = True
    quiet_hours: bool = True  # False: never held for quiet hours (a test the sender sends to themself)


@dataclass(frozen=True)
class Recipient:
    id: int
    email: str | None
    phone: str | None
    uses_app: bool  # has logged in at least once: the in-app inbox reaches them
    push: bool = False  # has at least one device subscribed to Web Push


@dataclass(frozen=True)
class Preference:
    """One guardian's choice for one kind (absent → the kind's defaults)."""

    email: bool = True
    sms: bool = True  # SMS allowed when the rules call for it (urgent or no other channel)
    digest: bool = False
    push: bool = True  # Web Push to the guardian's subscribed devices (free)


@dataclass(frozen=True)
class Settings:
    quiet_enabled: bool = True
    quiet_start: time = DEFAULT_QUIET_START
    quiet_end: time = DEFAULT_QUIET_END
    digest_at: time = DEFAULT_DIGEST_AT


DEFAULT_SETTINGS = Settings()


@dataclass(frozen=True)
class Plan:
    channel: str
    digest: bool = False
    not_before: datetime | None = None  # naive UTC; None = send now


@dataclass
class Counts:
    queued: int = 0
    sending: int = 0
    sent: int = 0
    failed: int = 0
    read: int = 0
    by_channel: dict = field(default_factory=dict)


def to_local(now_utc: datetime, tz: str = DEFAULT_TZ) -> datetime:
    return now_utc.replace(tzinfo=UTC).astimezone(ZoneInfo(tz))


def to_utc_naive(local: datetime) -> datetime:
    return local.astimezone(UTC).replace(tzinfo=None)


def in_quiet_hours(local_time: time, start: time, end: time) -> bool:
    """Is `local_time` inside [start, end)? Handles windows across midnight (21:00–06:30)."""
    if start == end:
        return False
    if start < end:
        return start <= local_time < end
    return local_time >= start or local_time < end


@functools.lru_cache(maxsize=256)  # one notification asks the same question for 100,000 guardians
def quiet_hours_end(now_utc: datetime, settings: Settings, tz: str = DEFAULT_TZ) -> datetime | None:
    """When quiet hours are on now: the UTC instant they end; else None."""
    if not settings.quiet_enabled:
        return None
    local = to_local(now_utc, tz)
    if not in_quiet_hours(local.time().replace(tzinfo=None), settings.quiet_start, settings.quiet_end):
        return None
    end = local.replace(
        hour=settings.quiet_end.hour, minute=settings.quiet_end.minute, second=0, microsecond=0
    )
    if end <= local:
        end += timedelta(days=1)
    return to_utc_naive(end)


@functools.lru_cache(maxsize=256)
def next_digest_at(now_utc: datetime, settings: Settings, tz: str = DEFAULT_TZ) -> datetime:
    """The next daily digest time (local `digest_at`) after now, moved out of quiet hours."""
    local = to_local(now_utc, tz)
    at = local.replace(
        hour=settings.digest_at.hour, minute=settings.digest_at.minute, second=0, microsecond=0
    )
    if at <= local:
        at += timedelta(days=1)
    at_utc = to_utc_naive(at)
    return quiet_hours_end(at_utc, settings, tz) or at_utc


def plan_channels(
    kind: Kind,
    recipient: Recipient,
    pref: Preference | None,
    settings: Settings | None,
    *,
    urgent: bool,
    now_utc: datetime,
    tz: str = DEFAULT_TZ,
) -> list[Plan]:
    """Which deliveries one recipient gets for one notification, and when: free channels first
    (FREE_CHANNELS: push, in-app, email), SMS (paid) last.

    - Push when the recipient has a subscribed device and has not switched it off for this kind.
    - In-app always (it is free and silent).
    - Email when the recipient has an address and has not switched it off for this kind.
    - SMS (paid) only for urgent notifications (when the guardian has a phone and has not
      switched SMS off) or as the fallback for a recipient no free channel reaches (no push
      device, no email, never logged in). A push service accepting a message does not confirm
      that the phone showed it, so push never replaces an urgent SMS.
    - Non-urgent push, email and SMS wait for the end of quiet hours; the digest preference
      batches push and email into one daily message each. Urgent overrides both.
    """
    settings = settings or DEFAULT_SETTINGS
    pref = pref or Preference(email=EMAIL in kind.channels)
    plans = []
    push = recipient.push and pref.push
    email = bool(recipient.email) and pref.email
    sms = bool(recipient.phone) and urgent and pref.sms
    if not sms and recipient.phone and not push and not email and not recipient.uses_app:
        sms = True  # no free channel reaches this guardian: SMS is the fallback
    deferred = None if urgent or not kind.quiet_hours else quiet_hours_end(now_utc, settings, tz)
    digest = pref.digest and kind.digestible and not urgent
    for channel, wanted in ((PUSH, push), (IN_APP, True), (EMAIL, email)):
        if not wanted:
            continue
        if channel == IN_APP:
            plans.append(Plan(IN_APP))
        elif digest:
            plans.append(Plan(channel, digest=True, not_before=next_digest_at(now_utc, settings, tz)))
        else:
            plans.append(Plan(channel, not_before=deferred))
    if sms:
        plans.append(Plan(SMS, not_before=deferred))
    return plans


def sms_saved(recipient: Recipient, pref: Preference | None, *, urgent: bool) -> bool:
    """Did push spare this recipient an SMS? True when, without their push device, the rule above
    would have sent the SMS fallback (for the per-school count of SMS that push saved)."""
    pref = pref or Preference()
    if not (recipient.push and pref.push) or not recipient.phone:
        return False
    if urgent and pref.sms:
        return False  # sent anyway
    return not (recipient.email and pref.email) and not recipient.uses_app


def backoff(attempts: int) -> timedelta:
    """Delay before retry number `attempts` (1-based) of a transient failure."""
    idx = min(max(attempts, 1), len(BACKOFF_SECONDS)) - 1
    return timedelta(seconds=BACKOFF_SECONDS[idx])


def smtp_is_transient(code: int | None) -> bool:
    """SMTP 4xx (and no code: connection trouble) are worth retrying; 5xx are final."""
    return code is None or 400 <= code < 500


def http_is_transient(status: int | None) -> bool:
    """Gateway: no answer, 5xx, 408 and 429 are retried; other 4xx are final."""
    return status is None or status >= 500 or status in (408, 429)


def after_failure(attempts: int, transient: bool, now_utc: datetime) -> tuple[str, datetime | None]:
    """(new status, retry time) after a failed attempt number `attempts`."""
    if transient and attempts < MAX_ATTEMPTS:
        return QUEUED, now_utc + backoff(attempts)
    return FAILED, None


def ascii_fold(text: str) -> str:
    """Vietnamese without diacritics (GSM-7 fits 160 characters per SMS, UCS-2 only 70)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFKD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def sms_text(title: str, child_name: str | None, url: str | None = None, limit: int = SMS_MAX_CHARS) -> str:
    """One short SMS: '[child] title url', folded to ASCII and cut to `limit` characters."""
    head = f"[{child_name}] " if child_name else ""
    tail = f" {url}" if url else ""
    body = ascii_fold(" ".join((head + title).split()))
    room = limit - len(tail)
    if len(body) > room:
        body = body[: max(room - 3, 0)].rstrip() + "..."
    return body + tail


def chunks(items: list, size: int) -> list[list]:
    return [items[i : i + size] for i in range(0, len(items), size)]
