"""Forgot password, for every account (parents and staff): a one-time code sent by SMS to the
account's phone, or, for an account without a phone, a link sent to its email address when that
address is trusted (a staff address, set by the account's administrators, or a parent's address
proven by its link); then a new password, and every other session of the account ends.

The page answers the same whether or not the phone number or email names an account: an unknown
number gets an SMS saying it has no account; an unknown email gets nothing.
"""

from __future__ import annotations

import hashlib
from datetime import timedelta

from flask import current_app, render_template, url_for
from flask_babel import force_locale
from flask_babel import gettext as _
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from ..audit import audit
from ..extensions import db
from ..jobs import enqueue_after_commit
from ..mail import send_email
from ..models import STAFF_ROLES, CodePurpose, PhoneCode, User, utcnow
from ..security import normalize_phone
from .lockout import forget_failures
from .services import end_all_sessions, find_by_login, passwords
from .verification import CodeError, check, issue

LINK_VALID = timedelta(hours=1)


def start_reset(login: str) -> PhoneCode:
    """The code row the browser waits on (always one, so that every answer looks alike)."""
    user = find_by_login(login)
    if user is not None and user.active and user.phone:
        return issue(CodePurpose.RESET, user.phone, user=user, sms="reset")
    if user is not None and user.active and _email_trusted(user):
        _send_link(user)
    phone = normalize_phone(login) if user is None else None
    return issue(CodePurpose.RESET, phone or "", sms="no_account" if phone else None)


def _set_password(user: User, password: str) -> None:
    user.password_hash = passwords().hash(password)
    user.must_change_password = False
    user.activation_code_hash = user.activation_expires_at = None
    end_all_sessions(user)
    forget_failures(user)  # the owner proved themselves: no code or delay at the next login
    audit("user.password_reset", user, actor_id=user.id)


def finish_reset(row: PhoneCode | None, code: str, password: str) -> User:
    """Check the code, then set the new password: the phone is proven, other sessions end.
    Raises CodeError; a code sent to no account is never right (nobody was told it)."""
    check(row, code)
    user = row.user
    if user is None or not user.active or user.phone != row.phone:
        raise CodeError("expired")
    user.phone_verified_at = utcnow()
    _set_password(user, password)
    return user


# --- by email, for accounts without a phone --------------------------------------------------


def _email_trusted(user: User) -> bool:
    return bool(user.email) and (user.role in STAFF_ROLES or user.email_verified_at is not None)


def _signer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="reset-link")


def _fingerprint(user: User) -> str:
    # The link dies with the password it replaces: used once, or void after any other change.
    return hashlib.sha256((user.password_hash or "-").encode()).hexdigest()[:16]


def _send_link(user: User) -> None:
    token = _signer().dumps({"u": user.id, "h": _fingerprint(user)})
    link = (current_app.config.get("PUBLIC_URL") or "") + url_for("auth.reset_link", t=token)
    enqueue_after_commit("app.auth.recovery:send_link", user.id, link)
    audit("user.reset_link_sent", user, actor_id=user.id)


def send_link(user_id: int, link: str) -> None:
    """Job: the email with the reset link, in the account's language."""
    user = db.session.get(User, user_id)
    if user is None or not user.active or not user.email:
        return
    with force_locale(user.locale or "vi"):
        subject = _("Choose a new password")
        text = render_template("emails/reset_link.txt", user=user, link=link, minutes=60)
    send_email(user.email, subject, text)


def link_user(token: str) -> User | None:
    """The account a reset link is for, or None (broken, expired, used, closed)."""
    try:
        data = _signer().loads(token or "", max_age=int(LINK_VALID.total_seconds()))
    except (SignatureExpired, BadSignature):
        return None
    if not isinstance(data, dict) or not isinstance(data.get("u"), int):
        return None
    user = db.session.get(User, data["u"])
    if user is None or not user.active or data.get("h") != _fingerprint(user):
        return None
    return user


def finish_link_reset(user: User, password: str) -> None:
    _set_password(user, password)
