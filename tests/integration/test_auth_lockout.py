"""After failed logins have brought the delay to its cap, an account with a proven phone takes a
code by SMS with the password: the owner gets in at once (never locked out for an hour, the city
administrator included), a stranger without the phone not at all; an account without a proven
phone keeps the delay only."""

from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from app.auth import throttle
from app.extensions import db
from app.models import AuditLog, CodePurpose, PhoneCode, UserSession
from tests.factories import PASSWORD, create_user
from tests.sms import last_code, texts_to

WRONG = "not the password"  # noqa: S105


@pytest.fixture
def capped(app):
    """A delay that reaches its cap (1 hour) on the second failure beyond the allowance."""
    app.config.update(
        LOGIN_LIMIT_PER_ACCOUNT="3/hour", LOGIN_DELAY_SECONDS=1800, LOGIN_DELAY_MAX_SECONDS=3600
    )


def _try(client, login, password=WRONG):
    return client.post_form("/auth/login", {"login": login, "password": password}, token_from="/auth/login")


def _hammer(make_client, login):
    """A stranger's failures until the delay is at its cap."""
    attacker = make_client()
    key = throttle.account_key(login)
    for _ in range(3):
        _try(attacker, login)
    assert throttle.wait_seconds(key) > 0 and not throttle.code_required(key)
    throttle.failed(key)  # the next failure, after the wait (its count is what matters here)
    assert throttle.code_required(key)
    return attacker


def _sessions(user) -> int:
    return db.session.scalar(sa.select(sa.func.count()).where(UserSession.user_id == user.id))


@pytest.mark.parametrize("role", ["parent", "city_admin"])
def test_the_owner_gets_in_at_once_with_the_code_and_the_stranger_not_at_all(app, make_client, capped, role):
    user = create_user(role, phone="0987001122" if role == "city_admin" else None)
    db.session.commit()
    login = user.email or user.phone
    with app.app_context():
        _hammer(make_client, login)
    owner = make_client()
    # The right password alone is not taken any more: the page offers a code instead (in Vietnamese).
    page = _try(owner, login, PASSWORD)
    assert page.status_code == 429
    html = page.get_data(as_text=True)
    assert "Gửi mã cho tôi qua SMS" in html and "/auth/login/code/send" in html
    assert _sessions(user) == 0
    resp = owner.post_form(
        "/auth/login/code/send?next=/notifications/", {"login": login}, token_from="/auth/login"
    )
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login/code")
    code = last_code(user.phone)
    assert code and "mat khau" in texts_to(user.phone)[-1].lower()
    ok = owner.post_form(resp.headers["Location"], {"code": code, "password": PASSWORD})
    assert ok.status_code == 302 and ok.headers["Location"] == "/notifications/"
    assert owner.get("/auth/sessions").status_code == 200
    # The owner got in: the account's failures are forgotten, the password alone works again.
    assert not throttle.code_required(throttle.account_key(login))
    assert _try(make_client(), login, PASSWORD).status_code == 302
    assert db.session.scalar(sa.select(AuditLog.id).where(AuditLog.action == "user.login_with_code"))


def test_a_stranger_without_the_phone_cannot_get_in(app, make_client, capped):
    user = create_user("parent")
    db.session.commit()
    attacker = _hammer(make_client, user.phone)
    # Even the right password (leaked) does not log in without the code, and it is not checked.
    assert _try(attacker, user.phone, PASSWORD).status_code == 429
    resp = attacker.post_form("/auth/login/code/send", {"login": user.phone}, token_from="/auth/login")
    target = resp.headers["Location"]
    code = last_code(user.phone)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        page = attacker.post_form(target, {"code": wrong, "password": PASSWORD})
        assert page.status_code == 422
    assert "Đã nhập sai quá nhiều lần" in page.get_data(as_text=True)  # the fifth: no tries left
    # Five tries used: the right code no longer works either.
    assert attacker.post_form(target, {"code": code, "password": PASSWORD}).status_code == 422
    assert _sessions(user) == 0


def test_the_right_code_with_a_wrong_password_uses_a_try_and_says_nothing_more(app, make_client, capped):
    user = create_user("parent")
    db.session.commit()
    owner = _hammer(make_client, user.phone)
    resp = owner.post_form("/auth/login/code/send", {"login": user.phone}, token_from="/auth/login")
    code = last_code(user.phone)
    bad = owner.post_form(resp.headers["Location"], {"code": code, "password": "wrong one"})
    assert bad.status_code == 422 and "Mã hoặc mật khẩu không đúng" in bad.get_data(as_text=True)
    row = db.session.scalar(sa.select(PhoneCode).where(PhoneCode.purpose == CodePurpose.LOGIN))
    assert row.attempts == 1 and row.used_at is None
    assert owner.post_form(resp.headers["Location"], {"code": code, "password": PASSWORD}).status_code == 302


def test_an_unknown_number_reads_like_a_known_one(app, make_client, capped):
    unknown = "0987009999"
    _hammer(make_client, unknown)
    c = make_client()
    page = _try(c, unknown, PASSWORD)
    assert page.status_code == 429 and "Gửi mã cho tôi qua SMS" in page.get_data(as_text=True)
    resp = c.post_form("/auth/login/code/send", {"login": unknown}, token_from="/auth/login")
    assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login/code")
    assert texts_to(unknown) == []  # nothing is sent to a number without an account
    assert c.post_form(resp.headers["Location"], {"code": "123456", "password": PASSWORD}).status_code == 422


def test_an_account_without_a_proven_phone_keeps_the_delay_only(app, make_client):
    """Staff without a phone: no code is offered; the owner waits at most the cap, never an hour."""
    app.config.update(LOGIN_LIMIT_PER_ACCOUNT="3/hour", LOGIN_DELAY_SECONDS=1, LOGIN_DELAY_MAX_SECONDS=1)
    admin = create_user("city_admin")
    db.session.commit()
    attacker = make_client()
    for _ in range(4):
        _try(attacker, admin.email)
        time.sleep(1.05)
    assert throttle.code_required(throttle.account_key(admin.email))
    page = _try(make_client(), admin.email, PASSWORD)
    assert page.status_code in (302, 429)
    if page.status_code == 429:
        assert "Gửi mã" not in page.get_data(as_text=True)
        time.sleep(1.05)
        page = _try(make_client(), admin.email, PASSWORD)
    assert page.status_code == 302


def test_the_code_page_is_closed_until_the_cap(app, make_client):
    user = create_user("parent")
    db.session.commit()
    c = make_client()
    resp = c.post_form("/auth/login/code/send", {"login": user.phone}, token_from="/auth/login")
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/login"
    assert texts_to(user.phone) == []
    assert c.get("/auth/login/code").headers["Location"] == "/auth/login"
