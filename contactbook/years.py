"""The school year in the contact book: each school's terms (học kì I / II) of an academic year.
The years themselves and which one is current belong to the platform (app.years)."""

from __future__ import annotations

from datetime import date, timedelta

import sqlalchemy as sa

from app.audit import audit
from app.extensions import db
from app.i18n import local_today
from app.models import AcademicYear, School
from app.years import current_year

from .models import SchoolClass, Term

__all__ = ["current_year", "default_term_dates", "ensure_terms", "pick_term", "school_terms", "set_terms"]


def default_term_dates(year: AcademicYear) -> list[tuple[int, date, date]]:
    """Term I from the start of the year to the day before term II (the year's
    `term2_start`: its own day, else mid-January), term II to the end of the year."""
    term2 = year.term2_start
    return [(1, year.starts_on, term2 - timedelta(days=1)), (2, term2, year.ends_on)]


def ensure_terms(school: School, year: AcademicYear) -> list[Term]:
    """The school's two terms of `year`, created with default dates when missing."""
    terms = {
        t.number: t
        for t in db.session.scalars(
            sa.select(Term).where(Term.school_id == school.id, Term.academic_year_id == year.id)
        )
    }
    for number, starts, ends in default_term_dates(year):
        if number not in terms:
            terms[number] = Term(
                school_id=school.id, academic_year_id=year.id, number=number, starts_on=starts, ends_on=ends
            )
            db.session.add(terms[number])
    db.session.flush()
    return [terms[1], terms[2]]


def set_terms(terms: list[Term], t1_start: date, t1_end: date, t2_start: date, t2_end: date) -> None:
    """New dates for the school's two terms (checked by forms.TermsForm)."""
    terms[0].starts_on, terms[0].ends_on = t1_start, t1_end
    terms[1].starts_on, terms[1].ends_on = t2_start, t2_end
    audit("contactbook.calendar", ("school", terms[0].school_id))


def school_terms(cls: SchoolClass) -> list[Term]:
    """The terms of the class's school and year, in order."""
    return list(
        db.session.scalars(
            sa.select(Term)
            .where(Term.school_id == cls.school_id, Term.academic_year_id == cls.academic_year_id)
            .order_by(Term.number)
        )
    )


def pick_term(terms: list[Term], term_id: int | None, today: date | None = None) -> Term | None:
    """The term asked for (None if it is not one of `terms`), else the one running today, else
    the nearest."""
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
