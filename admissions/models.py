"""Admissions data: catchments (tuyến tuyển sinh), the residency roster, seasons, codes, children,
applications, allocation rounds and the admission council's checks; statuses as StrEnum."""

from __future__ import annotations

import enum
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models import AcademicYear, ResidentialGroup, School, Ward, utcnow


class Catchment(db.Model):
    """A school's catchment line: a whole ward (group NULL) or one residential group."""

    __tablename__ = "catchment"
    __table_args__ = (
        sa.UniqueConstraint("school_id", "ward_id", "residential_group_id"),
        sa.Index("ix_catchment_area", "ward_id", "residential_group_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("school.id", ondelete="CASCADE"), index=True)
    ward_id: Mapped[int] = mapped_column(sa.ForeignKey("ward.id"))
    residential_group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("residential_group.id"))

    school: Mapped[School] = relationship()
    ward: Mapped[Ward] = relationship()
    residential_group: Mapped[ResidentialGroup | None] = relationship()


class RosterEntry(db.Model):
    """One child in the residency export (population database): the source of truth for identity."""

    __tablename__ = "roster_entry"
    __table_args__ = (
        sa.CheckConstraint("gender IN ('male','female')", name="gender"),
        sa.CheckConstraint("residence_type IN ('permanent','temporary')", name="residence_type"),
        sa.Index("ix_roster_entry_area", "ward_id", "residential_group_id"),
        sa.Index("ix_roster_entry_name", "full_name", "id"),  # the eligible list's keyset pages
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    personal_id: Mapped[str] = mapped_column(sa.String(12), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(120))
    date_of_birth: Mapped[date] = mapped_column(index=True)
    gender: Mapped[str] = mapped_column(sa.String(6))
    ward_id: Mapped[int] = mapped_column(sa.ForeignKey("ward.id"))
    residential_group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("residential_group.id"))
    residence_type: Mapped[str] = mapped_column(sa.String(10))
    guardian_name: Mapped[str] = mapped_column(sa.String(120))
    guardian_phone: Mapped[str | None] = mapped_column(sa.String(15))
    imported_at: Mapped[datetime] = mapped_column(default=utcnow)

    ward: Mapped[Ward] = relationship()
    residential_group: Mapped[ResidentialGroup | None] = relationship()


class SeasonPhase(enum.StrEnum):
    TRIAL = "trial"  # a dress rehearsal: everything created now is wiped before the official window
    OFFICIAL = "official"


class LevelState(enum.StrEnum):
    DRAFT = "draft"  # being set up: parents cannot apply even inside the window
    SCHEDULED = "scheduled"  # published: parents apply inside the window
    ALLOCATING = "allocating"  # these four are never set: kept because the migration's CHECK names them
    ALLOCATED = "allocated"
    PUBLISHED = "published"
    CLOSED = "closed"


class ApplicationStatus(enum.StrEnum):
    SUBMITTED = "submitted"
    WITHDRAWN = "withdrawn"
    ALLOCATED = "allocated"  # placed by a round, not yet published to the family
    OFFERED = "offered"  # result published: the family confirms or declines
    CONFIRMED = "confirmed"
    DECLINED = "declined"
    EXPIRED = "expired"  # not confirmed by the deadline: the seat is freed
    UNPLACED = "unplaced"  # no seat yet (over-demanded catchment): the office assigns one


def _in_check(column: str, values) -> str:
    return f"{column} IN ({','.join(repr(str(v)) for v in values)})"


class AdmissionSeason(db.Model):
    """One admissions summer, city-wide: the city sets the calendar; districts run their part."""

    __tablename__ = "admission_season"
    __table_args__ = (
        sa.CheckConstraint(_in_check("phase", SeasonPhase), name="phase"),
        sa.CheckConstraint(
            "trial_closes_at IS NULL OR trial_opens_at IS NULL OR trial_closes_at > trial_opens_at",
            name="trial_window",
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    academic_year_id: Mapped[int] = mapped_column(sa.ForeignKey("academic_year.id"), unique=True)
    phase: Mapped[str] = mapped_column(sa.String(10), default=SeasonPhase.OFFICIAL)
    # Trial window (UTC, naive): applies to every level while phase == trial.
    trial_opens_at: Mapped[datetime | None]
    trial_closes_at: Mapped[datetime | None]
    trial_wiped_at: Mapped[datetime | None]
    # Bumped by the database (triggers, migration 4b9e2f6a1c37) on every write to a school or a
    # catchment line and when an import job changes status: the families' pages cache the
    # district's schools, capacities and lines per (season, version) (admissions.places). A
    # migration that recreates one of those tables (SQLite batch mode drops its triggers, and a
    # recreated admission_season breaks theirs) creates them again: a test checks they fire.
    places_version: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )

    academic_year: Mapped[AcademicYear] = relationship()
    levels: Mapped[list[AdmissionLevel]] = relationship(
        back_populates="season", order_by="AdmissionLevel.opens_at"
    )

    @property
    def intake_year(self) -> int:
        return self.academic_year.starts_on.year

    @property
    def is_trial(self) -> bool:
        return self.phase == SeasonPhase.TRIAL


class AdmissionLevel(db.Model):
    """One level (kindergarten-5, grade 1, grade 6) of a season, with its registration window."""

    __tablename__ = "admission_level"
    __table_args__ = (
        sa.UniqueConstraint("season_id", "level"),
        sa.CheckConstraint("level IN ('kindergarten','grade1','grade6')", name="level"),
        sa.CheckConstraint(_in_check("state", LevelState), name="state"),
        sa.CheckConstraint("closes_at IS NULL OR opens_at IS NULL OR closes_at > opens_at", name="window"),
        sa.CheckConstraint(
            "confirm_by IS NULL OR closes_at IS NULL OR confirm_by > closes_at", name="confirm_by"
        ),
        sa.CheckConstraint("max_other_choices BETWEEN 0 AND 10", name="max_other_choices"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    season_id: Mapped[int] = mapped_column(sa.ForeignKey("admission_season.id", ondelete="CASCADE"))
    level: Mapped[str] = mapped_column(sa.String(20))
    # Stored in UTC (naive), entered and shown in Asia/Ho_Chi_Minh.
    opens_at: Mapped[datetime | None]
    closes_at: Mapped[datetime | None]
    confirm_by: Mapped[datetime | None]
    state: Mapped[str] = mapped_column(sa.String(12), default=LevelState.DRAFT)
    # How many schools besides the catchment school a family may rank (rules.MAX_CHOICE_LIMIT at most).
    max_other_choices: Mapped[int] = mapped_column(default=3, server_default=sa.text("3"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    season: Mapped[AdmissionSeason] = relationship(back_populates="levels")


class AdmissionCode(db.Model):
    """The code a school hands to an eligible child's family (one per child, level and season), in
    clear for re-export: it works only with the child's personal ID and date of birth."""

    __tablename__ = "admission_code"
    __table_args__ = (
        sa.UniqueConstraint("admission_level_id", "roster_entry_id"),
        sa.CheckConstraint("failed_attempts >= 0", name="failed_attempts"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(sa.String(9), unique=True)  # canonical: 8 symbols + check
    admission_level_id: Mapped[int] = mapped_column(sa.ForeignKey("admission_level.id", ondelete="CASCADE"))
    roster_entry_id: Mapped[int] = mapped_column(
        sa.ForeignKey("roster_entry.id", ondelete="CASCADE"), index=True
    )
    is_trial: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    used_at: Mapped[datetime | None]  # first time a parent added the child with it
    failed_attempts: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]

    admission_level: Mapped[AdmissionLevel] = relationship()
    roster_entry: Mapped[RosterEntry] = relationship()


class Child(db.Model):
    """A child registered by a family, identified against the roster (or the population registry)."""

    __tablename__ = "child"
    __table_args__ = (
        sa.CheckConstraint("gender IN ('male','female')", name="gender"),
        sa.CheckConstraint("residence_type IN ('permanent','temporary')", name="residence_type"),
        sa.CheckConstraint("source IN ('roster','registry')", name="source"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    roster_entry_id: Mapped[int] = mapped_column(sa.ForeignKey("roster_entry.id"), unique=True)
    full_name: Mapped[str] = mapped_column(sa.String(120))
    date_of_birth: Mapped[date]
    gender: Mapped[str] = mapped_column(sa.String(6))
    ward_id: Mapped[int] = mapped_column(sa.ForeignKey("ward.id"), index=True)
    residential_group_id: Mapped[int | None] = mapped_column(sa.ForeignKey("residential_group.id"))
    residence_type: Mapped[str] = mapped_column(sa.String(10))
    source: Mapped[str] = mapped_column(sa.String(10), default="roster")
    # Set when the child was added during a season's trial phase: wiped with the trial.
    trial_season_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("admission_season.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    roster_entry: Mapped[RosterEntry] = relationship()
    ward: Mapped[Ward] = relationship()
    residential_group: Mapped[ResidentialGroup | None] = relationship()


class ParentChild(db.Model):
    """Guardianship: several parents per child (both parents may add the child), several children each."""

    __tablename__ = "parent_child"
    __table_args__ = (sa.UniqueConstraint("user_id", "child_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    child_id: Mapped[int] = mapped_column(sa.ForeignKey("child.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    child: Mapped[Child] = relationship()


class Application(db.Model):
    """A family's application for one child at one level of one season (a database constraint)."""

    __tablename__ = "application"
    __table_args__ = (
        sa.UniqueConstraint("child_id", "admission_level_id"),
        sa.CheckConstraint(_in_check("status", ApplicationStatus), name="status"),
        sa.CheckConstraint("residence_type IN ('permanent','temporary')", name="residence_type"),
        # The placement page: offers past their answer-by time, and the office's own offers.
        sa.Index("ix_application_level_status_deadline", "admission_level_id", "status", "offer_deadline"),
        sa.Index(
            "ix_application_office_offer",
            "admission_level_id",
            postgresql_where=sa.text("assigned_by_id IS NOT NULL"),
            sqlite_where=sa.text("assigned_by_id IS NOT NULL"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(20), unique=True)  # on the printed receipt
    child_id: Mapped[int] = mapped_column(sa.ForeignKey("child.id", ondelete="CASCADE"))
    admission_level_id: Mapped[int] = mapped_column(sa.ForeignKey("admission_level.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(12), default=ApplicationStatus.SUBMITTED)
    is_trial: Mapped[bool] = mapped_column(default=False)
    # Priority inputs, captured at submission (the allocation round reads these).
    catchment_school_id: Mapped[int | None] = mapped_column(sa.ForeignKey("school.id"), index=True)
    catchment_status: Mapped[str] = mapped_column(sa.String(10), default="ok")  # ok | none | ambiguous
    residence_type: Mapped[str] = mapped_column(sa.String(10))
    sibling_school_ids: Mapped[list] = mapped_column(sa.JSON, default=list)
    # The last form token seen: a retried or double-clicked submission gets the same application.
    idempotency_key: Mapped[str | None] = mapped_column(sa.String(64))
    submitted_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    submitted_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    withdrawn_at: Mapped[datetime | None]
    # Results (allocation rounds and the office's placement).
    allocated_school_id: Mapped[int | None] = mapped_column(sa.ForeignKey("school.id"), index=True)
    allocated_rank: Mapped[int | None]
    allocated_at: Mapped[datetime | None]
    offered_at: Mapped[datetime | None]
    confirmed_at: Mapped[datetime | None]
    declined_at: Mapped[datetime | None]
    expired_at: Mapped[datetime | None]
    # The answer-by time, the round behind the placement (its cutoffs explain it), who assigned it.
    offer_deadline: Mapped[datetime | None]
    placed_by_round_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("allocation_round.id", ondelete="SET NULL"), index=True
    )
    assigned_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))

    child: Mapped[Child] = relationship()
    admission_level: Mapped[AdmissionLevel] = relationship()
    catchment_school: Mapped[School | None] = relationship(foreign_keys=[catchment_school_id])
    allocated_school: Mapped[School | None] = relationship(foreign_keys=[allocated_school_id])
    choices: Mapped[list[ApplicationChoice]] = relationship(
        back_populates="application", order_by="ApplicationChoice.rank", cascade="all, delete-orphan"
    )

    @property
    def is_withdrawn(self) -> bool:
        return self.status == ApplicationStatus.WITHDRAWN


class ApplicationChoice(db.Model):
    """One ranked school of an application; the catchment school is the last, guaranteed choice."""

    __tablename__ = "application_choice"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "rank"),
        sa.UniqueConstraint("application_id", "school_id"),
        sa.CheckConstraint("rank BETWEEN 1 AND 4", name="rank"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id", ondelete="CASCADE"))
    rank: Mapped[int]
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("school.id"), index=True)
    is_catchment: Mapped[bool] = mapped_column(default=False)

    application: Mapped[Application] = relationship(back_populates="choices")
    school: Mapped[School] = relationship()


class RoundKind(enum.StrEnum):
    OFFICIAL = "official"
    WHAT_IF = "what_if"  # changed capacities, compared with its official round; never published


class RoundStatus(enum.StrEnum):
    DRAFT = "draft"  # the seed is drawn and its SHA-256 published; not run yet
    QUEUED = "queued"
    RUNNING = "running"
    DONE = "done"  # results stored, visible to officers only
    FAILED = "failed"
    PUBLISHED = "published"  # families told; the seed is revealed


class AllocationRound(db.Model):
    """One run of deferred acceptance for one level in one district (docs/allocation.md): official
    rounds 1, 2, … share round 1's seed; `input_snapshot` re-runs to `result` with allocate-file."""

    __tablename__ = "allocation_round"
    __table_args__ = (
        sa.CheckConstraint(_in_check("kind", RoundKind), name="kind"),
        sa.CheckConstraint(_in_check("status", RoundStatus), name="status"),
        sa.CheckConstraint("progress BETWEEN 0 AND 100", name="progress"),
        sa.CheckConstraint("number >= 1", name="number"),
        sa.Index("ix_allocation_round_scope", "admission_level_id", "district_id", "number"),
        sa.Index(
            "uq_allocation_round_official",
            "admission_level_id",
            "district_id",
            "number",
            unique=True,
            postgresql_where=sa.text("kind = 'official'"),
            sqlite_where=sa.text("kind = 'official'"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    admission_level_id: Mapped[int] = mapped_column(sa.ForeignKey("admission_level.id", ondelete="CASCADE"))
    district_id: Mapped[int] = mapped_column(sa.ForeignKey("district.id"), index=True)
    number: Mapped[int] = mapped_column(default=1)
    kind: Mapped[str] = mapped_column(sa.String(10), default=RoundKind.OFFICIAL)
    status: Mapped[str] = mapped_column(sa.String(10), default=RoundStatus.DRAFT)
    progress: Mapped[int] = mapped_column(default=0)
    base_round_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("allocation_round.id", ondelete="CASCADE"), index=True
    )
    seed: Mapped[str] = mapped_column(sa.String(64))  # secret until the round is published
    seed_sha256: Mapped[str] = mapped_column(sa.String(64))  # public from the start
    capacities: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # what-if: school code -> seats
    input_snapshot: Mapped[dict | None] = mapped_column(sa.JSON, deferred=True)
    result: Mapped[dict | None] = mapped_column(sa.JSON, deferred=True)
    summary: Mapped[dict] = mapped_column(sa.JSON, default=dict)  # per school; counts; timings
    fingerprint: Mapped[str | None] = mapped_column(sa.String(64))  # application states it was run on
    is_trial: Mapped[bool] = mapped_column(default=False)
    confirm_by: Mapped[datetime | None]  # answer-by time of the offers it published
    error: Mapped[str | None] = mapped_column(sa.Text)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    published_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    queued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    published_at: Mapped[datetime | None]

    admission_level: Mapped[AdmissionLevel] = relationship()
    base_round: Mapped[AllocationRound | None] = relationship(remote_side=[id])

    @property
    def is_official(self) -> bool:
        return self.kind == RoundKind.OFFICIAL

    @property
    def is_published(self) -> bool:
        return self.status == RoundStatus.PUBLISHED

    @property
    def is_final(self) -> bool:
        """Nothing is running: the progress page stops polling."""
        return self.status not in (RoundStatus.QUEUED, RoundStatus.RUNNING)


class AllocationOutcome(db.Model):
    """One application's place in one round (queried for school lists, comparisons, explanations)."""

    __tablename__ = "allocation_outcome"
    __table_args__ = (sa.Index("ix_allocation_outcome_school", "round_id", "school_id"),)
    round_id: Mapped[int] = mapped_column(
        sa.ForeignKey("allocation_round.id", ondelete="CASCADE"), primary_key=True
    )
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    school_id: Mapped[int | None] = mapped_column(sa.ForeignKey("school.id"))
    rank: Mapped[int | None] = mapped_column(sa.SmallInteger)  # 1-based position in her own list
    priority_class: Mapped[int | None] = mapped_column(sa.SmallInteger)  # at the school she got
    lottery: Mapped[int]
    previous_school_id: Mapped[int | None] = mapped_column(sa.ForeignKey("school.id"))  # held before


NOTE_MAX = 500  # characters of a council's note on a document
MESSAGE_MAX = 1000  # characters of a message between the council and the family


class DocumentKind(enum.StrEnum):
    BIRTH_CERTIFICATE = "birth_certificate"
    RESIDENCE_PROOF = "residence_proof"
    PRIORITY_PROOF = "priority_proof"  # needed only when the application claims a priority


class DocumentStatus(enum.StrEnum):
    PENDING = "pending"
    CHECKED = "checked"
    PROBLEM = "problem"  # flagged back to the family with a note they can answer
    NOT_NEEDED = "not_needed"


class CouncilState(enum.StrEnum):
    INCOMPLETE = "incomplete"  # some required document not checked yet
    PROBLEM = "problem"  # at least one document flagged
    COMPLETE = "complete"  # every required document checked (or not needed)


class DocumentCheck(db.Model):
    """One document of one application as the school's admission council found it."""

    __tablename__ = "document_check"
    __table_args__ = (
        sa.UniqueConstraint("application_id", "kind"),
        sa.CheckConstraint(_in_check("kind", DocumentKind), name="kind"),
        sa.CheckConstraint(_in_check("status", DocumentStatus), name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(12), default=DocumentStatus.PENDING)
    note: Mapped[str] = mapped_column(sa.String(NOTE_MAX), default="")  # shown to the family
    school_id: Mapped[int | None] = mapped_column(sa.ForeignKey("school.id"), index=True)  # whose council
    checked_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    checked_at: Mapped[datetime] = mapped_column(default=utcnow)


class CouncilReview(db.Model):
    """Where an application stands with the council (kept by admissions.council; the queue's filter)."""

    __tablename__ = "council_review"
    __table_args__ = (
        sa.CheckConstraint(_in_check("state", CouncilState), name="state"),
        sa.Index("ix_council_review_state", "state", "family_replied"),
    )
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), primary_key=True
    )
    state: Mapped[str] = mapped_column(sa.String(12), default=CouncilState.INCOMPLETE)
    family_replied: Mapped[bool] = mapped_column(default=False)  # a message not acted on yet
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CouncilMessage(db.Model):
    """The thread between a school's council and the family about one application's documents."""

    __tablename__ = "council_message"
    __table_args__ = (
        sa.CheckConstraint(
            "document_kind IS NULL OR " + _in_check("document_kind", DocumentKind), name="document_kind"
        ),
        sa.Index("ix_council_message_application", "application_id", "created_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    application_id: Mapped[int] = mapped_column(sa.ForeignKey("application.id", ondelete="CASCADE"))
    document_kind: Mapped[str | None] = mapped_column(sa.String(20))  # a flag's document; None = free message
    from_family: Mapped[bool] = mapped_column(default=False)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    body: Mapped[str] = mapped_column(sa.String(MESSAGE_MAX))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
