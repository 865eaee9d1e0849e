"""Tables of the public record of a level's rounds in a district (docs/verification.md): the
office's seed commitment and the beacon round, the frozen entry list and its versions, and every
attempt of an official round. Beside models.py, which would be over 500 lines with them."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models import utcnow

from .models import AdmissionLevel, AllocationRound

REASON_MAX = 500


class RoundCommitment(db.Model):
    """The office's secret seed for a level in a district: its SHA-256 is public from
    `committed_at` (before the window opens); the seed itself once round 1 is published. The
    beacon round is fixed by the rule "first round after the close"; its value is fetched from
    BEACON_URL or entered by an officer, with its source."""

    __tablename__ = "round_commitment"
    __table_args__ = (sa.UniqueConstraint("admission_level_id", "district_id", "is_trial"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    admission_level_id: Mapped[int] = mapped_column(sa.ForeignKey("admission_level.id", ondelete="CASCADE"))
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("district.id"), index=True)
    is_trial: Mapped[bool] = mapped_column(default=False)
    secret: Mapped[str] = mapped_column(sa.String(64))  # never shown before round 1 is published
    secret_sha256: Mapped[str] = mapped_column(sa.String(64))
    committed_at: Mapped[datetime] = mapped_column(default=utcnow)
    beacon_round: Mapped[int | None]
    beacon_randomness: Mapped[str | None] = mapped_column(sa.String(128))
    beacon_signature: Mapped[str | None] = mapped_column(sa.Text)
    beacon_source: Mapped[str | None] = mapped_column(sa.String(300))
    beacon_entered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    beacon_at: Mapped[datetime | None]

    admission_level: Mapped[AdmissionLevel] = relationship()


class EntryFreeze(db.Model):
    """One public, dated version of the anonymised entry list (version 1 at the close; a new one
    for every later change, with its reason)."""

    __tablename__ = "entry_freeze"
    __table_args__ = (
        sa.UniqueConstraint("admission_level_id", "district_id", "is_trial", "version"),
        sa.CheckConstraint("version >= 1", name="version"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    admission_level_id: Mapped[int] = mapped_column(sa.ForeignKey("admission_level.id", ondelete="CASCADE"))
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("district.id"), index=True)
    is_trial: Mapped[bool] = mapped_column(default=False)
    version: Mapped[int] = mapped_column(default=1)
    root: Mapped[str] = mapped_column(sa.String(64))
    schools: Mapped[int]
    entries: Mapped[int]
    seats: Mapped[int]
    reason: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="")  # the officer's words
    changes: Mapped[list] = mapped_column(sa.JSON, default=list)  # what differs from the version before
    content: Mapped[dict] = mapped_column(sa.JSON, deferred=True)  # {"schools": [...], "entries": [...]}
    application_ids: Mapped[list] = mapped_column(sa.JSON, deferred=True)  # private: aligned to entries
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))


class AttemptStatus:
    RUNNING = "running"
    DONE = "done"
    FAILED = "failed"


class RoundAttempt(db.Model):
    """One run of an official round, public: when, on which entry version, with which lottery
    seed, why (a re-run needs a reason), and what came out."""

    __tablename__ = "round_attempt"
    __table_args__ = (
        sa.UniqueConstraint("round_id", "number"),
        sa.CheckConstraint("status IN ('running','done','failed')", name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    round_id: Mapped[int] = mapped_column(sa.ForeignKey("allocation_round.id", ondelete="CASCADE"))
    number: Mapped[int]
    freeze_id: Mapped[int] = mapped_column(sa.ForeignKey("entry_freeze.id", ondelete="CASCADE"), index=True)
    lottery_seed: Mapped[str | None] = mapped_column(sa.String(64))  # round 1 only; public once published
    reason: Mapped[str] = mapped_column(sa.String(REASON_MAX), default="")
    status: Mapped[str] = mapped_column(sa.String(10), default=AttemptStatus.RUNNING)
    result_sha256: Mapped[str | None] = mapped_column(sa.String(64))
    assigned: Mapped[int | None]
    unassigned: Mapped[int | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))

    round: Mapped[AllocationRound] = relationship()
    freeze: Mapped[EntryFreeze] = relationship()
