"""Primary classes' assessment by Circular 27 (contactbook.primary), kept beside models.py (which
would be over 500 lines with them): the qualities and competences the homeroom teacher assesses at
the four points of the year, and the year's overall result as confirmed."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models import utcnow

from .circulars import CRITERIA, POINTS, PRIMARY_YEAR_NAMES


def _in(column: str, values) -> str:
    return f"{column} IN ({','.join(repr(v) for v in values)})"


class QualityEvaluation(db.Model):
    """A pupil's qualities and competences at one point of the year in a class: the teacher's
    comment, and one QualityLevel per criterion assessed. Families see it once saved."""

    __tablename__ = "cb_primary_evaluation"
    __table_args__ = (
        sa.UniqueConstraint("pupil_id", "class_id", "point"),
        sa.CheckConstraint(_in("point", POINTS), name="point"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_pupil.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_class.id", ondelete="CASCADE"), index=True)
    point: Mapped[str] = mapped_column(sa.String(3))
    comment: Mapped[str] = mapped_column(sa.String(500), default="")
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    levels: Mapped[list[QualityLevel]] = relationship(
        back_populates="evaluation", cascade="all, delete-orphan", passive_deletes=True
    )


class QualityLevel(db.Model):
    """One quality or competence of an evaluation: Tốt (T), Đạt (D) or Cần cố gắng (C)."""

    __tablename__ = "cb_primary_level"
    __table_args__ = (
        sa.UniqueConstraint("evaluation_id", "criterion"),
        sa.CheckConstraint(_in("criterion", CRITERIA), name="criterion"),
        sa.CheckConstraint("level IN ('T','D','C')", name="level"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    evaluation_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_primary_evaluation.id", ondelete="CASCADE"))
    criterion: Mapped[str] = mapped_column(sa.String(12))
    level: Mapped[str] = mapped_column(sa.String(1))
    evaluation: Mapped[QualityEvaluation] = relationship(back_populates="levels")


class PrimaryYearResult(db.Model):
    """A pupil's year result in a primary class as the homeroom teacher confirmed it: the result
    computed then (`proposed`) and the one confirmed (`result`, with the teacher's `reason` when
    they differ). Families see it once confirmed."""

    __tablename__ = "cb_primary_year_result"
    __table_args__ = (
        sa.UniqueConstraint("pupil_id", "class_id"),
        sa.CheckConstraint(_in("proposed", PRIMARY_YEAR_NAMES), name="proposed"),
        sa.CheckConstraint(_in("result", PRIMARY_YEAR_NAMES), name="result"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_pupil.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_class.id", ondelete="CASCADE"), index=True)
    proposed: Mapped[str] = mapped_column(sa.String(4))
    result: Mapped[str] = mapped_column(sa.String(4))
    reason: Mapped[str] = mapped_column(sa.String(500), default="")
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
