"""Absolute links to this site, for emails, SMS, printed sheets and stored notifications.

Always built from the configured `PUBLIC_URL`, never from the request: a request's Host header
is whatever the client sent (`Host: evil.example` once planted `https://evil.example/…` in a
teacher's inbox and email). Without PUBLIC_URL (a local demo or a test; production refuses to
start without it, `check_production_config`) links are paths on this site.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from flask import Flask, current_app


def public_base() -> str:
    return (current_app.config.get("PUBLIC_URL") or "").rstrip("/")


def public_url_for(endpoint: str, **values) -> str:
    """`url_for(endpoint, **values)` as an absolute URL under PUBLIC_URL; works in jobs and
    commands too (no request needed)."""
    base = public_base()
    parts = urlsplit(base)
    adapter = current_app.url_map.bind(
        parts.netloc or "localhost", script_name=parts.path or "/", url_scheme=parts.scheme or "http"
    )
    path = adapter.build(endpoint, values)  # a path including PUBLIC_URL's own path, if any
    return f"{parts.scheme}://{parts.netloc}{path}" if base else path


def public_link(path: str) -> str:
    """A path on this site (`/contactbook/…`) as an absolute URL under PUBLIC_URL."""
    return public_base() + "/" + path.lstrip("/")


def check_production_config(app: Flask) -> None:
    """Refuse to start a production app whose links would be wrong; a clear message says why.

    Production is an app with Secure cookies (served over https) and neither TESTING nor DEBUG:
    the demo (`scripts/run`, COOKIE_SECURE=0) and the tests need none of this."""
    cfg = app.config
    if cfg.get("TESTING") or cfg.get("DEBUG") or not cfg.get("SESSION_COOKIE_SECURE"):
        return
    problems = []
    url = cfg.get("PUBLIC_URL") or ""
    parts = urlsplit(url)
    if not url:
        problems.append(
            "PUBLIC_URL is not set: set it to the site's address as families reach it, e.g. "
            "PUBLIC_URL=https://tuyensinh.example.edu.vn (the links of emails, SMS and "
            "notifications are built from it)."
        )
    elif parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        problems.append(
            f"PUBLIC_URL={url!r} is not an http(s) address such as https://tuyensinh.example.edu.vn."
        )
    if cfg.get("MAIL_URL") and cfg.get("MAIL_SENDER", "").rstrip(">").endswith("@localhost"):
        problems.append(
            "MAIL_SENDER is not set: with MAIL_URL set, emails need a real sender, e.g. "
            'MAIL_SENDER="Phòng GD&ĐT <no-reply@tuyensinh.example.edu.vn>".'
        )
    if problems:
        raise RuntimeError(
            "Configuration incomplete for production (docs/configuration.md):\n- " + "\n- ".join(problems)
        )
