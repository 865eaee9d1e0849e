"""Contact book jobs (run by app.jobs.run_job: one transaction each, idempotent, ids only)."""
from __future__ import annotations

import logging

from flask import current_app, render_template, url_for
from flask_babel import force_locale, gettext

from app.extensions import db
from app.mail import send_email
from app.models import User, utcnow

from . import services

log = logging.getLogger(__name__)


def activation_url() -> str:
    """The activation page's address: absolute when the server name is configured."""
    try:
        return url_for("contactbook.activate", _external=True)
    except RuntimeError:
        base = current_app.config.get("PUBLIC_URL") or ""
        return base.rstrip("/") + "/contactbook/activate"


def send_staff_activation(user_id: int) -> bool:
    """Email a teacher created by an import a one-time code to set a password.

    Idempotent: nothing is sent to an account that has a password already or was sent one
    (welcome_sent_at); a retried job after a failed send issues a fresh code.
    """
    user = db.session.get(User, user_id, with_for_update=True)
    if user is None or not user.email or user.password_hash is not None or user.welcome_sent_at is not None:
        return False
    code = services.issue_code(user)
    with force_locale(user.locale or "vi"):
        subject = gettext("Activate your account on Tuyển sinh & Sổ liên lạc")
        ctx = {"user": user, "code": services.format_code(code), "url": activation_url(),
               "days": services.CODE_DAYS}
        text = render_template("contactbook/emails/activation.txt", **ctx)
        html = render_template("contactbook/emails/activation.html", **ctx)
    send_email(user.email, subject, text, html)
    user.welcome_sent_at = utcnow()
    return True


EVENT_TITLES = {
    "grade_published": lambda c: gettext("New grades in %(subject)s (term %(term)s)", **c),
    "grade_changed": lambda c: gettext("A published grade in %(subject)s was changed", **c),
    "absence_marked": lambda c: gettext("Absence recorded on %(day)s", **c),
    "late_marked": lambda c: gettext("Late arrival recorded on %(day)s", **c),
    "absence_decided": lambda c: gettext("Your absence request has been answered"),
    "comment_added": lambda c: gettext("New comment from the teacher"),
}


def notify_pupils_guardians(event: str, pupil_ids: list[int], context: dict, sender_id: int | None,
                            school_id: int | None, urgent: bool = False) -> int:
    """One notification per child and language to the child's guardians (two queries to load)."""
    import sqlalchemy as sa

    from .models import Guardian, Pupil

    rows = db.session.execute(
        sa.select(Pupil.id, Pupil.full_name, User.id, User.locale)
        .join(Guardian, Guardian.pupil_id == Pupil.id).join(User, User.id == Guardian.user_id)
        .where(Pupil.id.in_(pupil_ids), User.active.is_(True))).all()
    groups: dict[tuple[int, str, str], list[int]] = {}
    for pupil_id, name, user_id, locale in rows:
        groups.setdefault((pupil_id, name, locale or "vi"), []).append(user_id)
    sent = 0
    for (pupil_id, name, locale), user_ids in groups.items():
        with force_locale(locale):
            title = EVENT_TITLES[event](context)
        try:
            url = url_for("contactbook.child", pupil_id=pupil_id, _external=True)
        except RuntimeError:
            url = (current_app.config.get("PUBLIC_URL") or "").rstrip("/") + f"/contactbook/children/{pupil_id}"
        services.notify_users("contact_book", user_ids, {"title": title, "child_name": name, "url": url,
                                                         "body": context.get("body", "")},
                              sender_id=sender_id, school_id=school_id, urgent=urgent)
        sent += 1
    return sent
