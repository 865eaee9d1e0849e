"""The school year: the current academic year and each school's terms (học kì I / II)."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from app.extensions import db
from app.i18n import local_today

from .models import SchoolClass, Term


def school_terms(cls: SchoolClass) -> list[Term]:
    return list(
        db.session.scalars(
            sa.select(Term)
            .where(Term.school_id == cls.school_id, Term.academic_year_id == cls.academic_year_id)
            .order_by(Term.number)
        )
    )


def pick_term(terms: list[Term], term_id: int | None, today: date | None = None) -> Term | None:
    if not terms:
        return None
    if term_id is not None:
        for t in terms:
            if t.id == term_id:
                return t
        return None
    today = today or local_today()
    for t in terms:
        if t.starts_on <= today <= t.ends_on:
            return t
    return terms[-1] if today > terms[-1].ends_on else terms[0]
