"""Jobs of the shared app (run by app.jobs.run_job in a worker or in-process)."""

from __future__ import annotations

import logging

from flask import render_template
from flask_babel import force_locale, gettext

from .extensions import db
from .mail import send_email
from .models import User, utcnow

log = logging.getLogger(__name__)


def send_welcome_email(user_id: int) -> bool:
    """Tell a new staff member their account exists. Idempotent: sends at most once per user."""
    user = db.session.get(User, user_id, with_for_update=True)
    if user is None or not user.email or user.welcome_sent_at is not None:
        return False
    with force_locale(user.locale or "vi"):
        subject = gettext("Your account on Admissions & Contact Book")
        text = render_template("emails/welcome.txt", user=user)
        html = render_template("emails/welcome.html", user=user)
    send_email(user.email, subject, text, html)
    user.welcome_sent_at = utcnow()
    return True
