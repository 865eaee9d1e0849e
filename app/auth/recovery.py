"""Forgot password, for every account (parents and staff): a one-time code sent by SMS to the
account's phone, then a new password; every other session of the account ends.

The page answers the same whether or not the phone number or email names an account: an unknown
number gets an SMS saying it has no account; an email or a number without an account that can
receive SMS gets nothing (a staff account without a phone asks its administrator).
"""

from __future__ import annotations

from ..audit import audit
from ..models import CodePurpose, PhoneCode, User, utcnow
from ..security import normalize_phone
from .services import end_all_sessions, find_by_login, passwords
from .verification import CodeError, check, issue


def start_reset(login: str) -> PhoneCode:
    """The code row the browser waits on (always one, so that every answer looks alike)."""
    user = find_by_login(login)
    if user is not None and user.active and user.phone:
        return issue(CodePurpose.RESET, user.phone, user=user, sms="reset")
    phone = normalize_phone(login) if user is None else None
    return issue(CodePurpose.RESET, phone or "", sms="no_account" if phone else None)


def finish_reset(row: PhoneCode | None, code: str, password: str) -> User:
    """Check the code, then set the new password: the phone is proven, other sessions end.
    Raises CodeError; a code sent to no account is never right (nobody was told it)."""
    check(row, code)
    user = row.user
    if user is None or not user.active or user.phone != row.phone:
        raise CodeError("expired")
    user.password_hash = passwords().hash(password)
    user.phone_verified_at = utcnow()
    end_all_sessions(user)
    audit("user.password_reset", user, actor_id=user.id)
    return user
