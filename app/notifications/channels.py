"""Delivery channels: email over SMTP (MAIL_URL, via app.mail), SMS through an HTTP gateway
(SMS_GATEWAY_URL), in-app (the delivery row itself). Without a URL a channel writes to the log.

Each send returns None on success or raises `SendError(transient, code, message)`: transient
errors are retried with backoff, permanent ones recorded (rules.smtp_is_transient / http_is_transient).
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import smtplib
import time
import urllib.error
import urllib.request
from email.message import EmailMessage

from flask import current_app

from ..mail import MAIL_POLICY, smtp_client
from . import rules

log = logging.getLogger(__name__)


class SendError(Exception):
    def __init__(self, transient: bool, code: int | None, message: str):
        super().__init__(message)
        self.transient = transient
        self.code = code
        self.message = message

    def __str__(self) -> str:
        return f"{self.code or '-'} {self.message}"[:300]


def message_id(kind: str, key: str) -> str:
    """A stable Message-ID per delivery: a retried message carries the same id, so a mailbox
    (and the test sink) recognises a duplicate of the same delivery."""
    domain = current_app.config.get("MAIL_MESSAGE_ID_DOMAIN") or "thongbao.local"
    return f"<{kind}-{key}@{domain}>"


class EmailBody:
    """A rendered email without its per-recipient headers, serialised once and reused for every
    recipient who gets the same text (one school notice to thousands of families)."""

    def __init__(self, subject: str, text: str, html: str | None):
        msg = EmailMessage(policy=MAIL_POLICY)
        msg["From"] = current_app.config["MAIL_SENDER"]
        msg["Subject"] = subject
        msg.set_content(text)
        if html:
            msg.add_alternative(html, subtype="html")
        self.sender = email.utils.parseaddr(current_app.config["MAIL_SENDER"])[1] or "no-reply@localhost"
        self.raw = msg.as_bytes()
        self.subject, self.text, self.html = subject, text, html

    def for_recipient(self, to: str, msg_id: str) -> bytes:
        date = email.utils.formatdate(usegmt=True)
        if to.isascii() and "\r" not in to and "\n" not in to:
            head = f"To: {to}\r\nMessage-ID: {msg_id}\r\nDate: {date}\r\n".encode("ascii")
            return head + self.raw
        msg = EmailMessage(policy=MAIL_POLICY)  # rare: internationalised address, build it fully
        msg["From"], msg["To"], msg["Subject"] = current_app.config["MAIL_SENDER"], to, self.subject
        msg["Message-ID"], msg["Date"] = msg_id, date
        msg.set_content(self.text)
        if self.html:
            msg.add_alternative(self.html, subtype="html")
        return msg.as_bytes()


class EmailChannel:
    """One SMTP connection reused for a whole chunk; reconnects once after a dropped connection."""

    def __init__(self):
        self.url = current_app.config.get("MAIL_URL")
        self.client: smtplib.SMTP | None = None
        self.unreachable: SendError | None = None  # set when a connection cannot be opened

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self) -> None:
        if self.client is not None:
            try:
                self.client.quit()
            except (smtplib.SMTPException, OSError):
                self.client.close()
            self.client = None

    def _connect(self) -> smtplib.SMTP:
        if self.client is None:
            try:
                self.client = smtp_client(self.url)
            except smtplib.SMTPResponseException as err:
                self.unreachable = SendError(True, err.smtp_code, _text(err.smtp_error))
                raise self.unreachable from err
            except (OSError, smtplib.SMTPException) as err:
                self.unreachable = SendError(True, None, f"connect: {err}")
                raise self.unreachable from err
        return self.client

    def send(self, sender: str, to: str, raw: bytes) -> None:
        if not self.url:
            log.info("email (MAIL_URL unset) to=%s %d bytes", to, len(raw))
            return
        for attempt in (1, 2):
            client = self._connect()
            try:
                client.ehlo_or_helo_if_needed()
                pipelined = client.has_extn("pipelining") and _plain(sender) and _plain(to)
                if pipelined:
                    # RFC 2920: MAIL, RCPT and DATA in one write, then their three replies.
                    client.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{to}>\r\nDATA\r\n".encode("ascii"))
                    replies = [client.getreply(), client.getreply(), client.getreply()]
                else:
                    replies = [client.mail(sender)]
                    if replies[0][0] == 250:
                        replies.append(client.rcpt(to))
            except (smtplib.SMTPServerDisconnected, OSError) as err:
                # Before the message body nothing can have been delivered: reconnect, try once more.
                self._drop()
                if attempt == 2:
                    raise SendError(True, None, f"disconnected: {err}") from err
                continue
            bad = next(((c, r) for c, r in replies[:2] if c not in (250, 251)), None)
            if bad is not None:
                if pipelined and replies[2][0] == 354:
                    self._end_data(client, b"")  # the server took DATA anyway: send an empty end
                self._reset()
                raise SendError(rules.smtp_is_transient(bad[0]), bad[0], _text(bad[1]))
            try:
                if pipelined:
                    if replies[2][0] != 354:
                        self._reset()
                        raise SendError(
                            rules.smtp_is_transient(replies[2][0]), replies[2][0], _text(replies[2][1])
                        )
                    code, resp = self._end_data(client, raw)
                else:
                    code, resp = client.data(raw)
            except smtplib.SMTPResponseException as err:
                self._reset()
                raise SendError(
                    rules.smtp_is_transient(err.smtp_code), err.smtp_code, _text(err.smtp_error)
                ) from err
            except (smtplib.SMTPException, OSError) as err:
                # The connection broke after the message was sent: the server may have it. Retry
                # later (same Message-ID), never at once.
                self._drop()
                raise SendError(True, None, f"after DATA: {err}") from err
            if code != 250:
                self._reset()
                raise SendError(rules.smtp_is_transient(code), code, _text(resp))
            return

    @staticmethod
    def _end_data(client: smtplib.SMTP, raw: bytes) -> tuple[int, bytes]:
        q = smtplib._quote_periods(raw) if raw else b""  # noqa: SLF001 - the same dot-stuffing as smtplib.data
        if q and q[-2:] != b"\r\n":
            q += b"\r\n"
        client.send(q + b".\r\n")
        return client.getreply()

    def _drop(self) -> None:
        if self.client is not None:
            with contextlib.suppress(OSError):
                self.client.close()
        self.client = None

    def _reset(self) -> None:
        try:
            if self.client is not None:
                self.client.rset()
        except (smtplib.SMTPException, OSError):
            self._drop()


def _plain(address: str) -> bool:
    """An address safe to write into a pipelined command as is (no CR/LF, <, >, spaces, non-ASCII)."""
    return address.isascii() and not any(ch in address for ch in "\r\n<> ")


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


class SmsChannel:
    """POST {"to", "text", "reference"} as JSON to SMS_GATEWAY_URL with an Idempotency-Key header.

    2xx = accepted; no answer, 5xx, 408, 429 = transient; other 4xx = permanent (bad number…).
    """

    def __init__(self):
        self.url = current_app.config.get("SMS_GATEWAY_URL")
        self.timeout = current_app.config.get("SMS_GATEWAY_TIMEOUT", 10)
        if self.url and not self.url.startswith(("http://", "https://")):
            raise ValueError("SMS_GATEWAY_URL must be an http(s) URL")

    def send(self, phone: str, text: str, reference: str) -> None:
        if not self.url:
            log.info("sms (SMS_GATEWAY_URL unset) to=%s ref=%s: %s", phone, reference, text)
            return
        body = json.dumps({"to": phone, "text": text, "reference": reference}).encode()
        req = urllib.request.Request(  # noqa: S310 - http(s) only
            self.url,
            data=body,
            method="POST",
            headers={
                "Content-Type": "application/json",
                "Idempotency-Key": reference,
            },
        )
        token = current_app.config.get("SMS_GATEWAY_TOKEN")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        started = time.monotonic()
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as resp:  # noqa: S310 - http(s) only, checked above
                resp.read()
        except urllib.error.HTTPError as err:
            detail = err.read(200).decode("utf-8", "replace")
            raise SendError(rules.http_is_transient(err.code), err.code, detail or err.reason) from err
        except (TimeoutError, urllib.error.URLError, OSError) as err:
            raise SendError(True, None, f"gateway unreachable: {err}") from err
        finally:
            log.debug("sms gateway %.0f ms", (time.monotonic() - started) * 1000)
