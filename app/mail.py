"""The mail channel: SMTP at MAIL_URL (smtp://host:port, smtps://…, ?starttls=1), else the log."""

from __future__ import annotations

import logging
import smtplib
import ssl
from email.message import EmailMessage
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app

log = logging.getLogger(__name__)


def build_message(to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = current_app.config["MAIL_SENDER"]
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content(text)
    if html:
        msg.add_alternative(html, subtype="html")
    return msg


def smtp_client(url: str) -> smtplib.SMTP:
    parts = urlsplit(url)
    options = parse_qs(parts.query)
    if parts.scheme == "smtps":
        client: smtplib.SMTP = smtplib.SMTP_SSL(
            parts.hostname, parts.port or 465, timeout=30, context=ssl.create_default_context()
        )
    elif parts.scheme == "smtp":
        client = smtplib.SMTP(parts.hostname, parts.port or 25, timeout=30)
        if options.get("starttls", ["0"])[0] in ("1", "true"):
            client.starttls(context=ssl.create_default_context())
    else:
        raise ValueError(f"unsupported MAIL_URL scheme {parts.scheme!r}")
    if parts.username:
        client.login(unquote(parts.username), unquote(parts.password or ""))
    return client


def send_email(to: str, subject: str, text: str, html: str | None = None) -> None:
    """Send one message now (jobs call this; requests never do)."""
    msg = build_message(to, subject, text, html)
    url = current_app.config.get("MAIL_URL")
    if not url:
        log.info("email (MAIL_URL unset) to=%s subject=%s\n%s", to, subject, text)
        return
    with smtp_client(url) as client:
        client.send_message(msg)
