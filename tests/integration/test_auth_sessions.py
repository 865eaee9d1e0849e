"""The sessions page: the account's own sessions (device in words, the start of the address, last
seen, this device marked), logging out one of them or every other, audited; nobody else's."""

from __future__ import annotations

import sqlalchemy as sa

from app.auth.devices import device_label, ip_prefix
from app.extensions import db
from app.models import AuditLog, UserSession
from tests.factories import create_user

ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/131.0.0.0 Mobile Safari/537.36"
)
IPHONE_SAFARI = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)
WINDOWS_COCCOC = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "coc_coc_browser/130.0.0 Chrome/124.0.0.0 Safari/537.36"
)


def _login_from(make_client, user, agent: str, address: str):
    c = make_client()
    c.c.environ_base.update({"HTTP_USER_AGENT": agent, "REMOTE_ADDR": address})
    c.login_as(user)
    return c


def test_device_and_place_in_plain_words(app):
    with app.test_request_context(headers={"Accept-Language": "vi"}):
        assert device_label(ANDROID_CHROME) == "Chrome trên Android"
        assert device_label(IPHONE_SAFARI) == "Safari trên iPhone"
        assert device_label(WINDOWS_COCCOC) == "Cốc Cốc trên Windows"
        assert device_label("") == "Thiết bị không rõ"
    assert ip_prefix("203.113.145.7") == "203.113.x.x"
    assert ip_prefix("::ffff:203.113.145.7") == "203.113.x.x"
    assert ip_prefix("2001:0db8:85a3:0000:0000:8a2e:0370:7334") == "2001:db8:85a3:…"
    assert ip_prefix("not an address") == ip_prefix(None) == ""


def test_the_page_lists_the_accounts_sessions_without_whole_addresses(app, make_client):
    user = create_user("parent")
    other = create_user("parent")
    db.session.commit()
    phone = _login_from(make_client, user, ANDROID_CHROME, "203.113.145.7")
    _login_from(make_client, user, IPHONE_SAFARI, "14.161.22.33")
    _login_from(make_client, other, WINDOWS_COCCOC, "113.160.1.2")
    page = phone.get("/auth/sessions")
    assert page.status_code == 200
    html = page.get_data(as_text=True)
    assert "Chrome trên Android" in html and "Safari trên iPhone" in html
    assert "203.113.x.x" in html and "14.161.x.x" in html
    assert "203.113.145.7" not in html and "14.161.22.33" not in html
    assert "Cốc Cốc" not in html and "113.160" not in html  # another account's session
    assert html.count("Thiết bị này") == 1
    # This device comes first.
    assert html.index("Chrome trên Android") < html.index("Safari trên iPhone")


def test_log_out_everywhere_else_keeps_this_device(app, make_client):
    user = create_user("teacher")
    db.session.commit()
    here = _login_from(make_client, user, ANDROID_CHROME, "203.113.145.7")
    there = _login_from(make_client, user, IPHONE_SAFARI, "14.161.22.33")
    third = _login_from(make_client, user, WINDOWS_COCCOC, "113.160.1.2")
    resp = here.post_form("/auth/sessions/others", token_from="/auth/sessions")
    assert resp.status_code == 302
    assert here.get("/auth/sessions").status_code == 200
    for gone in (there, third):
        assert gone.get("/auth/sessions").status_code == 302  # back to the login page
    assert db.session.scalar(sa.select(sa.func.count()).where(UserSession.user_id == user.id)) == 1
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.sessions_ended"))
    assert entry.actor_id == user.id and entry.details == {"count": 2}


def test_log_out_one_session_and_never_anothers(app, make_client):
    user, stranger = create_user("parent"), create_user("parent")
    db.session.commit()
    here = _login_from(make_client, user, ANDROID_CHROME, "203.113.145.7")
    there = _login_from(make_client, user, IPHONE_SAFARI, "14.161.22.33")
    theirs = _login_from(make_client, stranger, WINDOWS_COCCOC, "113.160.1.2")
    ids = dict(db.session.execute(sa.select(UserSession.user_agent, UserSession.id)).all())
    # Someone else's session, and this browser's own: not found.
    assert (
        here.post_form(f"/auth/sessions/{ids[WINDOWS_COCCOC]}/end", token_from="/auth/sessions").status_code
        == 404
    )
    assert (
        here.post_form(f"/auth/sessions/{ids[ANDROID_CHROME]}/end", token_from="/auth/sessions").status_code
        == 404
    )
    assert theirs.get("/auth/sessions").status_code == 200
    resp = here.post_form(f"/auth/sessions/{ids[IPHONE_SAFARI]}/end", token_from="/auth/sessions")
    assert resp.status_code == 302
    assert there.get("/auth/sessions").status_code == 302
    assert here.get("/auth/sessions").status_code == 200
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.session_ended"))
    assert entry.target_id == str(user.id) and entry.details == {"session_id": ids[IPHONE_SAFARI]}


def test_the_page_adds_no_write_per_request(app, make_client):
    """Last seen moves at most once a minute: opening the page again writes nothing."""
    user = create_user("parent")
    db.session.commit()
    c = _login_from(make_client, user, ANDROID_CHROME, "203.113.145.7")
    c.get("/auth/sessions")
    before = db.session.scalar(sa.select(UserSession.last_seen_at).where(UserSession.user_id == user.id))
    c.get("/auth/sessions")
    after = db.session.scalar(sa.select(UserSession.last_seen_at).where(UserSession.user_id == user.id))
    assert before == after
