"""The login and sign-up pages are rendered once and served with each visitor's own CSRF token
(app.pagecache); anything personal is rendered as before."""

from __future__ import annotations

import re

import pytest
from flask import template_rendered

from tests.factories import PASSWORD, create_user
from tests.sms import last_code

TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')


@pytest.fixture
def parent(app):
    return create_user("parent", phone="0912000777")


def _tokens(html: str) -> set[str]:
    return set(TOKEN.findall(html))


def test_each_visitor_gets_the_page_with_a_token_of_her_own_that_works(app, make_client, parent):
    a, b = make_client(), make_client()
    page_a = a.get("/auth/login").get_data(as_text=True)
    page_b = b.get("/auth/login").get_data(as_text=True)
    (token_a,), (token_b,) = _tokens(page_a), _tokens(page_b)
    assert token_a != token_b
    assert page_a.replace(token_a, "T") == page_b.replace(token_b, "T")
    assert "\x00" not in page_b
    # Each token is its own session's: b's page posts with b's token, not with a's.
    resp = b.post("/auth/login", data={"csrf_token": token_a, "login": parent.phone, "password": "x"})
    assert resp.status_code == 400  # the CSRF check refused a's token in b's session
    resp = b.post("/auth/login", data={"csrf_token": token_b, "login": parent.phone, "password": PASSWORD})
    assert resp.status_code == 302


def test_the_page_is_rendered_once(app, make_client):
    rendered = []
    with template_rendered.connected_to(
        lambda sender, template, context, **kw: rendered.append(template.name), app
    ):
        for _ in range(3):
            assert make_client().get("/auth/login").status_code == 200
    assert rendered == ["auth/login.html"]


def test_the_sign_up_page_too(app, make_client):
    a, b = make_client(), make_client()
    pages = [c.get("/auth/register").get_data(as_text=True) for c in (a, b)]
    tokens = [next(iter(_tokens(p))) for p in pages]
    assert tokens[0] != tokens[1]
    assert pages[0].replace(tokens[0], "T") == pages[1].replace(tokens[1], "T")
    assert 'name="privacy_notice"' in pages[1]


def test_a_message_a_query_string_and_the_language_are_not_mixed_up(app, make_client, parent):
    c = make_client()
    c.get("/auth/login")  # the cached copy exists
    c.login(parent.phone)
    resp = c.post_form("/auth/logout", {}, token_from="/home")
    assert resp.status_code == 302
    after = c.get("/auth/login").get_data(as_text=True)
    assert "flash" in after  # "You have logged out." is shown, not the cached page
    assert "flash" not in c.get("/auth/login").get_data(as_text=True)  # shown once

    nxt = c.get("/auth/login?next=/children").get_data(as_text=True)
    assert 'value="/auth/login?next=/children"' in nxt  # the language form comes back here

    vi = c.get("/auth/login").get_data(as_text=True)
    c.post_form("/lang", {"lang": "en", "next": "/auth/login"}, token_from="/auth/login")
    en = c.get("/auth/login").get_data(as_text=True)
    assert '<html lang="en"' in en and '<html lang="vi"' in vi
    assert "Log in" in en


def test_the_code_page_after_signing_up_shows_each_family_its_own_number(app, make_client):
    rendered = []
    pages, clients = [], []
    with template_rendered.connected_to(
        lambda sender, template, context, **kw: rendered.append(template.name), app
    ):
        for phone in ("0912000101", "0912000202"):
            c = make_client()
            resp = c.post_form(
                "/auth/register",
                {"full_name": "Lê Thị Mẹ", "phone": phone, "password": PASSWORD, "confirm": PASSWORD},
            )
            assert resp.headers["Location"] == "/auth/verify"
            pages.append(c.get("/auth/verify").get_data(as_text=True))
            clients.append((c, phone))
    assert rendered.count("auth/verify.html") == 1  # the second family's page came from the copy
    assert "091****101" in pages[0] and "091****202" in pages[1] and "091****101" not in pages[1]
    assert "\x00" not in pages[0] + pages[1]
    (t0,), (t1,) = _tokens(pages[0]), _tokens(pages[1])
    assert pages[0].replace(t0, "T").replace("101", "N") == pages[1].replace(t1, "T").replace("202", "N")
    assert 'href="/auth/register"' in pages[1]  # the sign-up's own line ("Wrong number? Start again")
    for c, phone in clients:  # each family's code goes through its own cached page's form
        resp = c.post_form("/auth/verify", {"code": last_code(phone)})
        assert resp.status_code == 302 and resp.headers["Location"] == "/home"


def test_a_wrong_code_is_rendered_with_its_error_as_before(app, make_client):
    c = make_client()
    c.post_form(
        "/auth/register",
        {"full_name": "Lê Mẹ", "phone": "0912000303", "password": PASSWORD, "confirm": PASSWORD},
    )
    code = last_code("0912000303")
    wrong = "000000" if code != "000000" else "111111"
    resp = c.post_form("/auth/verify", {"code": wrong})
    assert resp.status_code == 422 and "091****303" in resp.get_data(as_text=True)
    assert c.post_form("/auth/verify", {"code": code}).status_code == 302
