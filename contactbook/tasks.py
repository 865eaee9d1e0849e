"""Contact book jobs (run by app.jobs.run_job: one transaction each, idempotent, ids only)."""

from __future__ import annotations

from flask import render_template
from flask_babel import force_locale, gettext

from app.extensions import db
from app.mail import send_email
from app.models import User, utcnow

from . import activation
from .notify import activation_url


def send_staff_activation(user_id: int) -> bool:
    """Email a teacher created by an import a one-time code to set a password.

    Idempotent: nothing is sent to an account that has a password already or was sent one
    (welcome_sent_at); a retried job after a failed send issues a fresh code.
    """
    user = db.session.get(User, user_id, with_for_update=True)
    if user is None or not user.email or user.password_hash is not None or user.welcome_sent_at is not None:
        return False
    code = activation.issue_code(user)
    with force_locale(user.locale or "vi"):
        subject = gettext("Activate your account on Tuyển sinh & Sổ liên lạc")
        ctx = {
            "user": user,
            "code": activation.format_code(code),
            "url": activation_url(),
            "days": activation.CODE_DAYS,
        }
        text = render_template("contactbook/emails/activation.txt", **ctx)
        html = render_template("contactbook/emails/activation.html", **ctx)
    send_email(user.email, subject, text, html)
    user.welcome_sent_at = utcnow()
    return True
