"""Parents add an email address, proven by a link sent to it."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app.extensions import db
from app.models import User
from tests.factories import PASSWORD, create_user

LINK = re.compile(r"(/auth/email/confirm\?t=[\w.\-]+)")


def _link(sink, count: int) -> str:
    messages = sink.wait_for(count)
    assert len(messages) >= count
    body = messages[count - 1].get_body(("plain",)).get_content()
    return LINK.search(body).group(1)


def test_a_parent_adds_an_email_that_holds_only_once_the_link_is_opened(
    client, make_client, app, smtp_server, run_jobs
):
    app.config["MAIL_URL"] = smtp_server.url
    parent = create_user("parent")
    db.session.commit()
    client.login_as(parent)
    assert (
        client.post_form("/auth/email", {"email": "me@example.vn", "password": "wrong one"}).status_code
        == 422
    )
    resp = client.post_form("/auth/email", {"email": "Me@Example.vn", "password": PASSWORD})
    assert resp.status_code == 302
    run_jobs()
    link = _link(smtp_server, 1)
    assert smtp_server.messages[0]["To"] == "me@example.vn"
    db.session.refresh(parent)
    assert parent.email is None  # not before the link is opened
    # The link opens on any device; the GET only asks, the POST confirms.
    other = make_client()
    page = other.get(link)
    assert page.status_code == 200 and "me@example.vn" in page.get_data(as_text=True)
    db.session.refresh(parent)
    assert parent.email is None
    assert other.post_form(link, {}).status_code == 302
    db.session.refresh(parent)
    assert parent.email == "me@example.vn" and parent.email_verified_at is not None


def test_a_link_is_void_once_another_address_was_confirmed_or_when_forged(client, app, smtp_server, run_jobs):
    app.config["MAIL_URL"] = smtp_server.url
    parent = create_user("parent")
    db.session.commit()
    client.login_as(parent)
    client.post_form("/auth/email", {"email": "first@example.vn", "password": PASSWORD})
    client.post_form("/auth/email", {"email": "second@example.vn", "password": PASSWORD})
    run_jobs()
    first, second = _link(smtp_server, 1), _link(smtp_server, 2)
    assert client.post_form(second, {}).status_code == 302
    assert client.get(first).status_code == 404  # the address changed since: void
    assert client.get(first[:-3] + "abc").status_code == 404  # forged signature
    db.session.refresh(parent)
    assert parent.email == "second@example.vn"


def test_an_address_of_another_account_is_refused(client, app, smtp_server, run_jobs):
    app.config["MAIL_URL"] = smtp_server.url
    create_user("teacher", email="taken@example.edu.vn")
    parent = create_user("parent")
    db.session.commit()
    client.login_as(parent)
    client.post_form("/auth/email", {"email": "taken@example.edu.vn", "password": PASSWORD})
    run_jobs()
    assert client.post_form(_link(smtp_server, 1), {}).status_code == 422
    db.session.refresh(parent)
    assert parent.email is None
    assert (
        db.session.scalar(sa.select(sa.func.count(User.id)).where(User.email == "taken@example.edu.vn")) == 1
    )


def test_an_unproven_parent_cannot_add_an_email(client):
    parent = create_user("parent", phone_verified=False)
    db.session.commit()
    client.login_as(parent)
    assert client.get("/auth/email").headers["Location"] == "/auth/confirm-phone"


RESET_LINK = re.compile(r"(/auth/reset/link\?t=[\w.\-]+)")


def test_staff_without_a_phone_recover_by_an_email_link_that_works_once(
    make_client, app, smtp_server, run_jobs
):
    app.config["MAIL_URL"] = smtp_server.url
    officer = create_user("district_officer")
    db.session.commit()
    assert officer.phone is None
    laptop = make_client()
    laptop.login_as(officer)
    visitor = make_client()
    resp = visitor.post_form("/auth/forgot", {"login": officer.email})
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/reset"
    run_jobs()
    messages = smtp_server.wait_for(1)
    assert messages[0]["To"] == officer.email
    link = RESET_LINK.search(messages[0].get_body(("plain",)).get_content()).group(1)
    assert visitor.get(link).status_code == 200
    new = "mot chieu mua thu ha noi"
    assert visitor.post_form(link, {"password": "short one", "confirm": "short one"}).status_code == 422
    assert visitor.post_form(link, {"password": new, "confirm": new}).status_code == 302
    assert visitor.get("/home").status_code == 200
    assert laptop.get("/home").status_code == 302  # other sessions ended
    assert make_client().get(link).status_code == 404  # once
    make_client().login(officer.email, new)


def test_an_unknown_email_gets_no_link_and_the_same_answer(make_client, app, smtp_server, run_jobs):
    app.config["MAIL_URL"] = smtp_server.url
    resp = make_client().post_form("/auth/forgot", {"login": "nobody@example.edu.vn"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/reset"
    run_jobs()
    assert smtp_server.messages == []
    assert make_client().get("/auth/reset/link?t=forged").status_code == 404
