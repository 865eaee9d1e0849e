"""What the contact book tells the platform's personal-data pages (app.privacy): the children
of a parent whose contact-book data it processes (their own consent counts from age 7)."""

from __future__ import annotations

import sqlalchemy as sa

from app.extensions import db
from app.privacy import Child

from .models import Guardian, Pupil


def children(user) -> list[Child]:
    q = (
        sa.select(Pupil.id, Pupil.full_name, Pupil.date_of_birth)
        .join(Guardian, Guardian.pupil_id == Pupil.id)
        .where(Guardian.user_id == user.id)
        .order_by(Pupil.full_name, Pupil.id)
    )
    return [Child(f"cb_pupil:{pid}", name, born, "contact_book") for pid, name, born in db.session.execute(q)]
