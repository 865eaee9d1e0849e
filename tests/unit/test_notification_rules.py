"""Pure notification rules with a frozen clock: quiet hours, digests, channels, retries, SMS text."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from app.notifications import rules
from app.notifications.rules import EMAIL, IN_APP, SMS, Kind, Plan, Preference, Recipient, Settings

ANNOUNCEMENT = Kind("announcement")
EMERGENCY = Kind("emergency", urgent=True, digestible=False)


def utc(h, m=0, day=10):
    """A UTC instant for a Hanoi wall-clock time (UTC+7) on 2026-12-<day>."""
    return datetime(2026, 12, day, h, m) - timedelta(hours=7)


PARENT = Recipient(1, "me@example.vn", "0912345678", uses_app=True)
PHONE_ONLY_NEVER_LOGGED_IN = Recipient(2, None, "0912345679", uses_app=False)
PHONE_ONLY_APP_USER = Recipient(3, None, "0912345670", uses_app=True)


@pytest.mark.parametrize(
    ("t", "quiet"),
    [
        (time(20, 59), False),
        (time(21, 0), True),
        (time(23, 59), True),
        (time(0, 0), True),
        (time(6, 29), True),
        (time(6, 30), False),
        (time(12, 0), False),
    ],
)
def test_quiet_hours_across_midnight(t, quiet):
    assert rules.in_quiet_hours(t, time(21, 0), time(6, 30)) is quiet


def test_quiet_hours_same_day_window_and_empty_window():
    assert rules.in_quiet_hours(time(13, 0), time(12, 0), time(14, 0))
    assert not rules.in_quiet_hours(time(15, 0), time(12, 0), time(14, 0))
    assert not rules.in_quiet_hours(time(12, 0), time(12, 0), time(12, 0))


def test_quiet_hours_end_is_next_morning_in_hanoi():
    assert rules.quiet_hours_end(utc(22, 15), Settings()) == utc(6, 30, day=11)
    assert rules.quiet_hours_end(utc(3, 0), Settings()) == utc(6, 30)
    assert rules.quiet_hours_end(utc(10, 0), Settings()) is None
    assert rules.quiet_hours_end(utc(22, 15), Settings(quiet_enabled=False)) is None


def test_plan_in_daytime_sends_in_app_and_email_now():
    plans = rules.plan_channels(ANNOUNCEMENT, PARENT, None, None, urgent=False, now_utc=utc(10))
    assert plans == [Plan(IN_APP), Plan(EMAIL)]


def test_plan_at_night_defers_email_to_end_of_quiet_hours_but_not_in_app():
    plans = rules.plan_channels(ANNOUNCEMENT, PARENT, None, None, urgent=False, now_utc=utc(22))
    assert plans == [Plan(IN_APP), Plan(EMAIL, not_before=utc(6, 30, day=11))]


def test_a_kind_outside_quiet_hours_is_sent_at_night_without_sms():
    test_kind = Kind("test", quiet_hours=False, digestible=False)
    plans = rules.plan_channels(
        test_kind, PARENT, Preference(digest=True), None, urgent=False, now_utc=utc(22)
    )
    assert plans == [Plan(IN_APP), Plan(EMAIL)]


def test_urgent_overrides_quiet_hours_and_adds_sms():
    plans = rules.plan_channels(EMERGENCY, PARENT, None, None, urgent=True, now_utc=utc(22))
    assert plans == [Plan(IN_APP), Plan(EMAIL), Plan(SMS)]


def test_urgent_sms_can_be_switched_off_when_another_channel_reaches():
    plans = rules.plan_channels(
        EMERGENCY, PARENT, Preference(email=True, sms=False), None, urgent=True, now_utc=utc(10)
    )
    assert [p.channel for p in plans] == [IN_APP, EMAIL]


def test_sms_is_the_fallback_only_without_any_free_channel():
    plans = rules.plan_channels(
        ANNOUNCEMENT, PHONE_ONLY_NEVER_LOGGED_IN, None, None, urgent=False, now_utc=utc(10)
    )
    assert [p.channel for p in plans] == [IN_APP, SMS]
    plans = rules.plan_channels(ANNOUNCEMENT, PHONE_ONLY_APP_USER, None, None, urgent=False, now_utc=utc(10))
    assert [p.channel for p in plans] == [IN_APP]
    # Email switched off by the guardian who never opens the app: SMS still reaches them.
    plans = rules.plan_channels(
        ANNOUNCEMENT,
        Recipient(4, "x@example.vn", "0912000000", False),
        Preference(email=False),
        None,
        urgent=False,
        now_utc=utc(10),
    )
    assert [p.channel for p in plans] == [IN_APP, SMS]


def test_fallback_sms_waits_for_quiet_hours_to_end():
    plans = rules.plan_channels(
        ANNOUNCEMENT, PHONE_ONLY_NEVER_LOGGED_IN, None, None, urgent=False, now_utc=utc(23)
    )
    assert plans[1] == Plan(SMS, not_before=utc(6, 30, day=11))


def test_email_switched_off_for_a_kind():
    plans = rules.plan_channels(
        ANNOUNCEMENT, PARENT, Preference(email=False), None, urgent=False, now_utc=utc(10)
    )
    assert plans == [Plan(IN_APP)]


def test_kind_without_email_by_default():
    quiet_kind = Kind("minor", channels=(IN_APP,))
    assert rules.plan_channels(quiet_kind, PARENT, None, None, urgent=False, now_utc=utc(10)) == [
        Plan(IN_APP)
    ]


def test_digest_goes_out_at_the_digest_time_and_urgent_skips_it():
    pref = Preference(digest=True)
    plans = rules.plan_channels(ANNOUNCEMENT, PARENT, pref, None, urgent=False, now_utc=utc(9))
    assert plans[1] == Plan(EMAIL, digest=True, not_before=utc(18, 0))
    plans = rules.plan_channels(ANNOUNCEMENT, PARENT, pref, None, urgent=False, now_utc=utc(19))
    assert plans[1] == Plan(EMAIL, digest=True, not_before=utc(18, 0, day=11))
    plans = rules.plan_channels(ANNOUNCEMENT, PARENT, pref, None, urgent=True, now_utc=utc(9))
    assert plans[1] == Plan(EMAIL)


def test_digest_time_inside_quiet_hours_moves_to_their_end():
    s = Settings(digest_at=time(22, 0))
    assert rules.next_digest_at(utc(9), s) == utc(6, 30, day=11)


def test_retry_backoff_then_permanent():
    now = utc(10)
    assert rules.after_failure(1, True, now) == (rules.QUEUED, now + timedelta(seconds=30))
    assert rules.after_failure(2, True, now) == (rules.QUEUED, now + timedelta(seconds=120))
    assert rules.after_failure(rules.MAX_ATTEMPTS, True, now) == (rules.FAILED, None)
    assert rules.after_failure(1, False, now) == (rules.FAILED, None)


@pytest.mark.parametrize(
    ("code", "transient"),
    [(None, True), (421, True), (450, True), (451, True), (550, False), (552, False), (554, False)],
)
def test_smtp_error_classes(code, transient):
    assert rules.smtp_is_transient(code) is transient


@pytest.mark.parametrize(
    ("status", "transient"),
    [
        (None, True),
        (500, True),
        (503, True),
        (429, True),
        (408, True),
        (400, False),
        (404, False),
        (422, False),
    ],
)
def test_gateway_error_classes(status, transient):
    assert rules.http_is_transient(status) is transient


def test_sms_text_names_the_child_folds_diacritics_and_fits_one_sms():
    text = rules.sms_text("Trường nghỉ học do bão số 3", "Nguyễn Đức Anh")
    assert text == "[Nguyen Duc Anh] Truong nghi hoc do bao so 3"
    long = rules.sms_text("Thông báo " * 40, "Lê Thị Hoa", "https://x.vn/n")
    assert len(long) <= 160 and long.endswith("... https://x.vn/n")
    assert long.isascii()


def test_chunks():
    assert rules.chunks(list(range(5)), 2) == [[0, 1], [2, 3], [4]]
    assert rules.chunks([], 3) == []


# ------------------------------------------------------------------ Web Push: free first

PUSH = rules.PUSH
PHONE_ONLY_WITH_PUSH = Recipient(5, None, "0912345671", uses_app=False, push=True)


def test_free_channels_come_first_push_then_in_app_then_email():
    parent = Recipient(6, "me@example.vn", "0912000006", uses_app=True, push=True)
    plans = rules.plan_channels(ANNOUNCEMENT, parent, None, None, urgent=False, now_utc=utc(10))
    assert [p.channel for p in plans] == [PUSH, IN_APP, EMAIL]
    assert rules.FREE_CHANNELS == (PUSH, IN_APP, EMAIL)
    urgent = rules.plan_channels(EMERGENCY, parent, None, None, urgent=True, now_utc=utc(23))
    assert [(p.channel, p.not_before) for p in urgent] == [
        (PUSH, None),
        (IN_APP, None),
        (EMAIL, None),
        (SMS, None),
    ]


def test_a_push_device_is_a_free_channel_so_no_sms_fallback_and_it_counts_as_saved():
    plans = rules.plan_channels(ANNOUNCEMENT, PHONE_ONLY_WITH_PUSH, None, None, urgent=False, now_utc=utc(10))
    assert [p.channel for p in plans] == [PUSH, IN_APP]
    assert rules.sms_saved(PHONE_ONLY_WITH_PUSH, None, urgent=False) is True
    # Push switched off for the kind: the SMS fallback is back, nothing saved.
    off = Preference(push=False)
    plans = rules.plan_channels(ANNOUNCEMENT, PHONE_ONLY_WITH_PUSH, off, None, urgent=False, now_utc=utc(10))
    assert [p.channel for p in plans] == [IN_APP, SMS]
    assert rules.sms_saved(PHONE_ONLY_WITH_PUSH, off, urgent=False) is False
    # Urgent: the SMS goes anyway (a push service's acceptance is no proof the phone showed it).
    plans = rules.plan_channels(EMERGENCY, PHONE_ONLY_WITH_PUSH, None, None, urgent=True, now_utc=utc(10))
    assert [p.channel for p in plans] == [PUSH, IN_APP, SMS]
    assert rules.sms_saved(PHONE_ONLY_WITH_PUSH, None, urgent=True) is False
    # Someone the inbox or email already reaches had no SMS to save.
    assert (
        rules.sms_saved(Recipient(7, None, "0912000007", uses_app=True, push=True), None, urgent=False)
        is False
    )
    assert rules.sms_saved(PHONE_ONLY_NEVER_LOGGED_IN, None, urgent=False) is False


def test_push_waits_for_quiet_hours_and_joins_the_daily_summary_like_email():
    plans = rules.plan_channels(ANNOUNCEMENT, PHONE_ONLY_WITH_PUSH, None, None, urgent=False, now_utc=utc(22))
    assert plans[0] == Plan(PUSH, not_before=utc(6, 30, day=11))
    digest = Preference(digest=True)
    plans = rules.plan_channels(
        ANNOUNCEMENT, PHONE_ONLY_WITH_PUSH, digest, None, urgent=False, now_utc=utc(10)
    )
    assert plans[0] == Plan(PUSH, digest=True, not_before=utc(18))
    plans = rules.plan_channels(EMERGENCY, PHONE_ONLY_WITH_PUSH, digest, None, urgent=True, now_utc=utc(22))
    assert plans[0] == Plan(PUSH)
