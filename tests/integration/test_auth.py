import importlib
import re
import uuid
from datetime import timedelta

import sqlalchemy as sa

import app.config as config_module
from app import create_app
from app.auth.services import passwords
from app.extensions import db, limiter
from app.models import AuditLog, PhoneCode, User, UserSession
from tests.factories import PASSWORD, create_user
from tests.querycount import count_queries
from tests.sms import last_code


def test_parent_registers_with_mobile_and_is_logged_in(client, app):
    resp = client.post_form(
        "/auth/register",
        {
            "full_name": "Nguyễn Thị Hoa",
            "phone": "+84 912 000 111",
            "password": "mot buoi sang dep troi",
            "confirm": "mot buoi sang dep troi",
        },
    )
    assert resp.status_code == 302
    # The account is created when the code sent by SMS is entered (tests/integration/test_auth_codes.py).
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0
    assert client.post_form("/auth/verify", {"code": last_code("0912000111")}).status_code == 302
    user = db.session.scalar(sa.select(User).where(User.phone == "0912000111"))
    assert user.role == "parent" and user.password_hash.startswith("$argon2id$")
    assert user.phone_verified_at is not None
    assert client.get("/home").status_code == 200


def test_registration_refuses_bad_phone_short_and_common_passwords(client):
    resp = client.post_form(
        "/auth/register",
        {"full_name": "Nguyễn Thị Hoa", "phone": "0212345678", "password": "12345678", "confirm": "12345678"},
    )
    assert resp.status_code == 422
    page = resp.get_data(as_text=True)
    assert "03, 05, 07, 08" in page or "03, 05, 07, 08".replace(",", "") in page
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_duplicate_phone_answers_like_a_new_one_and_creates_nothing(client, app):
    create_user("parent", phone="0987654321")
    db.session.commit()
    resp = client.post_form(
        "/auth/register",
        {
            "full_name": "Trần Văn Nam",
            "phone": "0987654321",
            "password": "mot buoi sang dep troi",
            "confirm": "mot buoi sang dep troi",
        },
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/verify"
    assert last_code("0987654321") is None  # the SMS says the number has an account
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 1


def test_login_creates_new_server_session_and_logout_revokes_it(client, app):
    user = create_user("parent")
    db.session.commit()
    client.get("/auth/login")
    before = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    client.login_as(user)
    after = client.get_cookie(app.config["SESSION_COOKIE_NAME"]).value
    assert before != after
    assert db.session.scalar(sa.select(sa.func.count(UserSession.id))) == 1
    stolen = after
    resp = client.post_form("/auth/logout", {}, token_from="/home")
    assert resp.status_code == 302, resp.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(UserSession.id))) == 0
    # Replaying the old cookie after logout does not log anyone in.
    other = app.test_client()
    other.set_cookie(app.config["SESSION_COOKIE_NAME"], stolen)
    assert other.get("/home").status_code == 302


def test_wrong_password_same_message_as_unknown_account(client):
    user = create_user("parent")
    db.session.commit()
    r1 = client.post_form("/auth/login", {"login": user.phone, "password": "wrong password!"})
    r2 = client.post_form("/auth/login", {"login": "0999999999", "password": "wrong password!"})
    assert r1.status_code == r2.status_code == 200
    strip = lambda r: re.sub(r'value="[^"]*"', "", r.get_data(as_text=True))  # noqa: E731
    assert strip(r1) == strip(r2)


def test_idle_session_expires(client, app):
    user = create_user("teacher")
    db.session.commit()
    client.login_as(user)
    sess = db.session.scalar(sa.select(UserSession))
    sess.last_seen_at -= app.config["SESSION_IDLE_TIMEOUT"] + timedelta(minutes=1)
    db.session.commit()
    assert client.get("/home").status_code == 302


def test_login_rate_limited_per_account(client, app):
    user = create_user("parent")
    db.session.commit()
    statuses = [
        client.post_form("/auth/login", {"login": user.phone, "password": "not the password"}).status_code
        for _ in range(6)
    ]
    assert statuses[:5] == [200] * 5 and statuses[5] == 429
    # Another account from the same address is not blocked by this account's limit.
    other = create_user("parent")
    db.session.commit()
    assert client.post_form("/auth/login", {"login": other.phone, "password": PASSWORD}).status_code == 302


def test_login_rate_limited_per_ip(client, app):
    app.config["LOGIN_LIMIT_PER_IP"] = "3/minute"
    codes = [
        client.post_form("/auth/login", {"login": f"09000000{i:02d}", "password": "x" * 10}).status_code
        for i in range(4)
    ]
    assert codes[-1] == 429 and 429 not in codes[:3]


def _sign_up(client, i: int, *, ok: bool = True) -> int:
    return client.post_form(
        "/auth/register",
        {
            "full_name": "Nguyễn Thị Hoa",
            "phone": f"091200{i:04d}" if ok else "0212345678",
            "password": "mot buoi sang dep troi",
            "confirm": "mot buoi sang dep troi",
        },
    ).status_code


def test_sign_ups_behind_one_address_count_apart_from_failures(make_client, app):
    """Opening day: many families register from one carrier-grade NAT address. Sign-ups sent a
    code count against REGISTER_LIMIT_PER_IP; failed attempts against the (lower) login limit."""
    app.config["LOGIN_LIMIT_PER_IP"] = "2/minute"
    app.config["REGISTER_LIMIT_PER_IP"] = "4/minute"
    created = [_sign_up(make_client(), i) for i in range(4)]
    assert created == [302] * 4  # more than the login limit of 2
    assert db.session.scalar(sa.select(sa.func.count(PhoneCode.id))) == 4
    assert _sign_up(make_client(), 99) == 429  # the sign-up cap
    assert db.session.scalar(sa.select(sa.func.count(PhoneCode.id))) == 4


def test_failed_sign_ups_are_limited_like_failed_logins(make_client, app):
    app.config["LOGIN_LIMIT_PER_IP"] = "2/minute"
    failed = [_sign_up(make_client(), 0, ok=False) for _ in range(3)]
    assert failed == [422, 422, 429]
    assert _sign_up(make_client(), 1) == 429  # the address is blocked for a while, as for logins
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_wrong_csrf_token_is_refused_with_localized_message(client):
    user = create_user("parent")
    db.session.commit()
    resp = client.post(
        "/auth/login", data={"csrf_token": "forged", "login": user.phone, "password": PASSWORD}
    )
    assert resp.status_code == 400
    assert "tải lại trang" in resp.get_data(as_text=True).lower()


def test_open_redirect_after_login_is_refused(client):
    user = create_user("parent")
    db.session.commit()
    resp = client.post_form(
        "/auth/login?next=//evil.example/x",
        {"login": user.phone, "password": PASSWORD},
        token_from="/auth/login",
    )
    assert resp.headers["Location"] == "/home"


def test_password_change_logs_out_other_devices(make_client):
    user = create_user("parent")
    db.session.commit()
    phone, laptop = make_client(), make_client()
    phone.login_as(user)
    laptop.login_as(user)
    resp = phone.post_form(
        "/auth/password",
        {"current": PASSWORD, "password": "mot ngay moi tuoi dep", "confirm": "mot ngay moi tuoi dep"},
    )
    assert resp.status_code == 302
    assert phone.get("/home").status_code == 200
    assert laptop.get("/home").status_code == 302


def test_login_is_audited_without_personal_data(client):
    user = create_user("parent")
    db.session.commit()
    client.login_as(user)
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.login"))
    assert entry.actor_id == user.id and entry.target_id == str(user.id)
    assert user.phone not in str(entry.details)


def test_staff_password_needs_twelve_characters(client, world):
    admin = world["users"]["city_admin"]
    client.login_as(admin)
    school = world["schools"][0]
    resp = client.post_form(
        "/admin/users/new",
        {
            "full_name": "Lê Thị Mai",
            "email": "mai@example.edu.vn",
            "phone": "",
            "role": "teacher",
            "school_id": school.id,
            "district_id": 0,
            "password": "short pass1",
        },
    )
    assert resp.status_code == 422
    assert db.session.scalar(sa.select(User).where(User.email == "mai@example.edu.vn")) is None


def test_audit_log_page_lists_entries_with_bounded_queries(client, make_client, world, app):
    admin = world["users"]["city_admin"]
    for u in world["users"].values():
        make_client().login_as(u)  # each login writes an audit entry by a different actor
    client.login_as(admin)
    with count_queries(app) as counter:
        resp = client.get("/admin/audit?action=user.login")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert page.count("user.login") >= 5
    assert counter.count <= 6, counter.statements


def test_session_expires_after_the_absolute_limit_even_when_active(client, app):
    user = create_user("teacher")
    db.session.commit()
    client.login_as(user)
    sess = db.session.scalar(sa.select(UserSession))
    sess.created_at -= app.config["SESSION_ABSOLUTE_TIMEOUT"] + timedelta(minutes=1)
    db.session.commit()  # last_seen_at is recent: only the absolute limit applies
    assert client.get("/home").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(UserSession.id))) == 0


def test_production_config_hashes_with_owasp_argon2id_parameters(tmp_path):
    """The app's own Config (not only the Passwords defaults) uses m=19 MiB, t=2, p=1."""

    prod = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
            "SECRET_KEY": "x",
            "PUBLIC_URL": "https://x.vn",
        }
    )
    with prod.app_context():
        assert passwords().hash("mot hai ba bon nam").startswith("$argon2id$v=19$m=19456,t=2,p=1$")


def test_production_cookies_are_secure_httponly_samesite_with_hsts(tmp_path, monkeypatch):
    """Secure cookies unless COOKIE_SECURE=0: read the real Config class, not a test override."""

    monkeypatch.delenv("COOKIE_SECURE", raising=False)
    fresh = importlib.reload(config_module)
    try:
        assert fresh.Config.SESSION_COOKIE_SECURE is True
        prod = create_app(
            {
                "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
                "SECRET_KEY": "x",
                "SESSION_COOKIE_SECURE": fresh.Config.SESSION_COOKIE_SECURE,
                "PUBLIC_URL": "https://localhost",
            }
        )
        resp = prod.test_client().get("/auth/login", base_url="https://localhost")
        cookie = resp.headers["Set-Cookie"]
        assert "; Secure" in cookie and "; HttpOnly" in cookie and "SameSite=Lax" in cookie, cookie
        assert resp.headers["Strict-Transport-Security"].startswith("max-age=")
        monkeypatch.setenv("COOKIE_SECURE", "0")
        assert importlib.reload(config_module).Config.SESSION_COOKIE_SECURE is False
    finally:
        monkeypatch.delenv("COOKIE_SECURE", raising=False)
        importlib.reload(config_module)


def test_rate_limits_live_in_redis_when_redis_url_is_set(redis_url, tmp_path):
    """Two web processes (two apps) share one Redis: an account's failures add up across them."""

    cfg = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'r.db'}",
        "SECRET_KEY": "x",
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "REDIS_URL": redis_url,
        "ARGON2_MEMORY_COST": 1024,
        "ARGON2_TIME_COST": 1,
        "RATELIMIT_KEY_PREFIX": f"shared-{uuid.uuid4().hex[:8]}",
        "LOGIN_LIMIT_PER_ACCOUNT": "4/minute",
    }
    first, second = create_app(cfg), create_app(cfg)
    assert first.config["RATELIMIT_STORAGE_URI"] == redis_url
    with first.app_context():
        db.create_all()
        assert type(limiter.storage).__name__.startswith("Redis"), type(limiter.storage)
    try:
        codes = []
        for web in (first, second, first, second, first):
            resp = web.test_client().post(
                "/auth/login", data={"login": "0912000444", "password": "not it at all"}
            )
            codes.append(resp.status_code)
        assert codes == [200, 200, 200, 200, 429], codes
    finally:
        with first.app_context():
            limiter.reset()
            db.drop_all()


def test_login_still_works_and_is_throttled_when_redis_is_down(tmp_path):
    """Redis unreachable: no 500 at the login page; each process counts failures in memory."""

    cfg = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'd.db'}",
        "SECRET_KEY": "x",
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "REDIS_URL": "redis://127.0.0.1:1/0",
        "ARGON2_MEMORY_COST": 1024,
        "ARGON2_TIME_COST": 1,
        "LOGIN_LIMIT_PER_ACCOUNT": "3/minute",
    }
    down = create_app(cfg)
    with down.app_context():
        db.create_all()
        create_user("parent", phone="0912000555")
        db.session.commit()
    try:
        web = down.test_client()
        codes = [
            web.post("/auth/login", data={"login": "0912000666", "password": "not it at all"}).status_code
            for _ in range(4)
        ]
        assert codes == [200, 200, 200, 429], codes
        ok = web.post("/auth/login", data={"login": "0912000555", "password": PASSWORD})
        assert ok.status_code == 302
    finally:
        limiter._storage_dead = False  # the limiter is module-level: later apps start afresh
        with down.app_context():
            db.session.remove()
            db.drop_all()


def test_client_address_comes_from_the_trusted_proxy_only(tmp_path):
    """Behind a load balancer (TRUSTED_PROXIES=1) each visitor has an own per-IP limit and the
    audit log records the visitor's address; without it X-Forwarded-For is ignored, so nobody
    escapes the limit by forging the header."""

    def failures(web, forwarded_for):
        c = web.test_client()
        return [
            c.post(
                "/auth/login",
                data={"login": f"09120007{i:02d}", "password": "not it at all"},
                headers={"X-Forwarded-For": ip},
            ).status_code
            for i, ip in enumerate(forwarded_for)
        ]

    base = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'x.db'}",
        "SECRET_KEY": "x",
        "TESTING": True,
        "WTF_CSRF_ENABLED": False,
        "ARGON2_MEMORY_COST": 1024,
        "ARGON2_TIME_COST": 1,
        "LOGIN_LIMIT_PER_IP": "2/minute",
        "RATELIMIT_STORAGE_URI": "memory://",
    }
    behind_lb = create_app(dict(base, TRUSTED_PROXIES=1))
    with behind_lb.app_context():
        db.create_all()
        create_user("parent", phone="0912000777")
        db.session.commit()
    try:
        # Three visitors, two failures each: nobody is throttled by the others' mistakes.
        assert failures(behind_lb, ["203.0.113.1", "203.0.113.2", "203.0.113.3"] * 2) == [200] * 6
        resp = behind_lb.test_client().post(
            "/auth/login",
            data={"login": "0912000777", "password": PASSWORD},
            headers={"X-Forwarded-For": "203.0.113.9"},
        )
        assert resp.status_code == 302
        with behind_lb.app_context():
            entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.login"))
            assert entry.ip == "203.0.113.9"
        direct = create_app(dict(base, TRUSTED_PROXIES=0))
        # Forged headers do not help a direct client: the third failure is throttled.
        assert failures(direct, ["198.51.100.1", "198.51.100.2", "198.51.100.3"]) == [200, 200, 429]
    finally:
        with behind_lb.app_context():
            db.session.remove()
            db.drop_all()


def test_audit_filter_takes_only_action_characters(client, world):
    """A NUL or markup in the filter is dropped (PostgreSQL refuses NUL in text: it was a 500)."""
    admin = world["users"]["city_admin"]
    client.login_as(admin)
    resp = client.get("/admin/audit?action=%20User.Login%00%3C%3E%25")
    assert resp.status_code == 200
    page = resp.get_data(as_text=True)
    assert (
        'value="user.login"' in page
        and '<td>Đăng nhập vào tài khoản<br><small class="hint">user.login</small></td>' in page
    )


def test_login_with_a_nul_byte_is_simply_not_found(client):
    resp = client.post_form("/auth/login", {"login": "ad\x00min@example.vn", "password": "x" * 10})
    assert resp.status_code == 200
