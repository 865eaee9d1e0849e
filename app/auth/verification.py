"""A phone number belongs to whoever proves it: one-time codes sent by SMS.

A code is 6 digits, valid for CODE_MINUTES and CODE_TRIES wrong tries, stored as an HMAC (keyed
with SECRET_KEY) and sent through the notification platform's SMS channel after the commit (without
SMS_GATEWAY_URL the SMS is written to the log). Asking for a new code ends the earlier ones of the
same purpose and number.

- Registering: the account is created only when the code is entered, so nobody holds a number
  they have not proven. A number the school created an account for (from its class lists, no
  password yet) is claimed the same way. A number that already has an account gets an SMS saying
  so and what to do, and a code nobody is told: the page answers the same whatever the number.
- Changing a phone: the new number replaces the old one only once proven.
- Confirming: a parent account whose phone is unproven (self-registered before codes existed)
  proves it before it sees anything; `gate` (code_views) sends every page of such an account to
  the confirmation page, so it sees no child's data. (Activating the account a school created,
  with the printed code the school handed to the family, counts as proof: contactbook.activation.)

Guardian links: a school's class import links a number to the account that holds it; since an
account holds a number only once proven (or, created by the school itself, before anyone can log
in to it), a link reaches only the number's proven owner. An account from before the codes whose
number is unproven keeps its links inert: the gate shows it nothing until the number is proven,
and the number's real owner takes the account over with "forgot password". The same gate keeps
such an account from adding a child in admissions.

Functions flush only; the caller's boundary commits.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import gettext as _
from sqlalchemy.orm import make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from ..audit import audit, audit_now
from ..extensions import db
from ..jobs import enqueue_after_commit, mark_written
from ..models import CodePurpose, PhoneCode, Role, User, utcnow
from ..notifications.channels import SendError, SmsChannel
from ..notifications.rules import ascii_fold
from .services import end_all_sessions, passwords

log = logging.getLogger(__name__)

CODE_DIGITS = 6
CODE_MINUTES = 10
CODE_TRIES = 5
KEEP_CODES = timedelta(days=1)


class CodeError(Exception):
    """The code was not accepted: `reason` is "wrong", "tries" (no tries left) or "expired"."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


# --- codes ---------------------------------------------------------------------------------


def _hash(purpose: str, phone: str, code: str) -> str:
    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"phone-code:{purpose}:{phone}:{code}".encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    return f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"


def issue(
    purpose: CodePurpose,
    phone: str,
    *,
    user: User | None = None,
    payload: dict | None = None,
    sms: str | None = "code",
    known: tuple[bool, bool] | None = None,
) -> PhoneCode:
    """A fresh code for `phone`; `sms` names the text sent (SMS_TEXTS; None: nothing is sent).
    The code itself is stored nowhere but in the SMS job, which runs after the commit.
    `known`: whether the number has unused codes of this purpose and codes of earlier days, when
    the caller has read them (`_number`): the earlier codes are then ended and the old ones
    deleted only if there are any."""
    now = utcnow()
    payload = dict(payload or {}, sms=sms)
    unused, old = known if known is not None else (True, True)
    db.session.flush()  # what the session holds goes first
    conn = db.session.connection()
    mark_written()  # Core statements: an error answer after them must roll back or keep them
    if unused:
        conn.execute(_END_EARLIER, {"b_phone": phone, "b_purpose": purpose, "at": now})
    if old:
        # This number's codes of earlier days are of no use any more (the index covers the lookup).
        conn.execute(_DROP_OLD, {"b_phone": phone, "before": now - KEEP_CODES})
    code = new_code()
    values = {
        "purpose": purpose,
        "phone": phone,
        "user_id": user.id if user else None,
        "code_hash": _hash(purpose, phone, code),
        "attempts": 0,
        "payload": payload,
        "created_at": now,
        "expires_at": now + timedelta(minutes=CODE_MINUTES),
        "used_at": None,
    }
    # INSERT … RETURNING, and the row as written put in the session (no unit of work, no SELECT).
    row = PhoneCode(id=conn.execute(_NEW_CODE, values).scalar_one(), **values)
    make_transient_to_detached(row)
    db.session.add(row)
    if sms is not None and phone:
        # Folded to ASCII like every SMS of the platform (one GSM-7 part holds 160 characters).
        text = ascii_fold(SMS_TEXTS[sms](code))
        enqueue_after_commit("app.auth.verification:send_code_sms", row.id, phone, text)
    return row


# Built once: a code's statements cost more to build than to run.
_codes = PhoneCode.__table__
_END_EARLIER = (
    sa.update(_codes)
    .where(
        _codes.c.phone == sa.bindparam("b_phone"),
        _codes.c.purpose == sa.bindparam("b_purpose"),
        _codes.c.used_at.is_(None),
    )
    .values(used_at=sa.bindparam("at"))
)
_NEW_CODE = sa.insert(_codes).returning(_codes.c.id)
_DROP_OLD = sa.delete(_codes).where(
    _codes.c.phone == sa.bindparam("b_phone"), _codes.c.created_at < sa.bindparam("before")
)
# The account holding a number, and whether the number has unused codes of a purpose and codes of
# earlier days (what `issue` would end and delete): one statement, one row.
_NUMBER = (
    sa.select(
        User,
        sa.exists()
        .where(
            _codes.c.phone == sa.bindparam("b_phone"),
            _codes.c.purpose == sa.bindparam("b_purpose"),
            _codes.c.used_at.is_(None),
        )
        .label("unused"),
        sa.exists()
        .where(_codes.c.phone == sa.bindparam("b_phone"), _codes.c.created_at < sa.bindparam("before"))
        .label("old"),
    )
    .select_from(sa.select(sa.literal(1).label("one")).subquery("one"))
    .outerjoin(User, User.phone == sa.bindparam("b_phone"))
)


def _number(phone: str, purpose: CodePurpose) -> tuple[User | None, tuple[bool, bool]]:
    """The account holding `phone` (or None), and `issue`'s `known` for a code of `purpose`."""
    before = utcnow() - KEEP_CODES
    user, unused, old = db.session.execute(
        _NUMBER, {"b_phone": phone, "b_purpose": purpose, "before": before}
    ).one()
    return user, (bool(unused), bool(old))


def resend(row: PhoneCode) -> PhoneCode:
    """A new code for the same purpose, number and payload (the earlier one stops working)."""
    payload = {k: v for k, v in (row.payload or {}).items() if k != "sms"}
    return issue(row.purpose, row.phone, user=row.user, payload=payload, sms=(row.payload or {}).get("sms"))


def send_code_sms(code_id: int, phone: str, text: str) -> None:
    """Job: send one code's SMS, unless the code was used, replaced or expired in the meantime."""
    row = db.session.connection().execute(_STILL_VALID, {"code_id": code_id}).first()
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        log.info("phone code %s: no longer valid, SMS not sent", code_id)
        return
    if not current_app.config.get("SMS_GATEWAY_URL"):
        # No gateway (the demo, a developer's machine): the log is the only way the code reaches
        # a person, so it is written at WARNING, which a server shows without logging set up.
        log.warning("sms (SMS_GATEWAY_URL unset) to=%s ref=code-%s: %s", phone, code_id, text)
        return
    try:
        SmsChannel().send(phone, text, f"code-{code_id}")
    except SendError as err:
        if err.transient:
            raise  # the outbox retries it with backoff
        log.warning("phone code %s: SMS refused by the gateway: %s", code_id, err)


_STILL_VALID = sa.select(_codes.c.used_at, _codes.c.expires_at).where(_codes.c.id == sa.bindparam("code_id"))


def pending(code_id) -> PhoneCode | None:
    """The code a browser is waiting on (its id is kept in the signed session cookie)."""
    if not isinstance(code_id, int):
        return None
    return db.session.get(PhoneCode, code_id)


def pending_with_holder(code_id) -> tuple[PhoneCode | None, User | None]:
    """The code a browser is waiting on and the account that holds its number now, in one
    statement (entering a registration code needs both)."""
    if not isinstance(code_id, int):
        return None, None
    row = db.session.execute(_WITH_HOLDER, {"code_id": code_id}).first()
    return (row[0], row[1]) if row is not None else (None, None)


# Built once: a code page's statements cost more to build than to run.
_WITH_HOLDER = (
    sa.select(PhoneCode, User)
    .outerjoin(User, User.phone == PhoneCode.phone)
    .where(PhoneCode.id == sa.bindparam("code_id"))
)
_USE = (
    sa.update(_codes)
    .where(_codes.c.id == sa.bindparam("code_id"), _codes.c.used_at.is_(None))
    .values(used_at=sa.bindparam("at"))
)
_USE_AND_EMPTY = _USE.values(payload=sa.bindparam("payload", type_=_codes.c.payload.type))


def check(row: PhoneCode | None, code: str, *, empty_payload: bool = False) -> None:
    """Accept `code` for `row` (then it is used) or raise CodeError; a wrong code uses a try.

    The code is used with one UPDATE that takes it only while it is unused: of two requests
    with the same code (a double click) one gets it, the other "expired". `empty_payload`
    empties the row's payload in the same UPDATE (a registration's password hash, once it has
    moved to the account)."""
    if row is None or row.used_at is not None or row.expires_at <= utcnow():
        raise CodeError("expired")
    if row.attempts >= CODE_TRIES:
        raise CodeError("tries")
    given = "".join(ch for ch in (code or "") if ch.isdigit())[:CODE_DIGITS]
    if not hmac.compare_digest(row.code_hash, _hash(row.purpose, row.phone, given)):
        row.attempts += 1
        raise CodeError("tries" if row.attempts >= CODE_TRIES else "wrong")
    now = utcnow()
    params = {"code_id": row.id, "at": now}
    if empty_payload:
        params["payload"] = {}
    db.session.flush()  # the row's own pending changes first
    mark_written()
    used = db.session.connection().execute(_USE_AND_EMPTY if empty_payload else _USE, params)
    if used.rowcount != 1:
        raise CodeError("expired")  # used by another request meanwhile
    set_committed_value(row, "used_at", now)
    if empty_payload:
        set_committed_value(row, "payload", {})


def _code_text(code: str) -> str:
    return _(
        "%(code)s is your code for Tuyen sinh & So lien lac. It is valid for %(n)d minutes. "
        "Never give it to anyone: the school will never ask for it.",
        code=code,
        n=CODE_MINUTES,
    )


def _reset_text(code: str) -> str:
    return _code_text(code) + " " + _("Enter it on the 'Forgot password' page to choose a new password.")


def _no_account_text(_code: str) -> str:
    return _(
        "Someone asked to reset a password for this number on Tuyen sinh & So lien lac, but the "
        "number has no account. You can create one. If it was not you, ignore this message."
    )


def _exists_text(_code: str) -> str:
    return _(
        "Someone asked to use this number for a new account on Tuyen sinh & So lien lac, but it "
        "already has one. Log in with this number; if you forgot the password, choose "
        "'Forgot password' on the login page. If it was not you, ignore this message."
    )


def _login_text(code: str) -> str:
    return (
        _code_text(code)
        + " "
        + _("Enter it with your password on the login page. If it was not you, change your password.")
    )


# What each SMS says (rendered in the language of the request that asked for it).
SMS_TEXTS = {
    "code": _code_text,
    "login": _login_text,
    "exists": _exists_text,
    "reset": _reset_text,
    "no_account": _no_account_text,
}


# --- who may hold a child ------------------------------------------------------------------


def is_proven(user: User) -> bool:
    return user.phone is not None and user.phone_verified_at is not None


def must_confirm(user) -> bool:
    """A logged-in parent whose phone is unproven: every page but confirming it is closed, so it
    sees no child's data and adds no child."""
    return getattr(user, "role", None) == Role.PARENT and not is_proven(user)


# --- registration --------------------------------------------------------------------------


def _claimable(user: User | None) -> bool:
    # An account the school created from its class lists: nobody has logged in to it yet.
    return user is not None and user.role == Role.PARENT and user.active and user.password_hash is None


def start_registration(full_name: str, phone: str, password: str) -> PhoneCode:
    """Send a code to `phone` (or, when the number has an account already, an SMS saying what to
    do and no code): the caller answers the same either way."""
    password_hash = passwords().hash(password)  # the same cost whatever the number
    existing, known = _number(phone, CodePurpose.REGISTER)
    if existing is None or _claimable(existing):
        payload = {"full_name": full_name.strip(), "password_hash": password_hash}
        return issue(CodePurpose.REGISTER, phone, user=existing, payload=payload, known=known)
    return issue(CodePurpose.REGISTER, phone, sms="exists", known=known)


def finish_registration(row: PhoneCode | None, code: str, holder: User | None) -> User:
    """Check `code` (CodeError if not accepted), then create the account (or claim the school's),
    its phone proven. `holder`: the account that holds the number now (pending_with_holder)."""
    payload = (row.payload or {}) if row is not None else {}
    check(row, code, empty_payload=True)  # the password hash moves to the account
    if not payload.get("password_hash"):
        raise CodeError("expired")
    now = utcnow()
    if row.user_id is not None or holder is not None:
        # The school's account for the number (it may have been created since the code was sent).
        user = holder
        if not _claimable(user) or (row.user_id is not None and user.id != row.user_id):
            raise CodeError("expired")  # claimed or changed since the code was sent
        user.password_hash = payload["password_hash"]
        user.phone_verified_at = now
        audit_now("user.register", user, actor_id=user.id, claimed=True)
        return user
    user = User(
        full_name=payload["full_name"],
        phone=row.phone,
        role=Role.PARENT,
        password_hash=payload["password_hash"],
        phone_verified_at=now,
    )
    db.session.add(user)
    db.session.flush()
    # Written at once (one Core INSERT, no ORM object for the commit's flush): the code's cost.
    audit_now("user.register", user, actor_id=user.id)
    return user


# --- an account's own phone ----------------------------------------------------------------


def start_confirmation(user: User) -> PhoneCode | None:
    if not user.phone:
        return None
    return issue(CodePurpose.CONFIRM, user.phone, user=user)


def start_phone_change(user: User, phone: str) -> PhoneCode:
    """A code to the new number; a number that has an account already gets an SMS saying so."""
    taken = db.session.scalar(sa.select(User.id).where(User.phone == phone, User.id != user.id))
    if taken is None:
        return issue(CodePurpose.PHONE, phone, user=user)
    return issue(CodePurpose.PHONE, phone, user=user, payload={"taken": True}, sms="exists")


def finish_for_account(row: PhoneCode, user: User) -> None:
    """The code was right for a confirmation or a phone change of `user`."""
    if row.user_id != user.id or row.payload.get("taken"):
        raise CodeError("expired")
    if row.purpose == CodePurpose.PHONE:
        if db.session.scalar(sa.select(User.id).where(User.phone == row.phone, User.id != user.id)):
            raise CodeError("expired")
        user.phone = row.phone
        end_all_sessions(user)  # the caller starts a fresh one for this browser
        audit("user.phone_change", user, actor_id=user.id)
    elif user.phone != row.phone:
        raise CodeError("expired")
    else:
        audit("user.phone_verified", user, actor_id=user.id)
    user.phone_verified_at = utcnow()


def pending_phone(code_id) -> str:
    row = pending(code_id)
    return row.phone if row is not None else ""
