"""Kindergarten records (contactbook.kindergarten), kept beside models.py (which would be over
500 lines with them): the developmental evaluation by domain at the end of each term, and the
height and weight checks. A kindergarten class (grade 0) has no grade book."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models import utcnow

from .rules import KG_DOMAINS


class DevelopmentEvaluation(db.Model):
    """One domain's evaluation of a child at the end of a term: Đạt (D) or Chưa đạt (CD), with the
    teacher's comment."""

    __tablename__ = "cb_kg_evaluation"
    __table_args__ = (
        sa.UniqueConstraint("pupil_id", "term_id", "domain"),
        sa.CheckConstraint(f"domain IN ({','.join(repr(d) for d in KG_DOMAINS)})", name="domain"),
        sa.CheckConstraint("result IN ('D','CD')", name="result"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_pupil.id", ondelete="CASCADE"))
    term_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_term.id", ondelete="CASCADE"), index=True)
    domain: Mapped[str] = mapped_column(sa.String(20))
    result: Mapped[str] = mapped_column(sa.String(2))
    comment: Mapped[str] = mapped_column(sa.String(500), default="")
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class GrowthCheck(db.Model):
    """A height and weight check of a child on a day (centimetres and kilograms, one decimal)."""

    __tablename__ = "cb_kg_growth"
    __table_args__ = (
        sa.UniqueConstraint("pupil_id", "measured_on"),
        sa.CheckConstraint("height_cm > 0 AND weight_kg > 0", name="positive"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_pupil.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_class.id", ondelete="CASCADE"), index=True)
    measured_on: Mapped[date]
    height_cm: Mapped[Decimal] = mapped_column(sa.Numeric(4, 1))
    weight_kg: Mapped[Decimal] = mapped_column(sa.Numeric(4, 1))
    recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
