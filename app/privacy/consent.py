"""Consents: given per purpose under a version of the privacy notice, withdrawable (flush only)."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import current_app, request
from flask_babel import lazy_gettext as _l

from ..audit import audit
from ..extensions import db
from ..models import utcnow
from .models import Consent

ADMISSIONS, CONTACT_BOOK, EMAIL, CHILD_CONTACT_BOOK = (
    "admissions",
    "contact_book",
    "email",
    "child_contact_book",
)


@dataclass(frozen=True)
class Purpose:
    name: str
    label: object
    effect: object  # what withdrawing does, in plain words
    optional: bool


PURPOSES = {
    ADMISSIONS: Purpose(
        ADMISSIONS,
        _l("Admissions: your children's applications, their documents and results"),
        _l(
            "The school and the office can no longer process new applications from this account. Applications already decided are kept for the retention period the law sets."
        ),
        False,
    ),
    CONTACT_BOOK: Purpose(
        CONTACT_BOOK,
        _l("Contact book: grades, comments, attendance and messages about your children"),
        _l(
            "You no longer receive contact-book notifications. The school still keeps the school record it is required to keep."
        ),
        False,
    ),
    EMAIL: Purpose(
        EMAIL,
        _l("Email channel: notifications sent to your email address"),
        _l(
            "We stop sending you emails at once. Notifications still reach your inbox in the app (and urgent ones by SMS)."
        ),
        True,
    ),
}

LABELS = {name: p.label for name, p in PURPOSES.items()} | {
    CHILD_CONTACT_BOOK: _l("Your child's own consent (contact book)")
}

# What the notice field on the registration and activation forms is called.
FIELD = "privacy_notice"


def notice_version() -> str:
    return current_app.config["PRIVACY_NOTICE_VERSION"]


def notice_accepted(form) -> bool:
    """The privacy notice's box was ticked on `form`'s page; else an error on the form."""
    if not form.is_submitted():
        return False
    if request.form.get(FIELD) == notice_version():
        return True
    form.form_errors.append(_l("Read the privacy notice and tick the box to agree to it."))
    return False


def active(user_id: int, purpose: str, subject: str | None = None) -> Consent | None:
    q = sa.select(Consent).where(
        Consent.user_id == user_id,
        Consent.purpose == purpose,
        Consent.subject.is_(None) if subject is None else Consent.subject == subject,
        Consent.withdrawn_at.is_(None),
    )
    return db.session.scalars(q.order_by(Consent.id.desc()).limit(1)).first()


def give(user_id: int, purpose: str, subject: str | None = None) -> Consent:
    """Record a consent under the current notice (nothing new when one is already given)."""
    row = active(user_id, purpose, subject)
    if row is not None and row.notice_version == notice_version():
        return row
    if row is not None:
        row.withdrawn_at = utcnow()  # superseded by the consent to the new version
    row = Consent(user_id=user_id, purpose=purpose, subject=subject, notice_version=notice_version())
    db.session.add(row)
    db.session.flush()
    audit("privacy.consent_given", row, actor_id=user_id, purpose=purpose)
    return row


def withdraw(user_id: int, purpose: str, subject: str | None = None) -> bool:
    row = active(user_id, purpose, subject)
    if row is None:
        return False
    row.withdrawn_at = utcnow()
    audit("privacy.consent_withdrawn", row, actor_id=user_id, purpose=purpose)
    return True


def history(user_id: int) -> list[Consent]:
    return list(
        db.session.scalars(
            sa.select(Consent).where(Consent.user_id == user_id).order_by(Consent.given_at, Consent.id)
        )
    )


def email_withdrawn(user_id_column) -> sa.ColumnElement[bool]:
    """SQL: the user of `user_id_column` withdrew the email channel (their last email consent is
    withdrawn and none is active). Notification routing drops the email address then."""
    withdrawn = sa.exists().where(
        Consent.user_id == user_id_column, Consent.purpose == EMAIL, Consent.withdrawn_at.is_not(None)
    )
    given = sa.exists().where(
        Consent.user_id == user_id_column, Consent.purpose == EMAIL, Consent.withdrawn_at.is_(None)
    )
    return sa.and_(withdrawn, sa.not_(given))
