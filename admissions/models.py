"""Admissions data: catchments (tuyến tuyển sinh) and the residency roster."""
from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models import ResidentialGroup, School, Ward, utcnow


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
