"""Parents add an email address, proven by a link sent to it: the address is stored on the
account (and so used by the notification platform's email channel) only once the link is
followed. The link is a token signed with SECRET_KEY (account, address, the address it replaces),
valid 24 hours; a later change of address makes earlier links void.

Functions flush only; the caller's boundary commits.
"""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..audit import audit
from ..extensions import db
from ..jobs import enqueue_after_commit
from ..mail import send_email
from ..models import User, utcnow

LINK_VALID = timedelta(hours=24)


class LinkError(Exception):
    """The link was refused: `reason` is "invalid" (broken, expired, superseded) or "taken"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="email-link")


def start(user: User, email: str) -> None:
    """Send a link to `email` (after the commit); the account's address is unchanged until then."""
    email = email.strip().lower()
    token = _signer().dumps({"u": user.id, "e": email, "p": user.email or ""})
    link = (current_app.config.get("PUBLIC_URL") or "") + url_for("auth.confirm_email", t=token)
    enqueue_after_commit("app.auth.email_link:send_link", user.id, email, link)
    audit("user.email_link_sent", user, actor_id=user.id)


def send_link(user_id: int, email: str, link: str) -> None:
    """Job: the email with the link, in the account's language."""
    user = db.session.get(User, user_id)
    if user is None or not user.active:
        return
    with force_locale(user.locale or "vi"):
        subject = _("Confirm your email address")
        text = render_template("emails/email_link.txt", user=user, link=link, hours=24)
    send_email(email, subject, text)


def read(token: str) -> tuple[User, str]:
    """The account and the address a link confirms, or LinkError."""
    try:
        data = _signer().loads(token or "", max_age=int(LINK_VALID.total_seconds()))
    except (SignatureExpired, BadSignature) as err:
        raise LinkError("invalid") from err
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        raise LinkError("invalid")
    user = db.session.get(User, data["u"])
    email = str(data.get("e", ""))
    if user is None or not user.active or (user.email or "") not in (data.get("p"), email):
        raise LinkError("invalid")  # closed, or the address changed again since the link was sent
    return user, email


def confirm(token: str) -> User:
    user, email = read(token)
    other = db.session.scalar(
        sa.select(User.id).where(sa.func.lower(User.email) == email, User.id != user.id)
    )
    if other is not None:
        raise LinkError("taken")
    user.email = email
    user.email_verified_at = utcnow()
    audit("user.email_verified", user, actor_id=user.id)
    return user
