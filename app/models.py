"""Shared models: accounts, sessions, places, schools, academic years and the audit log."""

from __future__ import annotations

import enum
from datetime import UTC, date, datetime, timedelta

import sqlalchemy as sa
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .extensions import db


def utcnow() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None)


class Role(enum.StrEnum):
    PARENT = "parent"
    TEACHER = "teacher"
    SCHOOL_STAFF = "school_staff"
    DISTRICT_OFFICER = "district_officer"
    CITY_ADMIN = "city_admin"


STAFF_ROLES = frozenset({Role.TEACHER, Role.SCHOOL_STAFF, Role.DISTRICT_OFFICER, Role.CITY_ADMIN})
OFFICER_ROLES = frozenset({Role.DISTRICT_OFFICER, Role.CITY_ADMIN})


class District(db.Model):
    __tablename__ = "district"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(20), unique=True)
    name: Mapped[str] = mapped_column(sa.String(120), unique=True)

    wards: Mapped[list[Ward]] = relationship(back_populates="district", order_by="Ward.name")


class Ward(db.Model):
    __tablename__ = "ward"
    __table_args__ = (sa.UniqueConstraint("district_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("district.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))

    district: Mapped[District] = relationship(back_populates="wards")
    groups: Mapped[list[ResidentialGroup]] = relationship(
        back_populates="ward", order_by="ResidentialGroup.name"
    )


class ResidentialGroup(db.Model):
    """Tổ dân phố: the finest unit a catchment is drawn on."""

    __tablename__ = "residential_group"
    __table_args__ = (sa.UniqueConstraint("ward_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    ward_id: Mapped[int] = mapped_column(sa.ForeignKey("ward.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(120))

    ward: Mapped[Ward] = relationship(back_populates="groups")


class School(db.Model):
    __tablename__ = "school"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(40), unique=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    level: Mapped[str] = mapped_column(sa.String(20), index=True)
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("district.id"), index=True)
    ward_id: Mapped[int | None] = mapped_column(sa.ForeignKey("ward.id"), index=True)
    address: Mapped[str] = mapped_column(sa.String(300), default="")
    capacity: Mapped[int] = mapped_column(default=0)
    latitude: Mapped[float | None]
    longitude: Mapped[float | None]

    district: Mapped[District] = relationship()
    ward: Mapped[Ward | None] = relationship()


class AcademicYear(db.Model):
    """A school year (app.years): at most one is current (a partial unique index)."""

    __tablename__ = "academic_year"
    __table_args__ = (
        sa.Index(
            "uq_academic_year_one_current",
            "is_current",
            unique=True,
            sqlite_where=sa.text("is_current"),
            postgresql_where=sa.text("is_current"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(20), unique=True)  # "2026-2027"
    starts_on: Mapped[date]
    ends_on: Mapped[date]
    # The day term II starts across the city (each school may move its own terms); None: mid-January.
    term2_starts_on: Mapped[date | None]
    is_current: Mapped[bool] = mapped_column(default=False)

    @property
    def term2_start(self) -> date:
        """The day term II starts: the year's own, else the default (app.years)."""
        return self.term2_starts_on or default_term2_start(self.starts_on, self.ends_on)


def default_term2_start(starts_on: date, ends_on: date) -> date:
    """Term II starts after mid-January (Vietnam's usual split), or in the middle of a year that
    does not span it."""
    split = date(starts_on.year + 1, 1, 16)
    if starts_on < split <= ends_on:
        return split
    return starts_on + (ends_on - starts_on) / 2 + timedelta(days=1)


class User(UserMixin, db.Model):
    """Every person who logs in. Staff are scoped to a school or a district by their role."""

    __tablename__ = "user"
    __table_args__ = (
        sa.CheckConstraint(
            "role IN ('parent','teacher','school_staff','district_officer','city_admin')", name="role"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str | None] = mapped_column(sa.String(15), unique=True)
    email: Mapped[str | None] = mapped_column(sa.String(254), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(120))
    password_hash: Mapped[str | None] = mapped_column(sa.String(200))
    role: Mapped[str] = mapped_column(sa.String(20), index=True)
    school_id: Mapped[int | None] = mapped_column(sa.ForeignKey("school.id"), index=True)
    district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("district.id"), index=True)
    locale: Mapped[str | None] = mapped_column(sa.String(5))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_login_at: Mapped[datetime | None]
    welcome_sent_at: Mapped[datetime | None]
    # When the account's holder proved the phone with a one-time code (app.auth.verification).
    # None: unproven. A parent account with an unproven phone sees no child (the gate in
    # app.auth.verification) until a code sent to that phone is entered.
    phone_verified_at: Mapped[datetime | None]
    # When the account's holder followed the link sent to `email` (app.auth.email_link).
    email_verified_at: Mapped[datetime | None]
    # Set when an administrator created the account or issued an activation code: every page but
    # choosing a new password is closed until the holder chooses one (app.auth.lifecycle).
    must_change_password: Mapped[bool] = mapped_column(default=False)
    # A one-time activation code an administrator issued (HMAC, app.auth.lifecycle): it logs in
    # once, before `activation_expires_at`, and then a new password must be chosen.
    activation_code_hash: Mapped[str | None] = mapped_column(sa.String(64))
    activation_expires_at: Mapped[datetime | None]

    school: Mapped[School | None] = relationship()
    district: Mapped[District | None] = relationship()

    # Set by the session loader: Flask-Login stores get_id() in the cookie, and we store the
    # server-side session token there rather than the user id (see app.auth.sessions).
    session_token = None

    def get_id(self) -> str | None:
        return self.session_token

    @property
    def is_active(self) -> bool:  # Flask-Login
        return self.active

    @property
    def login_name(self) -> str:
        return self.phone or self.email or ""

    def has_role(self, *roles: str) -> bool:
        return self.role in roles


class UserSession(db.Model):
    """A server-side login session: revocable, with idle and absolute expiry (ASVS V3)."""

    kept_with_any_answer = True  # its last-seen time moves with any page (app.jobs.commit_request)
    __tablename__ = "user_session"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_seen_at: Mapped[datetime] = mapped_column(default=utcnow)
    user_agent: Mapped[str] = mapped_column(sa.String(200), default="")
    # The start of the address it logged in from ("203.113.x.x"), never the whole address.
    ip_prefix: Mapped[str] = mapped_column(sa.String(45), default="")

    user: Mapped[User] = relationship()


class CodePurpose(enum.StrEnum):
    REGISTER = "register"  # a new parent account: created only when the code is entered
    CONFIRM = "confirm"  # prove the account's own phone (an account with an unproven phone)
    PHONE = "phone"  # change the account's phone: the new number holds only once proven
    RESET = "reset"  # forgot password: the code allows one new password
    LOGIN = "login"  # after many failed logins: the code and the password log in (app.auth.throttle)


class PhoneCode(db.Model):
    """A one-time code sent by SMS to `phone`: 6 digits, stored as an HMAC, valid for a few
    minutes and a few tries (app.auth.verification). `payload` holds what the code unlocks (a
    registration's name and password hash), never the code."""

    __tablename__ = "phone_code"
    __table_args__ = (
        sa.CheckConstraint(f"purpose IN ({','.join(repr(str(p)) for p in CodePurpose)})", name="purpose"),
        sa.Index("ix_phone_code_phone", "phone", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    purpose: Mapped[str] = mapped_column(sa.String(10))
    phone: Mapped[str] = mapped_column(sa.String(15))
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64))
    attempts: Mapped[int] = mapped_column(default=0)
    payload: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]

    user: Mapped[User | None] = relationship()


class AuditLog(db.Model):
    """Who did what to which record, when. Never personal data: ids and codes only."""

    kept_with_any_answer = True  # a page answered 422 was still seen (app.jobs.commit_request)
    __tablename__ = "audit_log"
    __table_args__ = (sa.Index("ix_audit_log_target", "target_type", "target_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    action: Mapped[str] = mapped_column(sa.String(60), index=True)
    target_type: Mapped[str | None] = mapped_column(sa.String(40))
    target_id: Mapped[str | None] = mapped_column(sa.String(40))
    ip: Mapped[str | None] = mapped_column(sa.String(45))
    details: Mapped[dict] = mapped_column(sa.JSON, default=dict)

    actor: Mapped[User | None] = relationship()


class ImportStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"  # reading and checking rows
    SAVING = "saving"
    DONE = "done"
    REJECTED = "rejected"  # a problem in the file: nothing stored
    FAILED = "failed"  # an error on our side: nothing stored; a retry runs it again


class ImportJob(db.Model):
    """One Excel import started from the web (app.imports): its uploaded file, progress and report
    (row numbers, columns and problem codes, no personal data). `kind` is one an area registered;
    `district_id`: the importer's scope where the area scopes by district (None: the city)."""

    __tablename__ = "import_job"
    __table_args__ = (
        sa.CheckConstraint(f"status IN ({','.join(repr(str(s)) for s in ImportStatus)})", name="status"),
        sa.Index("ix_import_job_scope", "district_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(12))
    status: Mapped[str] = mapped_column(sa.String(10), default=ImportStatus.QUEUED)
    progress: Mapped[int] = mapped_column(default=0)
    rows: Mapped[int] = mapped_column(default=0)
    created_count: Mapped[int] = mapped_column(default=0)
    updated_count: Mapped[int] = mapped_column(default=0)
    unchanged_count: Mapped[int] = mapped_column(default=0)
    problem_count: Mapped[int] = mapped_column(default=0)
    report: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    filename: Mapped[str] = mapped_column(sa.String(200), default="")
    file_token: Mapped[str] = mapped_column(sa.String(40), unique=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("district.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]


class ApiClient(db.Model):
    """A machine client of the API (app/api): a city system or a school's own software. Its token
    is kept only as a keyed hash; `scope_district_id` / `scope_school_id` narrow what it sees (both
    empty: the whole city), `can_write` lets it call the write endpoints. Calls are counted per
    client (`calls`, `last_used_at`), each write also leaves an AuditLog row."""

    __tablename__ = "api_client"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(120))
    token_prefix: Mapped[str] = mapped_column(sa.String(12))
    token_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    scope_district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("district.id"), index=True)
    scope_school_id: Mapped[int | None] = mapped_column(sa.ForeignKey("school.id"), index=True)
    can_write: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    last_used_at: Mapped[datetime | None]
    calls: Mapped[int] = mapped_column(default=0)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))


class ApiIdempotency(db.Model):
    """The stored answer to a write sent with an Idempotency-Key, per client: the same key with the
    same body answers it again; with another body, 422."""

    __tablename__ = "api_idempotency"
    __table_args__ = (sa.UniqueConstraint("client_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[int] = mapped_column(sa.ForeignKey("api_client.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(sa.String(120))
    request_hash: Mapped[str] = mapped_column(sa.String(64))
    status: Mapped[int]
    body: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
