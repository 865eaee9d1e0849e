"""Hostile and malformed input: a clear localized message, never a 500, nothing stored half-way."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import AuditLog, User
from tests.factories import create_school, create_user
from tests.integration.test_route_access import build_url, foreign_ids, rules
from tests.sms import last_code, texts_to

HOSTILE = [
    "<script>alert(1)</script>",
    '\'; DROP TABLE "user"; --',
    "' OR '1'='1",
    '=HYPERLINK("http://evil")',
    "@SUM(1+1)",
    "\x00\x01\x02",
    "ｔｅｓｔ" * 50,
    "a" * 5000,
    "{{ 7*7 }}",
    "../../etc/passwd",
]


def _count(model):
    return db.session.scalar(sa.select(sa.func.count(model.id)))


@pytest.mark.parametrize("value", HOSTILE)
def test_register_form_rejects_hostile_values_in_every_field(client, value):
    fields = {
        "full_name": "Nguyễn Văn An",
        "phone": "0912000222",
        "password": "mot buoi sang dep troi",
        "confirm": "mot buoi sang dep troi",
    }
    for name in fields:
        data = dict(fields, **{name: value})
        if name == "password":
            data["confirm"] = value
        resp = client.post_form("/auth/register", data)
        assert resp.status_code in (302, 400, 413, 422), (name, resp.status_code)
        page = resp.get_data(as_text=True)
        assert "<script>alert(1)</script>" not in page
        # not evaluated as a template (the page without its CSRF tokens: a random one may hold "49")
        assert "49" not in re.sub(r"<input[^>]*csrf_token[^>]*>", "", page) or value != "{{ 7*7 }}"
        if resp.status_code == 302:
            # Only a password may legitimately be anything long enough (a code was sent).
            assert name == "password", name
    assert _count(User) == 0


@pytest.mark.parametrize("value", HOSTILE)
def test_login_form_hostile_values(client, value):
    resp = client.post_form("/auth/login", {"login": value, "password": value})
    assert resp.status_code in (200, 400, 413, 422)
    assert "<script>alert(1)</script>" not in resp.get_data(as_text=True)


def test_staff_form_hostile_values_store_nothing(client, app):
    admin = create_user("city_admin")
    school = create_school()
    db.session.commit()
    client.login_as(admin)
    base = {
        "full_name": "Lê Thị Mai",
        "email": "mai@example.edu.vn",
        "phone": "",
        "role": "teacher",
        "school_id": str(school.id),
        "district_id": "0",
        "password": "mot hai ba bon nam sau",
    }
    before = _count(User)
    for name in base:
        if name == "password":
            continue  # any long-enough text is a valid password; it is hashed, never shown
        for value in HOSTILE:
            resp = client.post_form("/admin/users/new", dict(base, **{name: value}))
            assert resp.status_code in (400, 413, 422), (name, value[:20], resp.status_code)
    assert _count(User) == before


def test_unknown_choices_and_foreign_school_are_refused(client, world):
    officer = world["users"]["district_officer"]
    client.login_as(officer)
    foreign_school = world["schools"][1]
    base = {
        "full_name": "Lê Thị Mai",
        "email": "mai@example.edu.vn",
        "phone": "",
        "role": "teacher",
        "school_id": str(foreign_school.id),
        "district_id": "0",
        "password": "mot hai ba bon nam sau",
    }
    assert client.post_form("/admin/users/new", base).status_code == 422
    assert client.post_form("/admin/users/new", dict(base, role="city_admin")).status_code == 422
    assert client.post_form("/admin/users/new", dict(base, school_id="abc")).status_code == 422
    assert db.session.scalar(sa.select(User).where(User.email == "mai@example.edu.vn")) is None


def test_duplicated_fields_and_double_submit(client):
    token = client.csrf("/auth/register")
    data = [
        ("csrf_token", token),
        ("full_name", "Nguyễn Văn An"),
        ("full_name", "Trần Văn Bình"),
        ("phone", "0912000333"),
        ("password", "mot buoi sang dep troi"),
        ("confirm", "mot buoi sang dep troi"),
        ("privacy_notice", "2026-12-01"),
    ]

    first = client.post("/auth/register", data=MultiDict(data))
    assert first.status_code == 302
    assert client.post_form("/auth/verify", {"code": last_code("0912000333")}).status_code == 302
    client.post_form("/auth/logout", {}, token_from="/home")
    # The same form sent again (double click, retry): answered alike, the SMS says the number
    # has an account; still one account.
    again = client.post_form("/auth/register", {k: v for k, v in data if k != "csrf_token"})
    assert again.status_code == 302, again.get_data(as_text=True)[-1500:]
    assert "da co tai khoan" in texts_to("0912000333")[-1]  # Vietnamese, folded to ASCII
    assert _count(User) == 1


def test_oversized_form_is_refused_with_413(client, app):
    app.config["MAX_CONTENT_LENGTH"] = 64 * 1024
    token = client.csrf("/auth/register")
    resp = client.post("/auth/register", data={"csrf_token": token, "full_name": "x" * (100 * 1024)})
    assert resp.status_code == 413
    assert "quá lớn" in resp.get_data(as_text=True)


def test_malformed_bodies_do_not_500(client):
    token = client.csrf("/auth/login")
    for body, ctype in [
        (b"\xff\xfe\x00garbage", "application/x-www-form-urlencoded"),
        (b"--x\r\nbroken", "multipart/form-data; boundary=x"),
        (b"{not json", "application/json"),
    ]:
        resp = client.post("/auth/login", data=body, content_type=ctype, headers={"X-CSRFToken": token})
        assert resp.status_code < 500


def _bearer_token_api(app, rule) -> bool:
    """The machine API (app/api) takes a token in a header, never a cookie: CSRF does not apply
    (tests/integration/test_api_access.py checks that each of its calls needs the token)."""
    return hasattr(app.view_functions[rule.endpoint], "api_write")


def test_missing_csrf_on_every_post_route(app, client, world):
    client.login_as(world["users"]["city_admin"])
    for rule in app.url_map.iter_rules():
        if "POST" in rule.methods and not rule.arguments and not _bearer_token_api(app, rule):
            resp = client.post(rule.rule, data={})
            assert resp.status_code == 400, rule.rule


def test_forged_or_foreign_csrf_token_on_every_post_route(app, make_client, world):
    """Every POST route, with or without URL arguments: a made-up token, or a real token taken
    from someone else's session, is refused with the localized 400 page and stores nothing."""

    ids = foreign_ids(world)
    victim, attacker = make_client(), make_client()
    victim.login_as(world["users"]["city_admin"])
    attacker.login_as(world["users"]["parent"])
    foreign_token = attacker.csrf("/home")
    before = _count(AuditLog)
    tried = 0
    for rule in rules(app):
        if "POST" not in rule.methods or _bearer_token_api(app, rule):
            continue
        url = build_url(rule, ids)
        for token in ("forged", foreign_token, ""):
            resp = victim.post(url, data={"csrf_token": token, "lang": "en", "next": "/"})
            assert resp.status_code == 400, (url, token[:8], resp.status_code)
            assert "tải lại trang" in resp.get_data(as_text=True).lower(), url
            tried += 1
    assert tried > 30
    assert _count(AuditLog) == before
