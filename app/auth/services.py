"""Account operations: registration, authentication and server-side sessions.

Functions here change data and `flush` only; the caller's boundary commits.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app, g
from sqlalchemy.orm.attributes import set_committed_value

from ..audit import AUDIT_INSERT, audit, audit_entry
from ..extensions import db
from ..jobs import enqueue_after_commit
from ..models import STAFF_ROLES, User, UserSession, utcnow
from ..security import Passwords, normalize_login, normalize_phone
from . import activation

LAST_SEEN_RESOLUTION = timedelta(seconds=60)


class AccountError(Exception):
    """A rule stopped the operation; `code` names it for the form to translate."""

    def __init__(self, code: str, field: str | None = None):
        super().__init__(code)
        self.code = code
        self.field = field


def passwords() -> Passwords:
    ph = current_app.extensions.get("passwords")
    if ph is None:
        c = current_app.config
        ph = Passwords(c["ARGON2_TIME_COST"], c["ARGON2_MEMORY_COST"], c["ARGON2_PARALLELISM"])
        current_app.extensions["passwords"] = ph
    return ph


def find_by_login(login: str) -> User | None:
    """The account a phone number or an email address names; None for anything else.

    The login goes through `normalize_login`, the same form that keys the account's failed-login
    count (throttle.py). A login with NUL inside is never found (nor sent to PostgreSQL, which
    refuses NUL in a query parameter)."""
    login = normalize_login(login)
    if not login:
        return None
    phone = normalize_phone(login)
    if phone:
        return db.session.scalar(_BY_PHONE, {"login": phone})
    if "@" in login:
        return db.session.scalar(_BY_EMAIL, {"login": login.lower()})
    return None


# Built once: a login's statement costs more to build than to run.
_BY_PHONE = sa.select(User).where(User.phone == sa.bindparam("login"))
_BY_EMAIL = sa.select(User).where(sa.func.lower(User.email) == sa.bindparam("login"))


def create_staff(
    *,
    full_name: str,
    email: str,
    phone: str | None,
    role: str,
    password: str,
    school_id: int | None = None,
    district_id: int | None = None,
    actor: User | None = None,
    must_change: bool = False,
) -> User:
    """A staff account; `must_change`: its first login only opens choosing a new password."""
    if role not in STAFF_ROLES:
        raise AccountError("bad_role", "role")
    email_n = email.strip().lower()
    if db.session.scalar(sa.select(User.id).where(sa.func.lower(User.email) == email_n)) is not None:
        raise AccountError("email_taken", "email")
    phone_n = normalize_phone(phone) if phone else None
    if phone and phone_n is None:
        raise AccountError("bad_phone", "phone")
    if phone_n and db.session.scalar(sa.select(User.id).where(User.phone == phone_n)) is not None:
        raise AccountError("phone_taken", "phone")
    user = User(
        full_name=full_name.strip(),
        email=email_n,
        phone=phone_n,
        role=role,
        school_id=school_id,
        district_id=district_id,
        password_hash=passwords().hash(password),
        must_change_password=must_change,
    )
    db.session.add(user)
    db.session.flush()
    audit(
        "user.create",
        user,
        actor_id=actor.id if actor else None,
        role=role,
        # Names of places, not of people: the audit page reads them as they are.
        school=user.school.name if user.school else None,
        district=user.district.name if user.district else None,
    )
    enqueue_after_commit("app.tasks:send_welcome_email", user.id)
    return user


def authenticate(login: str, password: str) -> User | None:
    user = find_by_login(login)
    ph = passwords()
    if user is None or not user.active:
        ph.verify(None, password)  # same cost either way
        return None
    if not ph.verify(user.password_hash, password):
        # An administrator's one-time activation code logs in once, then a new password is due.
        return user if activation.use_code(user, password) else None
    if ph.needs_rehash(user.password_hash):
        user.password_hash = ph.hash(password)
    return user


def _hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(user: User, user_agent: str = "", ip_prefix: str = "") -> str:
    """Create a fresh server-side session (never reuse one from before login).

    Three writes on the transaction's connection (the session row, the account's last login
    time, the audit entry), not three ORM objects for the flush: the login's own cost beside its
    password hash. On PostgreSQL they are one statement (the first two as data-modifying CTEs
    of the audit entry's INSERT: one round trip), on SQLite three. The loaded account is told
    its new last login time."""
    token = secrets.token_urlsafe(32)
    now = utcnow()
    db.session.flush()  # what the session holds goes first (the entries keep their order)
    conn = db.session.connection()
    new_session = {
        "token_hash": _hash_token(token),
        "user_id": user.id,
        "user_agent": user_agent[:200],
        "ip_prefix": ip_prefix[:45],
        "created_at": now,
        "last_seen_at": now,
    }
    entry = audit_entry("user.login", user, actor_id=user.id)
    if conn.dialect.name == "postgresql":
        conn.execute(_LOGIN_AT_ONCE, {**entry, **{"s_" + k: v for k, v in new_session.items()}})
    else:
        conn.execute(_NEW_SESSION, new_session)
        conn.execute(_LOGGED_IN, {"uid": user.id, "at": now})
        conn.execute(AUDIT_INSERT, entry)
    set_committed_value(user, "last_login_at", now)
    user.session_token = token
    return token


# Built once (building and keying a statement costs more than running it): the login's writes
# and the session's own (load_session).
_NEW_SESSION = sa.insert(UserSession.__table__)
_LOGGED_IN = (
    sa.update(User.__table__)
    .where(User.__table__.c.id == sa.bindparam("uid"))
    .values(last_login_at=sa.bindparam("at"))
)


def _login_at_once() -> sa.Insert:
    """PostgreSQL: the session row and the last login time as CTEs of the audit entry's INSERT
    (they see the same snapshot and touch different rows)."""
    table = UserSession.__table__
    names = ("token_hash", "user_id", "user_agent", "ip_prefix", "created_at", "last_seen_at")
    new_session = sa.insert(table).values({n: sa.bindparam("s_" + n, type_=table.c[n].type) for n in names})
    users = User.__table__
    logged_in = (
        sa.update(users)
        .where(users.c.id == sa.bindparam("s_user_id", type_=users.c.id.type))
        .values(last_login_at=sa.bindparam("s_created_at", type_=users.c.last_login_at.type))
    )
    return AUDIT_INSERT.add_cte(new_session.cte("new_session"), logged_in.cte("logged_in"))


_LOGIN_AT_ONCE = _login_at_once()
_SEEN = (
    sa.update(UserSession.__table__)
    .where(UserSession.__table__.c.id == sa.bindparam("sid"))
    .values(last_seen_at=sa.bindparam("at"))
)
_EXPIRED = sa.delete(UserSession.__table__).where(UserSession.__table__.c.id == sa.bindparam("sid"))

# The session row's columns a request needs: the ORM object itself is never loaded (an entity
# in the identity map costs more than the statement); its writes are Core statements below.
_SESSION_COLUMNS = (UserSession.id, UserSession.created_at, UserSession.last_seen_at)


def _session_statement(extensions: dict) -> tuple[tuple[str, ...], sa.Select]:
    """The session's SELECT, built once per app (and again only if the registered columns
    change): building it is a good part of a cheap page's CPU; SQLAlchemy caches its SQL."""
    extras = extensions.get("session_columns", {})
    names = tuple(extras)
    built = extensions.get("session_statement")
    if built is None or built[0] != names:
        statement = (
            sa.select(
                User,
                *_SESSION_COLUMNS,
                *(sub(UserSession.user_id).label(name) for name, sub in extras.items()),
            )
            .join(UserSession, User.id == UserSession.user_id)
            .where(UserSession.token_hash == sa.bindparam("token_hash"))
        )
        built = extensions["session_statement"] = (names, statement)
    return built


def load_session(token: str) -> User | None:
    """Return the user of a live session, expiring idle and too-old sessions.

    One statement for every logged-in request: the session row, its user, and the per-user
    figures other parts registered in `app.extensions["session_columns"]` (name → a function of
    the user-id column returning a correlated scalar subquery, e.g. the header's unread count),
    which land in `g.session_columns` for them to read instead of asking again.

    The session's own writes (an expired one deleted, the last-seen time moved at most once a
    minute) go on the request's connection as Core statements: they belong to any answer, as
    the row's `kept_with_any_answer` says (app.jobs), and commit with the request."""
    if not token:
        return None
    extras, statement = _session_statement(current_app.extensions)
    row = db.session.execute(statement, {"token_hash": _hash_token(token)}).first()
    if row is None:
        return None
    user, session_id, created_at, last_seen_at = row[:4]
    now = utcnow()
    cfg = current_app.config
    if now - last_seen_at > cfg["SESSION_IDLE_TIMEOUT"] or now - created_at > cfg["SESSION_ABSOLUTE_TIMEOUT"]:
        db.session.connection().execute(_EXPIRED, {"sid": session_id})
        return None
    if now - last_seen_at > LAST_SEEN_RESOLUTION:
        db.session.connection().execute(_SEEN, {"sid": session_id, "at": now})
    if not user.active:
        return None
    g.session_columns = dict(zip(extras, row[4:], strict=True))
    user.session_token = token
    return user


def end_session(token: str | None) -> None:
    if token:
        db.session.execute(sa.delete(UserSession).where(UserSession.token_hash == _hash_token(token)))


def end_all_sessions(user: User) -> None:
    db.session.execute(sa.delete(UserSession).where(UserSession.user_id == user.id))


def change_password(user: User, new_password: str) -> None:
    user.password_hash = passwords().hash(new_password)
    user.must_change_password = False
    end_all_sessions(user)
    audit("user.password_change", user)
