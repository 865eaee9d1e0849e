"""Account activation: one-time codes for the accounts an import created without a password
(guardians get theirs on a printed class sheet, teachers by email), checking a code and setting
the first password."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.audit import audit
from app.auth.services import find_by_login, passwords
from app.extensions import db
from app.jobs import enqueue_after_commit
from app.models import STAFF_ROLES, Role, School, User, utcnow
from app.security import MAX_PASSWORD, password_problem

from .models import ActivationCode, Enrolment, Guardian, Pupil, SchoolClass

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off paper
CODE_LENGTH = 8
CODE_DAYS = 30


def normalize_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def _code_hash(user_id: int, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"activation:{user_id}:{normalize_code(code)}".encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def issue_code(
    user: User, *, class_id: int | None = None, created_by_id: int | None = None, days: int = CODE_DAYS
) -> str:
    """A fresh one-time code for `user` (stored as an HMAC). Earlier unused codes issued for the
    same class (or, without a class, by email) stop working; codes printed for another class of
    the same family stay valid until one of them is used."""
    db.session.execute(
        sa.delete(ActivationCode).where(
            ActivationCode.user_id == user.id,
            ActivationCode.used_at.is_(None),
            ActivationCode.class_id.is_(None) if class_id is None else ActivationCode.class_id == class_id,
        )
    )
    code = new_code()
    db.session.add(
        ActivationCode(
            user_id=user.id,
            code_hash=_code_hash(user.id, code),
            class_id=class_id,
            created_by_id=created_by_id,
            expires_at=utcnow() + timedelta(days=days),
        )
    )
    return code


@dataclass
class SheetLine:
    pupil: Pupil
    guardian: User
    code: str | None  # None: the account is already active


def issue_class_codes(cls: SchoolClass, actor: User) -> list[SheetLine]:
    """Codes for every guardian of the class who has not activated an account yet (one printed
    sheet per class). Batched: a fixed number of statements whatever the class size."""
    rows = db.session.execute(
        sa.select(Pupil, User)
        .join(Enrolment, Enrolment.pupil_id == Pupil.id)
        .join(Guardian, Guardian.pupil_id == Pupil.id)
        .join(User, User.id == Guardian.user_id)
        .where(Enrolment.class_id == cls.id)
        .order_by(Pupil.full_name, Pupil.id, User.full_name)
    ).all()
    pending = {u.id for _, u in rows if u.password_hash is None and u.active}
    if pending:
        db.session.execute(
            sa.delete(ActivationCode).where(
                ActivationCode.user_id.in_(sorted(pending)),
                ActivationCode.class_id == cls.id,
                ActivationCode.used_at.is_(None),
            )
        )
    codes: dict[int, str] = {}
    expires = utcnow() + timedelta(days=CODE_DAYS)
    for user_id in sorted(pending):
        codes[user_id] = new_code()
    if codes:
        db.session.execute(
            sa.insert(ActivationCode),
            [
                {
                    "user_id": uid,
                    "code_hash": _code_hash(uid, c),
                    "class_id": cls.id,
                    "created_by_id": actor.id,
                    "expires_at": expires,
                    "created_at": utcnow(),
                }
                for uid, c in codes.items()
            ],
        )
    audit("contactbook.activation_codes", cls, issued=len(codes))
    return [SheetLine(p, u, codes.get(u.id)) for p, u in rows]


def pending_teachers(school: School) -> list[User]:
    """The school's teachers who have not set a password yet (one query)."""
    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.school_id == school.id,
                User.role == Role.TEACHER,
                User.password_hash.is_(None),
                User.active.is_(True),
            )
            .order_by(User.full_name, User.id)
        )
    )


def resend_staff_activation(teacher: User) -> bool:
    """Email a not-yet-activated teacher a fresh one-time code after the commit (the earlier
    emailed code stops working). False when the account is active already or has no email."""
    if teacher.password_hash is not None or not teacher.active or not teacher.email:
        return False
    teacher.welcome_sent_at = None
    enqueue_after_commit("contactbook.tasks:send_staff_activation", teacher.id)
    audit("contactbook.activation_resent", teacher)
    return True


def check_code(login: str, code: str) -> tuple[User, ActivationCode] | None:
    """The account and its live code matching (login, code); None for any mismatch."""
    user = find_by_login(login)
    if user is None or not user.active or user.password_hash is not None:
        return None
    row = db.session.scalar(
        sa.select(ActivationCode).where(
            ActivationCode.user_id == user.id,
            ActivationCode.code_hash == _code_hash(user.id, code),
            ActivationCode.used_at.is_(None),
            ActivationCode.expires_at > utcnow(),
        )
    )
    if row is None:
        return None
    return user, row


def activate(user: User, row: ActivationCode, password: str) -> None:
    """Set the first password; the code is used and the account's other codes revoked."""
    row.used_at = utcnow()
    db.session.execute(
        sa.delete(ActivationCode).where(ActivationCode.user_id == user.id, ActivationCode.used_at.is_(None))
    )
    user.password_hash = passwords().hash(password)
    if user.role == Role.PARENT:
        # The school gave its printed code to the family its class list names for this number:
        # the number counts as proven, as for the accounts activated before codes by SMS existed
        # (docs/accounts.md).
        user.phone_verified_at = utcnow()
    audit("contactbook.account_activated", user, actor_id=user.id)


class ActivationRefused(Exception):
    """Why a code or a first password was refused: `code` is "no_match" (any mismatch of login
    and code: one answer, no account enumeration) or a password problem of app.security, whose
    message takes `n` (the length limit)."""

    def __init__(self, code: str, n: int = 0):
        super().__init__(code)
        self.code = code
        self.n = n


def activate_with_code(login: str, code: str, password: str) -> User:
    """Check the code and the chosen password, then activate the account (flush only).
    Raises ActivationRefused before writing anything."""
    found = check_code(login, code)
    if found is None:
        raise ActivationRefused("no_match")
    user, row = found
    staff = user.role in STAFF_ROLES
    problem = password_problem(
        password, staff=staff, context=(user.full_name, user.phone or "", user.email or "")
    )
    if problem:
        raise ActivationRefused(problem, MAX_PASSWORD if problem == "too_long" else (12 if staff else 8))
    activate(user, row, password)
    return user
