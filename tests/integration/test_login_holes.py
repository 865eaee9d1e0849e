"""Login probes a tester ran as an attacker: redirects off-site after login and after a language
switch, NUL-padded logins around the per-account counter, and a lockout a stranger could impose
on the owner."""

from __future__ import annotations

import time
from urllib.parse import unquote

import pytest
import sqlalchemy as sa

from app.auth import throttle
from app.auth.services import find_by_login
from app.extensions import db
from app.models import UserSession
from tests.factories import PASSWORD, create_user

OFF_SITE = [
    "/%09/evil.example/x",  # a tab: browsers drop it and read //evil.example/x
    "/%0d%0a/evil.example/x",
    "/%0a/evil.example",
    "//evil.example/x",
    "/%5C/evil.example/x",  # /\/evil.example
    "/%5Cevil.example",
    "https://evil.example/x",
    "http:/evil.example",
    "%2F%2Fevil.example",
    "/%E2%80%8B/evil.example",  # a zero-width space
    "javascript:alert(1)",
    " /home",
]


def _login(client, user, next_: str, password: str = PASSWORD):
    return client.post_form(
        f"/auth/login?next={next_}", {"login": user.phone, "password": password}, token_from="/auth/login"
    )


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_never_redirects_off_site(make_client, target):
    user = create_user("parent")
    db.session.commit()
    resp = _login(make_client(), user, target)
    assert resp.status_code == 302, resp.get_data(as_text=True)[-600:]
    assert resp.headers["Location"] == "/home", target


def test_login_keeps_a_path_on_this_site(client):
    user = create_user("parent")
    db.session.commit()
    resp = _login(client, user, "/notifications/%3Fpage%3D2")
    assert resp.headers["Location"] == "/notifications/?page=2"


@pytest.mark.parametrize("target", [t.replace("%09", "\t").replace("%0d%0a", "\r\n") for t in OFF_SITE])
def test_language_switch_never_redirects_off_site(client, target):
    resp = client.post_form("/lang", {"lang": "en", "next": unquote(target)}, token_from="/")
    assert resp.status_code == 302
    assert resp.headers["Location"] == "/", target


def test_language_switch_keeps_a_path_on_this_site(client):
    resp = client.post_form("/lang", {"lang": "en", "next": "/auth/login?x=1"}, token_from="/")
    assert resp.headers["Location"] == "/auth/login?x=1"


def _fail(client, login: str, times: int = 1) -> list[int]:
    return [
        client.post_form("/auth/login", {"login": login, "password": "not the password"}).status_code
        for _ in range(times)
    ]


@pytest.mark.parametrize(
    "padded",
    ["{p}\x00", "\x00{p}", "{p}\x00\x00", " {p} ", "{p}\u200b", "０９{rest}", "+84{tail}", "{p}\t"],
)
def test_a_padded_login_counts_on_the_same_account_and_cannot_slip_past_its_wait(app, make_client, padded):
    """The wait an account has earned binds every spelling of its login: with the right password,
    NUL, spaces, a zero-width space, full-width digits or +84 neither log in during the wait nor
    escape the count."""
    user = create_user("parent", phone="0912000321")
    db.session.commit()
    login = padded.format(p=user.phone, rest=user.phone[2:], tail=user.phone[1:])
    attacker = make_client()
    assert _fail(attacker, user.phone, 5) == [200] * 5
    resp = attacker.post_form("/auth/login", {"login": login, "password": PASSWORD})
    assert resp.status_code in (200, 429), repr(login)  # 200: a login that names no account
    assert db.session.scalar(sa.select(sa.func.count(UserSession.id))) == 0
    # And failures under a padded spelling count on the account itself.
    fresh = create_user("parent", phone="0912000654")
    db.session.commit()
    for _ in range(5):
        _fail(make_client(), padded.format(p=fresh.phone, rest=fresh.phone[2:], tail=fresh.phone[1:]))
    key = throttle.account_key(fresh.phone)
    named = throttle.normalize_login(padded.format(p=fresh.phone, rest=fresh.phone[2:], tail=fresh.phone[1:]))
    assert (throttle.wait_seconds(key) > 0) is (named == fresh.phone), repr(padded)


def test_one_normalisation_for_the_counter_and_the_lookup(app):
    user = create_user("parent", phone="0912000987", email="Me@Example.vn")
    db.session.commit()
    for login in ("0912000987", " 0912 000 987 ", "+84912000987", "０９１２０００９８７", "ME@example.VN "):
        assert find_by_login(login) == user, login
        assert throttle.account_key(login) in (
            throttle.account_key("0912000987"),
            throttle.account_key("me@example.vn"),
        )
    for login in ("0912000987\x00", "\x000912000987", "me@example.vn\x00", "0912\u200b000987"):
        assert find_by_login(login) is None, repr(login)
        assert throttle.account_key(login) == throttle.account_key("\x00")


@pytest.mark.parametrize("role", ["teacher", "city_admin"])
def test_failed_logins_slow_down_instead_of_locking_the_owner_out(app, make_client, role):
    """A stranger hammering an account without a proven phone (the city administrator's
    included) makes each next attempt wait longer; the owner with the right password gets in once
    the short wait is over, and is told how long to wait meanwhile, in Vietnamese. (An account
    with a proven phone takes a code by SMS at the cap: test_auth_lockout.py.)"""
    app.config.update(LOGIN_DELAY_SECONDS=1, LOGIN_DELAY_MAX_SECONDS=2)
    user = create_user(role)
    db.session.commit()
    login = user.email or user.phone
    attacker, owner = make_client(), make_client()
    assert _fail(attacker, login, 5) == [200] * 5
    refused = owner.post_form("/auth/login", {"login": login, "password": PASSWORD})
    assert refused.status_code == 429
    page = refused.get_data(as_text=True)
    assert "Vui lòng thử lại sau" in page and "giây" in page and 'name="login"' in page
    time.sleep(1.1)
    # The attacker's next failure after the wait earns a longer one (2 s), capped at 2 s.
    assert _fail(attacker, login, 1) == [200]
    assert 1 < throttle.wait_seconds(throttle.account_key(login)) <= 2
    time.sleep(2.1)
    assert _fail(attacker, login, 1) == [200]
    assert throttle.wait_seconds(throttle.account_key(login)) <= 2  # the cap
    time.sleep(2.1)
    ok = owner.post_form("/auth/login", {"login": login, "password": PASSWORD})
    assert ok.status_code == 302, ok.get_data(as_text=True)[-800:]
    # Success forgets the failures: the next mistake is free again.
    assert throttle.wait_seconds(throttle.account_key(login)) == 0
    assert _fail(make_client(), login, 4) == [200] * 4


def test_the_delay_grows_and_is_capped(app):
    app.config.update(LOGIN_DELAY_SECONDS=15, LOGIN_DELAY_MAX_SECONDS=300)
    assert [throttle.delay_for(n) for n in range(1, 9)] == [15, 30, 60, 120, 240, 300, 300, 300]
    assert throttle.delay_for(10**6) == 300
    key = throttle.account_key("0912000111")
    waits = []
    for _ in range(8):
        waits.append(throttle.failed(key))
    assert waits == [0, 0, 0, 0, 15, 30, 60, 120]
    assert 119 <= throttle.wait_seconds(key) <= 120
    throttle.succeeded(key)
    assert throttle.wait_seconds(key) == 0


def test_a_correct_login_forgets_failures_within_the_allowance(app, make_client):
    # Failures that imposed no wait yet are forgotten too (the correct login finds their marker).
    user = create_user("teacher")
    db.session.commit()
    login = user.email
    assert _fail(make_client(), login, 3) == [200] * 3
    assert make_client().post_form("/auth/login", {"login": login, "password": PASSWORD}).status_code == 302
    assert _fail(make_client(), login, 4) == [200] * 4
    assert throttle.wait_seconds(throttle.account_key(login)) == 0
    # Without the correct login in between, the fifth of these failures imposes a wait.
    other = create_user("teacher")
    db.session.commit()
    assert _fail(make_client(), other.email, 5) == [200] * 5
    assert throttle.wait_seconds(throttle.account_key(other.email)) > 0
