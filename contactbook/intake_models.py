"""The incoming pupils' split into classes (contactbook.intake), kept beside models.py (which
would be over 500 lines with it)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models import utcnow


class IntakePlacement(db.Model):
    """An incoming pupil's class (app.incoming: admitted by admissions) in the staff's split of a
    school's new grade; `pupil_id` and `confirmed_at` are set when the split is confirmed."""

    __tablename__ = "cb_intake_placement"
    __table_args__ = (
        sa.UniqueConstraint("school_id", "academic_year_id", "source_key"),
        sa.CheckConstraint("grade BETWEEN 0 AND 12", name="grade"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("school.id", ondelete="CASCADE"))
    academic_year_id: Mapped[int] = mapped_column(sa.ForeignKey("academic_year.id"), index=True)
    source_key: Mapped[str] = mapped_column(sa.String(60))
    grade: Mapped[int]
    class_name: Mapped[str] = mapped_column(sa.String(20))
    pupil_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cb_pupil.id", ondelete="SET NULL"), index=True
    )
    confirmed_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
