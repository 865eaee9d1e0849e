"""A pupil's confirmed overall results (contactbook.results), kept beside models.py (which would be
over 500 lines with them)."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models import utcnow


class TermResult(db.Model):
    """A pupil's overall result of a term ("1", "2") or of the year ("year") in a class, as the
    homeroom teacher confirmed it: the learning result computed from the published grade book
    (Circular 22, contactbook/circulars.py) and the conduct the teacher set. Families see it once
    confirmed."""

    __tablename__ = "cb_term_result"
    __table_args__ = (
        sa.UniqueConstraint("pupil_id", "class_id", "period"),
        sa.CheckConstraint("period IN ('1','2','year')", name="period"),
        sa.CheckConstraint("learning IN ('T','K','D','CD')", name="learning"),
        sa.CheckConstraint("conduct IN ('T','K','D','CD')", name="conduct"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_pupil.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_class.id", ondelete="CASCADE"), index=True)
    period: Mapped[str] = mapped_column(sa.String(4))
    learning: Mapped[str] = mapped_column(sa.String(2))
    conduct: Mapped[str] = mapped_column(sa.String(2))
    confirmed_at: Mapped[datetime] = mapped_column(default=utcnow)
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
