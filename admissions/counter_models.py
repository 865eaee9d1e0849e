"""The office's figures kept as counters (docs/capacity.md, "The office at city scale"): one row
per level, scope, place, trial flag, status and hour. Beside models.py, which would be over 500
lines with it; admissions/counters.py keeps the rows and reads them."""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db

# What a row counts: applications listing a school (scope "school", scope_id a school) or of
# children living in a ward (scope "ward", scope_id a ward), by status; and the same by the UTC
# hour of their first submission, whatever their status ("school_hour", "ward_hour": status "").
SCOPES = ("school", "ward", "school_hour", "ward_hour")


class AdmissionCounter(db.Model):
    __tablename__ = "admission_counter"
    __table_args__ = (
        sa.CheckConstraint("scope IN ('school','ward','school_hour','ward_hour')", name="scope"),
    )
    admission_level_id: Mapped[int] = mapped_column(
        sa.ForeignKey("admission_level.id", ondelete="CASCADE"), primary_key=True
    )
    scope: Mapped[str] = mapped_column(sa.String(12), primary_key=True)
    scope_id: Mapped[int] = mapped_column(primary_key=True)
    is_trial: Mapped[bool] = mapped_column(primary_key=True)
    status: Mapped[str] = mapped_column(sa.String(12), primary_key=True)  # "" on the hourly rows
    hour: Mapped[str] = mapped_column(sa.String(13), primary_key=True)  # "YYYY-MM-DD HH" UTC, "" else
    applications: Mapped[int] = mapped_column(default=0)  # ward rows; hourly rows
    first_choice: Mapped[int] = mapped_column(default=0)  # school rows: ranked first
    catchment: Mapped[int] = mapped_column(default=0)  # school rows: the guaranteed catchment choice
    any_choice: Mapped[int] = mapped_column(default=0)  # school rows: listed at any rank
    placed: Mapped[int] = mapped_column(default=0)  # school rows: allocated_school_id is the school
    # school rows: listed above the seat the application holds elsewhere (a claim on the school)
    claims: Mapped[int] = mapped_column(default=0)


class RosterRegistration(db.Model):
    """A roster entry whose child has a live (not withdrawn) application for a level: one row per
    (level, entry), kept by the database itself (triggers on `application`, migration
    9c4e1f7a2b60; the row goes with its application through the foreign key), so that the
    eligible list ("who has not registered yet") rules out a district's registered children
    through this narrow key instead of joining every application of the city to its child."""

    __tablename__ = "roster_registration"
    admission_level_id: Mapped[int] = mapped_column(
        sa.ForeignKey("admission_level.id", ondelete="CASCADE"), primary_key=True
    )
    roster_entry_id: Mapped[int] = mapped_column(
        sa.ForeignKey("roster_entry.id", ondelete="CASCADE"), primary_key=True
    )
    application_id: Mapped[int] = mapped_column(
        sa.ForeignKey("application.id", ondelete="CASCADE"), unique=True
    )
