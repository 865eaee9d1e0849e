"""What every page pays, built once instead of on every request (create_app installs these).

- Templates' `url_for` for an endpoint without arguments (and static files by name): the URL is
  the same on every request of a process (no URL defaults in this app; checked when installed),
  so it is built once per endpoint and script root. Anything else (`_external`, arguments, a
  blueprint-relative endpoint, no request) is built as Flask builds it.
- The signed CSRF token: Flask-WTF signs the session's raw token (a timestamp and an HMAC) on
  every page that has a form or the header's forms; the same signature is reused for
  CSRF_REUSE_SECONDS per session token and secret. The protection is the same (the token is the
  session's, checked against it and against its time limit when posted); a token rendered from
  the cache is at most CSRF_REUSE_SECONDS older, out of WTF_CSRF_TIME_LIMIT (8 hours).
- The session cookie: Flask verifies its signature and decodes it (HMAC, base64, zlib, tagged
  JSON) on every request, although a family's cookie stays the same from one change to the next.
  A cookie verified once (under the same keys) whose values are plain (strings, numbers, flags)
  is kept decoded with its signing time, and still refused once older than the session's
  lifetime; any other cookie goes through Flask's own check. The cookie itself is unchanged.
- Flask-Limiter's pass before every request evaluates the application's, default and blueprint
  limits (the decorated ones are checked by their decorators): with none configured, as here,
  the pass is skipped; it runs as before as soon as any is.
"""

from __future__ import annotations

import time

import flask_wtf.csrf
from flask import Flask, current_app, g, session
from flask.globals import _cv_request  # the request context itself, without its proxy
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import BadSignature

CSRF_REUSE_SECONDS = 300.0
_CACHE_LIMIT = 4096  # URLs: endpoints and static files named in templates; tokens: sessions


def install(app: Flask, limiter) -> None:
    app.session_interface = CookieSessions()
    _install_template_url_for(app)
    _install_csrf_reuse(app)
    _skip_idle_limiter_pass(app, limiter)


_PLAIN = (str, int, float, bool, type(None))


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed cookie sessions; a cookie already verified is not verified and decoded
    again while it is within the session's lifetime."""

    def __init__(self):
        self._serializers: dict[tuple, object] = {}
        self._opened: dict[tuple, tuple[dict, int]] = {}

    def get_signing_serializer(self, app: Flask):
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        found = self._serializers.get(keys)
        if found is None:
            found = super().get_signing_serializer(app)
            if found is None:
                return None
            self._serializers = {keys: found}  # one app, one key set: the last one kept
        return found

    def open_session(self, app: Flask, request):
        serializer = self.get_signing_serializer(app)
        if serializer is None:
            return None
        value = request.cookies.get(self.get_cookie_name(app))
        if not value:
            return self.session_class()
        max_age = int(app.permanent_session_lifetime.total_seconds())
        key = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()), value)
        hit = self._opened.get(key)
        if hit is not None and 0 <= int(time.time()) - hit[1] <= max_age:
            return self.session_class(hit[0])
        try:
            data, signed_at = serializer.loads(value, max_age=max_age, return_timestamp=True)
        except BadSignature:
            return self.session_class()
        if isinstance(data, dict) and all(isinstance(v, _PLAIN) for v in data.values()):
            if len(self._opened) >= _CACHE_LIMIT:
                self._opened.clear()
            self._opened[key] = (dict(data), int(signed_at.timestamp()))
        return self.session_class(data)


def _install_template_url_for(app: Flask) -> None:
    if any(app.url_default_functions.values()):
        return  # URLs may differ per request: leave Flask's
    build = app.url_for
    urls: dict[tuple, str] = {}

    def url_for(endpoint: str, **values) -> str:
        if (values and (len(values) > 1 or "filename" not in values)) or endpoint[:1] == ".":
            return build(endpoint, **values)
        ctx = _cv_request.get(None)
        if ctx is None:
            return build(endpoint, **values)
        key = (ctx.request.script_root, endpoint, values.get("filename"))
        url = urls.get(key)
        if url is None:
            url = build(endpoint, **values)
            if len(urls) < _CACHE_LIMIT:
                urls[key] = url
        return url

    app.jinja_env.globals["url_for"] = url_for


_generate_csrf = flask_wtf.csrf.generate_csrf
_signed: dict[tuple, tuple[str, float]] = {}


def generate_csrf(secret_key=None, token_key=None):
    """Flask-WTF's generate_csrf, reusing the signature of the session's token for a while."""
    config = current_app.config
    field = token_key or config.get("WTF_CSRF_FIELD_NAME", "csrf_token")
    if field in g:
        return g.get(field)
    raw = session.get(field)
    if not isinstance(raw, str):
        return _generate_csrf(secret_key, token_key)  # a new session: its token is made there
    key = (secret_key or config.get("WTF_CSRF_SECRET_KEY", current_app.secret_key), field, raw)
    now = time.monotonic()
    hit = _signed.get(key)
    if hit is not None and now - hit[1] < CSRF_REUSE_SECONDS:
        setattr(g, field, hit[0])
        return hit[0]
    token = _generate_csrf(secret_key, token_key)
    if len(_signed) >= _CACHE_LIMIT:
        _signed.clear()
    _signed[key] = (token, now)
    return token


def _install_csrf_reuse(app: Flask) -> None:
    # Forms call the module's function by name (flask_wtf.csrf._FlaskFormCSRF), templates the
    # global CSRFProtect set: both get this one.
    flask_wtf.csrf.generate_csrf = generate_csrf
    app.jinja_env.globals["csrf_token"] = generate_csrf


def _skip_idle_limiter_pass(app: Flask, limiter) -> None:
    hooks = app.before_request_funcs.get(None, [])
    original = limiter._check_request_limit
    if original not in hooks:
        return
    manager = limiter.limit_manager

    def check_request_limits():
        # Read on every request (cheap): limits configured later still apply.
        if (
            manager._application_limits
            or manager._default_limits
            or manager._blueprint_limits
            or limiter._meta_limits
            or limiter._in_memory_fallback
        ):
            return original()
        return None

    hooks[hooks.index(original)] = check_request_limits
