"""Rendering a notification for one locale: email subject/text/HTML, SMS text, digest.

Templates: templates/emails/notification_<kind>.{txt,html} when present, else
templates/emails/notification.{txt,html}; digests use notification_digest.{txt,html}. Every
message about a child names the child (`child_name`, required by about-child kinds).
"""

from __future__ import annotations

from flask import current_app, render_template
from flask_babel import force_locale, gettext

from . import rules
from .models import Notification


def _locale(locale: str | None) -> str:
    return locale if locale in current_app.config["LANGUAGES"] else current_app.config["BABEL_DEFAULT_LOCALE"]


def subject_for(n: Notification) -> str:
    if n.child_name:
        return gettext("%(child)s: %(title)s", child=n.child_name, title=n.title)
    return n.title


def render_email(n: Notification, locale: str | None) -> tuple[str, str, str]:
    with force_locale(_locale(locale)):
        names = [f"emails/notification_{n.kind}", "emails/notification"]
        ctx = {
            "n": n,
            "c": n.context,
            "child_name": n.child_name,
            "school": n.school,
            "public_url": current_app.config.get("PUBLIC_URL"),
        }
        text = render_template([f"{x}.txt" for x in names], **ctx)
        html = render_template([f"{x}.html" for x in names], **ctx)
        subject = subject_for(n)
        if n.urgent:
            subject = gettext("[Urgent] %(subject)s", subject=subject)
        return subject, text, html


def render_digest_subject(count: int) -> str:
    return gettext("Your daily summary: %(n)d notifications", n=count)


def render_digest(items: list[Notification], locale: str | None) -> tuple[str, str, str]:
    with force_locale(_locale(locale)):
        ctx = {"items": items, "public_url": current_app.config.get("PUBLIC_URL")}
        subject = render_digest_subject(len(items))
        return (
            subject,
            render_template("emails/notification_digest.txt", **ctx),
            render_template("emails/notification_digest.html", **ctx),
        )


def render_sms(n: Notification) -> str:
    return rules.sms_text(n.title, n.child_name, current_app.config.get("PUBLIC_URL"))
