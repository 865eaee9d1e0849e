"""Personal-data tables: consents per purpose, with the notice version they were given under."""

from __future__ import annotations

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
