"""Probes against the site as a whole: links planted through the Host header, forged
X-Forwarded-For, huge page numbers, PUBLIC_URL required in production, and the error page when
the database is down."""

from __future__ import annotations

import io
import re

import pytest
import sqlalchemy as sa

from app import create_app, jobs
from app.extensions import db
from app.links import public_url_for
from app.models import AuditLog
from app.notifications import render
from app.notifications.models import Notification
from app.paging import MAX_PAGE, page_number
from contactbook.models import MessageThread
from tests.admissions_factories import create_season, level_of
from tests.factories import PASSWORD, create_user

PUBLIC = "https://so.example.edu.vn"


def _on_host(client, host: str):
    """Send this client's session cookie to requests naming another Host."""
    cookie = client.c.get_cookie("tsll_session")
    client.c.set_cookie("tsll_session", cookie.value, domain=host)


def test_a_forged_host_header_plants_no_link(app, world, cb_world, make_client):
    """A parent writes to the teacher with `Host: evil.example`: the teacher's notification, its
    email and its inbox item link to PUBLIC_URL, never to the forged host."""
    app.config["PUBLIC_URL"] = PUBLIC
    parent = make_client()
    parent.login_as(world["users"]["parent"])
    _on_host(parent, "evil.example")
    url = f"/contactbook/children/{cb_world['child'].id}/messages/new"
    overrides = {"environ_overrides": {"HTTP_HOST": "evil.example"}}
    form = parent.get(url, **overrides)
    assert form.status_code == 200
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', form.get_data(as_text=True)).group(
        1
    )
    sent = parent.post(
        url,
        data={
            "csrf_token": token,
            "body": "Thưa cô, cháu hôm nay hơi mệt.",
            "recipient": str(world["users"]["teacher"].id),
            "files": [(io.BytesIO(b""), "")],
        },
        content_type="multipart/form-data",
        **overrides,
    )
    assert sent.status_code == 302, sent.get_data(as_text=True)[-800:]
    thread = db.session.scalar(sa.select(MessageThread))
    n = db.session.scalar(sa.select(Notification).order_by(Notification.id.desc()))
    assert n.context["url"] == f"{PUBLIC}/contactbook/threads/{thread.id}"
    subject, text, html = render.render_email(n, "vi")
    assert "evil.example" not in text + html
    assert f"{PUBLIC}/contactbook/threads/{thread.id}" in text
    teacher = make_client()
    teacher.login_as(world["users"]["teacher"])
    inbox = teacher.get("/notifications/").get_data(as_text=True)
    item = re.search(r'href="/notifications/(\d+)"', inbox).group(1)
    page = teacher.get(f"/notifications/{item}").get_data(as_text=True)
    assert f'href="{PUBLIC}/contactbook/threads/{thread.id}"' in page and "evil.example" not in page


def test_absolute_links_follow_public_url_with_or_without_a_request(app):
    app.config["PUBLIC_URL"] = "https://so.example.edu.vn/tsll"
    assert public_url_for("notifications.inbox") == "https://so.example.edu.vn/tsll/notifications/"
    with app.test_request_context("/", headers={"Host": "evil.example"}):
        assert public_url_for("notifications.inbox") == "https://so.example.edu.vn/tsll/notifications/"
    app.config["PUBLIC_URL"] = None  # a demo without it: a path on this site
    with app.test_request_context("/", headers={"Host": "evil.example"}):
        assert public_url_for("notifications.inbox") == "/notifications/"


def _prod(tmp_path, **cfg):
    base = {
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'p.db'}",
        "SECRET_KEY": "x",
        "SESSION_COOKIE_SECURE": True,
        "TESTING": False,
        "DEBUG": False,
    }
    return create_app({**base, **cfg})


def test_production_refuses_to_start_without_public_url(tmp_path):
    with pytest.raises(RuntimeError, match="PUBLIC_URL is not set"):
        _prod(tmp_path, PUBLIC_URL=None)
    with pytest.raises(RuntimeError, match="is not an http"):
        _prod(tmp_path, PUBLIC_URL="so.example.edu.vn")
    with pytest.raises(RuntimeError, match="MAIL_SENDER is not set"):
        _prod(tmp_path, PUBLIC_URL=PUBLIC, MAIL_URL="smtp://mail.internal:25")
    assert _prod(tmp_path, PUBLIC_URL=PUBLIC, MAIL_URL="smtp://m:25", MAIL_SENDER="Phòng GD <a@so.vn>")
    # The demo (plain http, COOKIE_SECURE=0) and the tests start without it.
    assert _prod(tmp_path, PUBLIC_URL=None, SESSION_COOKIE_SECURE=False)


def test_forwarded_for_is_believed_only_from_the_trusted_proxy(app, app_config):
    """TRUSTED_PROXIES=1 with the balancer at 10.0.0.5: its X-Forwarded-For names the visitor; the
    same header from any other peer is ignored (the audit log records the socket's address)."""
    web = create_app(
        {**app_config, "TRUSTED_PROXIES": 1, "TRUSTED_PROXY_ADDRESSES": "10.0.0.5, 192.0.2.0/28"}
    )
    with web.app_context():
        phone = create_user("parent").phone
        jobs.commit()

    def login_ip(peer: str, forwarded: str) -> str:
        c = web.test_client()
        c.environ_base["REMOTE_ADDR"] = peer
        resp = c.post(
            "/auth/login",
            data={"login": phone, "password": PASSWORD, "csrf_token": _token(c)},
            headers={"X-Forwarded-For": forwarded},
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)[-500:]
        with web.app_context():
            entry = db.session.scalar(
                sa.select(AuditLog).where(AuditLog.action == "user.login").order_by(AuditLog.id.desc())
            )
            return entry.ip

    assert login_ip("10.0.0.5", "203.0.113.9") == "203.0.113.9"
    assert login_ip("192.0.2.7", "203.0.113.10") == "203.0.113.10"
    assert login_ip("198.51.100.4", "203.0.113.11") == "198.51.100.4"  # not a proxy: ignored
    assert login_ip("127.0.0.1", "203.0.113.12") == "127.0.0.1"  # not in this list either
    with pytest.raises(ValueError, match="TRUSTED_PROXY_ADDRESSES"):
        create_app({**app_config, "TRUSTED_PROXIES": 1, "TRUSTED_PROXY_ADDRESSES": "10.0.0.300"})


def _token(c) -> str:
    page = c.get("/auth/login").get_data(as_text=True)
    return re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)


HUGE = [str(10**25), "-" + str(10**25), "1e9", "99999999999999999999", "0", "x"]


@pytest.mark.parametrize("page", HUGE)
def test_every_list_takes_any_page_number(world, make_client, page):
    season = create_season()
    jobs.commit()
    level = level_of(season)
    admin, officer = make_client(), make_client()
    admin.login_as(world["users"]["city_admin"])
    officer.login_as(world["users"]["district_officer"])
    district = world["districts"][0]
    for client, url in (
        (admin, "/admin/users"),
        (admin, "/admin/audit"),
        (officer, f"/admissions/office/districts/{district.id}/levels/{level.id}/eligible"),
        (officer, "/notifications/"),
    ):
        resp = client.get(f"{url}?page={page}")
        assert resp.status_code == 200, (url, page, resp.get_data(as_text=True)[-400:])


def test_page_numbers_are_clamped_by_one_rule():
    assert [page_number(v) for v in (None, "", "x", "0", "-5", "3", " 7 ", "1e3")] == [1, 1, 1, 1, 1, 3, 7, 1]
    assert page_number(str(10**25)) == MAX_PAGE and MAX_PAGE * 1000 < 2**63


def _signed_in_cookie(web) -> str:
    """A session cookie that names a login session, as a signed-in visitor's browser has."""
    c = web.test_client()
    with c.session_transaction() as s:
        s["_user_id"] = "a-session-token"
        s["_fresh"] = True
    return c.get_cookie("tsll_session").value


def test_with_postgresql_down_the_error_page_is_vietnamese(app, app_config):
    """A signed-in visitor, PostgreSQL unreachable (nothing listens on the port): every page
    answers a friendly 500 in Vietnamese that needed no database, never Werkzeug's English one."""
    down = create_app(
        {**app_config, "SQLALCHEMY_DATABASE_URI": "postgresql+psycopg://postgres@127.0.0.1:9/none"}
    )
    cookie = _signed_in_cookie(down)
    c = down.test_client()
    c.set_cookie("tsll_session", cookie)
    for path in ("/home", "/notifications/", "/contactbook/", "/admin/users"):
        resp = c.get(path)
        page = resp.get_data(as_text=True)
        assert resp.status_code == 500, (path, page[-300:])
        assert 'lang="vi"' in page and "Đã xảy ra lỗi" in page, page
        assert "Internal Server Error" not in page and "Traceback" not in page
        assert 'href="/"' in page
    # A visitor who chose English gets it in English.
    with c.session_transaction() as s:
        s["lang"] = "en"
    page = c.get("/home").get_data(as_text=True)
    assert 'lang="en"' in page and "Something went wrong" in page


def test_when_the_database_fails_mid_session_the_error_page_needs_none(app, make_client):
    """The engine starts failing after login (every statement raises): the page is still ours."""
    user = create_user("teacher")
    jobs.commit()
    client = make_client()
    client.login_as(user)

    def refuse(*args, **kwargs):
        raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))

    sa.event.listen(db.engine, "before_cursor_execute", refuse)
    try:
        resp = client.get("/home")
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", refuse)
    page = resp.get_data(as_text=True)
    assert resp.status_code == 500 and "Đã xảy ra lỗi" in page and 'lang="vi"' in page, page[-500:]
