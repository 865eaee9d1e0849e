"""Logging in with a code by SMS once failed logins have brought the delay to its cap
(throttle.py): the owner, who holds the phone, gets in at once; a stranger without it does not.

Who needs the code: an active account whose phone is proven, and any phone number without an
account (so that the login page answers alike whether a number has an account). Everyone else
(an account without a proven phone: staff who log in by email, an unknown email address) keeps
the delay only. The code goes to the account's proven phone and is checked with the password:
a wrong code or a wrong password uses one of the code's tries, and the answer does not say which.
Functions flush only; the caller's boundary commits.
"""

from __future__ import annotations

from ..audit import audit
from ..models import CodePurpose, PhoneCode, User
from ..security import normalize_login, normalize_phone
from . import throttle
from .services import find_by_login, passwords
from .verification import CODE_TRIES, CodeError, check, is_proven, issue


def _holder(user: User | None) -> bool:
    return user is not None and user.active and is_proven(user)


def needs_code(login: str) -> bool:
    """At the cap, does this login take a code with the password (rather than the delay)?"""
    user = find_by_login(login)
    if user is None:
        return normalize_phone(normalize_login(login)) is not None
    return _holder(user)


def start(login: str) -> PhoneCode:
    """The code row the browser waits on: sent to the account's phone when it has a proven one;
    otherwise sent nowhere (an unknown number), so that every answer looks alike."""
    user = find_by_login(login)
    payload = {"key": throttle.account_key(login)}
    if _holder(user):
        return issue(CodePurpose.LOGIN, user.phone, user=user, payload=payload, sms="login")
    return issue(CodePurpose.LOGIN, "", payload=payload, sms=None)


def finish(row: PhoneCode | None, code: str, password: str) -> User:
    """The code and the password: the account, its failed logins forgotten; or CodeError."""
    check(row, code)
    user = row.user
    ph = passwords()
    right = _holder(user) and user.phone == row.phone and ph.verify(user.password_hash, password)
    if not right:
        if user is None:
            ph.verify(None, password)  # the same cost either way
        # The code was right, the password not: a try is used, the code stays for the others.
        row.used_at = None
        row.attempts += 1
        raise CodeError("tries" if row.attempts >= CODE_TRIES else "wrong")
    forget_failures(user, (row.payload or {}).get("key"))
    audit("user.login_with_code", user, actor_id=user.id)
    return user


def forget_failures(user: User, *keys: str | None) -> None:
    """The owner proved themselves (a code, a new password): clear the account's failed logins,
    under each name it logs in with."""
    names = {throttle.account_key(n) for n in (user.phone, user.email) if n}
    for key in names.union(k for k in keys if k):
        throttle.succeeded(key)
