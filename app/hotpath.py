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
- Flask-Limiter's pass before every request evaluates the application's, default and blueprint
  limits (the decorated ones are checked by their decorators): with none configured, as here,
  the pass is skipped; it runs as before as soon as any is.
"""

from __future__ import annotations

import time

import flask_wtf.csrf
from flask import Flask, current_app, g, has_request_context, request, session

CSRF_REUSE_SECONDS = 300.0
_CACHE_LIMIT = 4096  # URLs: endpoints and static files named in templates; tokens: sessions


def install(app: Flask, limiter) -> None:
    _install_template_url_for(app)
    _install_csrf_reuse(app)
    _skip_idle_limiter_pass(app, limiter)


def _install_template_url_for(app: Flask) -> None:
    if any(app.url_default_functions.values()):
        return  # URLs may differ per request: leave Flask's
    build = app.url_for
    urls: dict[tuple, str] = {}

    def url_for(endpoint: str, **values) -> str:
        if (values and (len(values) > 1 or "filename" not in values)) or endpoint[:1] == ".":
            return build(endpoint, **values)
        if not has_request_context():
            return build(endpoint, **values)
        key = (request.script_root, endpoint, values.get("filename"))
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
