"""Errors, health, languages, headers and the demo district."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
import sqlalchemy as sa
from flask_babel import force_locale, format_datetime, format_decimal

from admissions.models import Catchment, RosterEntry
from app.config import env_bool
from app.demo import DEMO_PASSWORD
from app.extensions import db
from app.extensions import db as ext_db
from app.models import School, User
from tests.factories import create_user


def test_healthz_reports_database_and_redis(client, app):
    resp = client.get("/healthz")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["database"] == "ok" and body["status"] == "ok"
    assert body["redis"] == ("ok" if app.config["REDIS_URL"] else "disabled")


def test_healthz_503_when_redis_unreachable(client, app):
    app.config["REDIS_URL"] = "redis://127.0.0.1:1/0"
    app.extensions.pop("redis", None)
    resp = client.get("/healthz")
    assert resp.status_code == 503
    assert resp.get_json()["redis"] == "error"
    app.extensions.pop("redis", None)


def test_healthz_503_when_the_database_does_not_answer(client, app, tmp_path):
    broken = sa.create_engine(f"sqlite:///{tmp_path}/missing-dir/nothing.db")  # cannot open
    engines = ext_db._app_engines[app]  # swap the app's engine for the one that fails
    real = engines[None]
    engines[None] = broken
    try:
        resp = client.get("/healthz")
    finally:
        engines[None] = real
    assert resp.status_code == 503
    assert resp.get_json()["database"] == "error" and resp.get_json()["status"] == "error"


def test_404_page_is_friendly_and_localized(client):
    resp = client.get("/khong-co-trang-nay")
    assert resp.status_code == 404
    page = resp.get_data(as_text=True)
    assert 'lang="vi"' in page and "Traceback" not in page
    assert "Không tìm thấy" in page


def test_500_page_hides_the_error(app, client):
    @app.route("/boom-test")
    def boom():  # pragma: no cover - body raises
        raise RuntimeError("secret internals")

    boom.access_public = True
    resp = client.get("/boom-test")
    assert resp.status_code == 500
    page = resp.get_data(as_text=True)
    assert "secret internals" not in page and "Traceback" not in page
    assert "lỗi" in page.lower()
    # the request's transaction was rolled back: the page must not promise that anything was kept
    assert "chưa được lưu" in page and "không bị mất" not in page


def test_json_errors_for_api_clients(client):
    resp = client.get("/api/nothing-here", headers={"Accept": "application/json"})
    assert resp.status_code == 404
    assert resp.get_json()["status"] == 404


def test_language_switch_to_english_and_back(client):
    assert "Đăng nhập" in client.get("/auth/login").get_data(as_text=True)
    resp = client.post_form("/lang", {"lang": "en", "next": "/auth/login"}, token_from="/auth/login")
    assert resp.headers["Location"] == "/auth/login"
    page = client.get("/auth/login").get_data(as_text=True)
    assert 'lang="en"' in page and "Log in" in page
    client.post_form("/lang", {"lang": "vi", "next": "/auth/login"}, token_from="/auth/login")
    assert 'lang="vi"' in client.get("/auth/login").get_data(as_text=True)


def test_language_switch_ignores_unknown_language_and_foreign_redirect(client):
    resp = client.post_form("/lang", {"lang": "xx", "next": "https://evil.example/"}, token_from="/")
    assert resp.headers["Location"] == "/"
    assert 'lang="vi"' in client.get("/").get_data(as_text=True)


def test_logged_in_user_language_is_remembered(make_client):
    user = create_user("teacher")
    db.session.commit()
    c1 = make_client()
    c1.login_as(user)
    c1.post_form("/lang", {"lang": "en", "next": "/home"}, token_from="/home")
    c2 = make_client()
    c2.login_as(user)
    assert 'lang="en"' in c2.get("/home").get_data(as_text=True)


def test_dates_and_numbers_formatted_for_vietnam(app):
    with app.test_request_context("/"), force_locale("vi"):
        # 17:30 UTC is 00:30 the next day in Hanoi (UTC+7).
        text = format_datetime(datetime(2026, 6, 30, 17, 30), "dd/MM/yyyy HH:mm")
        assert text == "01/07/2026 00:30"
        assert format_decimal(1234567.5) == "1.234.567,5"


def test_security_headers_and_cookie_flags(app, client):
    resp = client.get("/auth/login")
    assert "script-src 'self'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY"
    cookie = resp.headers.get("Set-Cookie", "")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert app.config["SESSION_COOKIE_HTTPONLY"]

    assert env_bool("SURELY_UNSET_VARIABLE", True) is True  # Secure cookies unless COOKIE_SECURE=0


def test_no_inline_script_in_pages(client):
    for path in ["/", "/auth/login", "/auth/register"]:
        page = client.get(path).get_data(as_text=True)
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page), path
        assert not re.search(r"\son[a-z]+=\"", page), path


def test_static_assets_are_local(client):
    page = client.get("/").get_data(as_text=True)
    for url in re.findall(r'(?:href|src)="([^"]+)"', page):
        assert not url.startswith(("http://", "https://", "//")), url
    assert client.get("/static/css/app.css").status_code == 200
    assert client.get("/static/js/app.js").status_code == 200


def test_demo_load_is_complete_and_idempotent(runner, app):
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    counts = lambda: (  # noqa: E731
        db.session.scalar(sa.select(sa.func.count(School.id))),
        db.session.scalar(sa.select(sa.func.count(User.id))),
        db.session.scalar(sa.select(sa.func.count(Catchment.id))),
        db.session.scalar(sa.select(sa.func.count(RosterEntry.id))),
    )
    after_first = counts()
    schools, users, catchments, roster = after_first
    assert schools == 10 and users >= 5 and catchments > 20 and 450 <= roster <= 600
    levels = set(db.session.scalars(sa.select(School.level)))
    assert levels == {"kindergarten", "grade1", "grade6"}
    assert set(db.session.scalars(sa.select(User.role))) >= {
        "parent",
        "teacher",
        "school_staff",
        "district_officer",
        "city_admin",
    }
    # catchments by whole ward and by residential group
    assert db.session.scalar(sa.select(sa.func.count()).where(Catchment.residential_group_id.is_(None))) > 0
    assert (
        db.session.scalar(sa.select(sa.func.count()).where(Catchment.residential_group_id.is_not(None))) > 0
    )
    assert "0912345678" in first.output and "admin@demo.edu.vn" in first.output
    second = runner.invoke(args=["demo", "load"])
    assert second.exit_code == 0
    db.session.expire_all()
    assert counts() == after_first


@pytest.mark.parametrize("login", ["admin@demo.edu.vn", "0912345678", "gv.lan@demo.edu.vn"])
def test_demo_logins_work(runner, client, login):
    runner.invoke(args=["demo", "load"])
    client.login(login, DEMO_PASSWORD)
    assert client.get("/home").status_code == 200


ERROR_TITLES = {  # code: (Vietnamese, English) title of the friendly page
    400: ("Yêu cầu không hợp lệ", "Bad request"),
    403: ("Không được phép", "Not allowed"),
    404: ("Không tìm thấy", "Not found"),
    429: ("Quá nhiều lần thử", "Too many attempts"),
    500: ("Đã xảy ra lỗi", "Something went wrong"),
}


@pytest.mark.parametrize("lang", ["vi", "en"])
@pytest.mark.parametrize("code", sorted(ERROR_TITLES))
def test_error_pages_are_friendly_and_localized(app, client, code, lang):
    @app.route("/boom-localized")
    def boom_localized():  # pragma: no cover - body raises
        raise RuntimeError("secret internals")

    boom_localized.access_public = True
    app.config["LOGIN_LIMIT_PER_IP"] = "1/minute"  # (an account's failures slow it down: the login form)
    if lang == "en":
        client.post_form("/lang", {"lang": "en", "next": "/"}, token_from="/")
    if code == 400:
        resp = client.post("/lang", data={"csrf_token": "forged", "lang": "vi"})
    elif code == 403:
        user = create_user("parent")
        db.session.commit()
        client.login_as(user)
        resp = client.get("/admin/users")
    elif code == 404:
        resp = client.get("/khong-co-trang-nay")
    elif code == 429:
        for _ in range(2):
            resp = client.post_form("/auth/login", {"login": "0912000888", "password": "not it at all"})
    else:
        resp = client.get("/boom-localized")
    assert resp.status_code == code
    page = resp.get_data(as_text=True)
    title = ERROR_TITLES[code][0 if lang == "vi" else 1]
    assert f'lang="{lang}"' in page and title in page, page[-1500:]
    assert "Traceback" not in page and "secret internals" not in page
    assert 'href="/"' in page or 'href="/home"' in page  # a way back


def test_form_fields_carry_no_none_attributes(client):
    page = client.post_form("/auth/register", {"full_name": "", "phone": "x"}).get_data(as_text=True)
    assert '="None"' not in page
    assert 'aria-invalid="true"' in page
    assert page.count("autofocus") == 1
