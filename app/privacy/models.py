"""Personal-data tables: consents per purpose, with the notice version they were given under."""

from __future__ import annotations

import enum
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from ..extensions import db
from ..models import utcnow


class Consent(db.Model):
    """A consent given by `user_id` for one purpose (admissions, contact book, email channel),
    under one version of the privacy notice. Withdrawing sets `withdrawn_at` (the row stays: it
    proves what was agreed and when). `subject` names whom it is about when that is not the
    account holder (a child's own consent recorded by the parent: "<area>:<id>")."""

    __tablename__ = "privacy_consent"
    __table_args__ = (sa.Index("ix_privacy_consent_user_purpose", "user_id", "purpose", "subject"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    purpose: Mapped[str] = mapped_column(sa.String(30))
    subject: Mapped[str | None] = mapped_column(sa.String(60))
    notice_version: Mapped[str] = mapped_column(sa.String(20))
    given_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]


class RequestKind(enum.StrEnum):
    DOWNLOAD = "download"
    CORRECTION = "correction"
    DELETION = "deletion"


class RequestStatus(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    READY = "ready"
    FAILED = "failed"
    OPEN = "open"  # a correction waiting in the office's queue
    DONE = "done"
    REFUSED = "refused"


class DataRequest(db.Model):
    """A person's request about their data. A download is built by a job (app.privacy.tasks):
    `progress` 0–100 while it runs, then `content` (the JSON document) until `expires_at`."""

    __tablename__ = "privacy_request"
    __table_args__ = (
        sa.Index("ix_privacy_request_user", "user_id", "created_at"),
        sa.Index("ix_privacy_request_expires", "expires_at"),
        sa.Index("ix_privacy_request_queue", "kind", "status", "district_id"),
        sa.CheckConstraint("kind IN ('download','correction','deletion')", name="kind"),
        sa.CheckConstraint(
            "status IN ('queued','running','ready','failed','open','done','refused')", name="status"
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(12), default=RequestKind.DOWNLOAD)
    status: Mapped[str] = mapped_column(sa.String(10), default=RequestStatus.QUEUED)
    progress: Mapped[int] = mapped_column(default=0)
    content: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ready_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    # A correction: about which child (`subject`, "<area>:<id>", and the name as the parent saw
    # it), what is wrong and what it should be, the district whose office answers, by when.
    subject: Mapped[str | None] = mapped_column(sa.String(60))
    about: Mapped[str | None] = mapped_column(sa.String(120))
    details: Mapped[str | None] = mapped_column(sa.Text)
    district_id: Mapped[int | None] = mapped_column(sa.ForeignKey("district.id", ondelete="SET NULL"))
    due_at: Mapped[datetime | None]
    handled_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    handled_at: Mapped[datetime | None]
    answer: Mapped[str | None] = mapped_column(sa.String(500))
