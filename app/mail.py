"""The mail channel: SMTP at MAIL_URL (smtp://host:port, smtps://…, ?starttls=1), else the log.

Every email the app sends — notifications (app/notifications/channels.py) and the one-off
messages built here — has `From: MAIL_SENDER`, a `Message-ID`, a `Date`, a plain-text part
(and an HTML alternative when there is one), and a subject that mail clients read back with
its spaces (MAIL_POLICY).
"""

from __future__ import annotations

import email.utils
import logging
import smtplib
import ssl
from email.header import Header
from email.message import EmailMessage
from email.policy import EmailPolicy
from urllib.parse import parse_qs, unquote, urlsplit

from flask import current_app

log = logging.getLogger(__name__)


class _SubjectKeepsSpaces(EmailPolicy):
    """The SMTP policy, except how a non-ASCII subject is folded.

    Python's own folding splits a long Vietnamese subject into encoded words separated by the
    folding space itself, and readers drop whitespace between encoded words (RFC 2047 §6.2):
    "nghỉ Tết" arrived as "nghỉTết". Here the subject is encoded whole, every space inside an
    encoded word, and folded between encoded words only."""

    def fold(self, name, value):
        if name.lower() == "subject" and not str(value).isascii():
            encoded = Header(str(value), "utf-8", maxlinelen=self.max_line_length, header_name=name)
            return f"{name}: {encoded.encode(linesep=self.linesep)}{self.linesep}"
        return super().fold(name, value)

    def fold_binary(self, name, value):
        if name.lower() == "subject" and not str(value).isascii():
            return self.fold(name, value).encode("ascii")
        return super().fold_binary(name, value)


# email.policy.SMTP (CRLF, 78 columns) with subjects that keep their spaces.
MAIL_POLICY = _SubjectKeepsSpaces(linesep="\r\n", max_line_length=78)


def sender() -> str:
    """The `From:` of every email (MAIL_SENDER)."""
    return current_app.config["MAIL_SENDER"]


def new_message_id() -> str:
    domain = current_app.config.get("MAIL_MESSAGE_ID_DOMAIN") or "thongbao.local"
    return email.utils.make_msgid(domain=domain)


def build_message(to: str, subject: str, text: str, html: str | None = None) -> EmailMessage:
    msg = EmailMessage(policy=MAIL_POLICY)
    msg["From"] = sender()
    msg["To"] = to
    msg["Subject"] = subject
    msg["Date"] = email.utils.formatdate(usegmt=True)
    msg["Message-ID"] = new_message_id()
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
