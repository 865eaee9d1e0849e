"""Contact book jobs (run by app.jobs.run_job: one transaction each, idempotent, ids only)."""

from __future__ import annotations

import logging
from datetime import timedelta

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
        ctx = {
            "user": user,
            "code": services.format_code(code),
            "url": activation_url(),
            "days": services.CODE_DAYS,
        }
        text = render_template("contactbook/emails/activation.txt", **ctx)
        html = render_template("contactbook/emails/activation.html", **ctx)
    send_email(user.email, subject, text, html)
    user.welcome_sent_at = utcnow()
    return True


def _write(notice) -> int:
    written = services.write_guardian_notices(
        notice.event,
        notice.pupil_ids,
        notice.context or {},
        sender_id=notice.sender_id,
        school_id=notice.school_id,
        urgent=notice.urgent,
    )
    db.session.delete(notice)
    return written


def send_notice(notice_id: int) -> int:
    """Turn one PendingNotice into its per-child notifications and delete it (one transaction:
    a duplicate or retried job finds no row and writes nothing). Then hands any notices left
    behind by a Redis outage to the queue again. Returns the number of notifications written."""
    import sqlalchemy as sa

    from app import jobs

    from .models import PendingNotice

    notice = db.session.get(PendingNotice, notice_id, with_for_update=True)
    written = _write(notice) if notice is not None else 0
    stale = list(
        db.session.scalars(
            sa.select(PendingNotice.id)
            .where(
                PendingNotice.id != notice_id,
                PendingNotice.created_at <= utcnow() - timedelta(seconds=services.NOTICE_STALE_SECONDS),
            )
            .order_by(PendingNotice.id)
            .limit(100)
        )
    )
    if stale:
        log.info("re-queueing %d contact book notices left behind", len(stale))
        jobs.enqueue_many_after_commit(send_notice, [[i] for i in stale], recoverable=True)
    return written


def relay_notices(stale_seconds: float = 0) -> int:
    """Send now (in this process) every pending notice older than `stale_seconds`; each in its own
    transaction. For `flask --app app contactbook relay` after a Redis outage. Returns how many."""
    import sqlalchemy as sa

    from app import jobs

    from .models import PendingNotice

    ids = list(
        db.session.scalars(
            sa.select(PendingNotice.id)
            .where(PendingNotice.created_at <= utcnow() - timedelta(seconds=stale_seconds))
            .order_by(PendingNotice.id)
        )
    )
    db.session.rollback()
    done = 0
    for notice_id in ids:
        try:
            notice = db.session.get(PendingNotice, notice_id, with_for_update=True)
            if notice is not None:
                _write(notice)
                done += 1
            jobs.commit()
        except Exception:
            jobs.rollback()
            log.exception("contact book notice %s could not be sent", notice_id)
    return done


def notify_pupils_guardians(
    event: str,
    pupil_ids: list[int],
    context: dict,
    sender_id: int | None,
    school_id: int | None,
    urgent: bool = False,
) -> int:
    """Kept for jobs queued before the contact book wrote its notifications in the request's
    transaction: the same notifications, written by this job."""
    return services.write_guardian_notices(
        event, pupil_ids, context, sender_id=sender_id, school_id=school_id, urgent=urgent
    )
