"""What every page pays, built once (app.hotpath, app.i18n): the same URLs as Flask builds, the
same CSRF protection with the token's signature reused for a while, the limiter's pass skipped
only while no application, default or blueprint limit is configured, and templates' `_()` writing
what Jinja's own wrappers write."""

from __future__ import annotations

import re
import time

import flask
import jinja2
import pytest
from flask import render_template_string
from flask_babel import force_locale, lazy_gettext
from flask_limiter import ApplicationLimit

from app import hotpath, i18n
from app.authz import public
from app.extensions import csrf, limiter

TOKEN = re.compile(r'name="csrf_token"(?: type="hidden")? value="([^"]+)"')

URLS = (
    "{{ url_for('static', filename='css/app.css') }} {{ url_for('core.home') }} "
    "{{ url_for('core.home', tab='x') }} {{ url_for('core.home', _external=True) }} "
    "{{ url_for('auth.login') }}"
)


@pytest.mark.parametrize("root", ["", "/tsll"])
def test_template_urls_are_flasks(app, root):
    for _ in range(2):  # built, then from the cache
        with app.test_request_context("/", base_url=f"http://example.test{root}/"):
            rendered = render_template_string(URLS)
            expected = " ".join(
                (
                    flask.url_for("static", filename="css/app.css"),
                    flask.url_for("core.home"),
                    flask.url_for("core.home", tab="x"),
                    flask.url_for("core.home", _external=True),
                    flask.url_for("auth.login"),
                )
            )
        assert rendered == expected
        assert rendered.startswith(f"{root}/static/")


def test_the_csrf_token_is_reused_per_session_and_still_checked(app, client, monkeypatch):
    signed = []
    sign = hotpath._generate_csrf
    monkeypatch.setattr(hotpath, "_generate_csrf", lambda *a: signed.append(1) or sign(*a))
    client.get("/auth/login")  # a new session: its raw token made and signed
    first = TOKEN.search(client.get("/auth/login").get_data(as_text=True)).group(1)
    again = TOKEN.search(client.get("/auth/login").get_data(as_text=True)).group(1)
    assert again == first and len(signed) == 2  # then signed once, reused
    other = app.test_client()
    assert TOKEN.search(other.get("/auth/login").get_data(as_text=True)).group(1) != first
    # Posting is checked as before: another session's token, or none, is refused.
    assert other.post("/lang", data={"lang": "en", "csrf_token": first}).status_code == 400
    assert client.post("/lang", data={"lang": "en"}).status_code == 400
    assert client.post("/lang", data={"lang": "en", "csrf_token": first}).status_code == 302
    monkeypatch.setattr(hotpath, "CSRF_REUSE_SECONDS", 0.0)
    signed.clear()
    fresh = TOKEN.search(client.get("/auth/login").get_data(as_text=True)).group(1)
    assert len(signed) == 1  # signed again once the reuse has lapsed
    assert client.post("/lang", data={"lang": "vi", "csrf_token": fresh}).status_code == 302


def test_the_limiters_pass_runs_once_a_limit_is_configured(app, client, monkeypatch):
    @public
    def plain():
        return "ok"

    app.add_url_rule("/_hot/plain", "hot_plain", csrf.exempt(plain))
    assert client.get("/_hot/plain").status_code == 200
    group = ApplicationLimit(limit_provider="2/minute").bind(limiter)
    monkeypatch.setattr(limiter.limit_manager, "_application_limits", [group])
    statuses = [client.get("/_hot/plain").status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_template_gettext_writes_what_jinjas_writes(app):
    source = (
        '{{ _("Log out") }}|{{ _("Hello, %(name)s", name="<b>An</b>") }}|{{ gettext("100%% free") }}'
        "|{% trans %}Log out{% endtrans %}|{{ label }}"
    )
    with app.test_request_context("/"):
        fast = render_template_string(source, label=lazy_gettext("Log out"))
        with force_locale("en"):
            english = render_template_string(source, label=lazy_gettext("Log out"))
        # Jinja's own alias and newstyle wrappers, over the same catalog
        jinja = jinja2.Environment(extensions=["jinja2.ext.i18n"], autoescape=True)
        jinja.install_gettext_callables(
            gettext=lambda s: i18n.translations().ugettext(s),
            ngettext=lambda s, p, n: i18n.translations().ungettext(s, p, n),
            newstyle=True,
        )
        expected = jinja.from_string(source).render(label=lazy_gettext("Log out"))
    assert fast == expected
    assert fast.startswith("Đăng xuất|") and "&lt;b&gt;An&lt;/b&gt;" in fast and "100% free" in fast
    assert fast.endswith("|Đăng xuất|Đăng xuất")
    assert english.startswith("Log out|Hello, &lt;b&gt;An&lt;/b&gt;|") and english.endswith("|Log out")


def test_a_session_cookie_opened_again_is_checked_as_flask_checks_it(app, monkeypatch):
    interface = app.session_interface
    assert isinstance(interface, hotpath.CookieSessions)
    cookie = (
        flask.sessions.SecureCookieSessionInterface()
        .get_signing_serializer(app)
        .dumps({"_user_id": "7", "_fresh": True, "csrf_token": "abc"})
    )
    name = app.config["SESSION_COOKIE_NAME"]

    def opened(value):
        with app.test_request_context("/", headers={"Cookie": f"{name}={value}"}) as ctx:
            return dict(interface.open_session(app, ctx.request))

    assert opened(cookie) == {"_user_id": "7", "_fresh": True, "csrf_token": "abc"}
    with app.test_request_context("/", headers={"Cookie": f"{name}={cookie}"}) as ctx:
        session = interface.open_session(app, ctx.request)
        session["_user_id"] = "8"  # a request's changes stay its own
    assert opened(cookie)["_user_id"] == "7"  # from the cache
    assert opened(cookie[:-2] + ("AA" if not cookie.endswith("AA") else "BB")) == {}  # forged
    lifetime = app.permanent_session_lifetime.total_seconds()
    later = time.time() + lifetime + 5
    monkeypatch.setattr(time, "time", lambda: later)
    assert opened(cookie) == {}  # expired, although seen before


def test_hooks_found_plain_once_stay_plain_and_coroutines_still_go_to_flask(app):
    def plain():
        return "plain"

    async def coroutine():
        return "awaited"

    assert app.ensure_sync(plain) is plain and app.ensure_sync(plain) is plain
    for _ in range(2):  # handed to Flask's async support each time (not installed here)
        with pytest.raises(RuntimeError, match="async"):
            app.ensure_sync(coroutine)
    assert plain in app._plain_functions and coroutine not in app._plain_functions
