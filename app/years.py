"""Academic years, shared by both areas: the city administrator creates each year (name, dates,
the day term II starts) and sets the current one. Admissions seasons and contact-book classes
belong to a year; switching the current year only moves the mark, so last year's records stay
(the contact book keeps working in the current year, and reads the others)."""

from __future__ import annotations

import re
from datetime import date

import sqlalchemy as sa

from .audit import audit
from .extensions import db
from .i18n import local_today
from .models import AcademicYear, User, default_term2_start

NAME = re.compile(r"^(\d{4})-(\d{4})$")
# A school year runs from late August/September to May (or the end of June for kindergartens).
MAX_DAYS = 366


class YearError(Exception):
    """A refused year: `code` names the problem, `field` the form field it belongs to."""

    def __init__(self, code: str, field: str | None = None):
        super().__init__(code)
        self.code = code
        self.field = field


def current_year_id() -> sa.ScalarSelect:
    """SQL for the id of the current academic year (the latest, should several be marked)."""
    return (
        sa.select(AcademicYear.id)
        .where(AcademicYear.is_current.is_(True))
        .order_by(AcademicYear.starts_on.desc())
        .limit(1)
        .scalar_subquery()
    )


def current_year() -> AcademicYear | None:
    """The academic year marked current, or None on a new installation."""
    return db.session.scalar(sa.select(AcademicYear).where(AcademicYear.id == current_year_id()))


def all_years() -> list[AcademicYear]:
    """Every academic year, the latest first."""
    return list(db.session.scalars(sa.select(AcademicYear).order_by(AcademicYear.starts_on.desc())))


def year_by_name(name: str) -> AcademicYear | None:
    return db.session.scalar(sa.select(AcademicYear).where(AcademicYear.name == (name or "").strip()))


def year_by_id(raw: str | int | None) -> AcademicYear | None:
    """The year of a submitted id (None for anything that is not a plausible id)."""
    text = str(raw or "").strip()
    if not text.isdigit() or len(text) > 9:
        return None
    return db.session.get(AcademicYear, int(text))


def next_year_suggestion() -> dict:
    """What the new-year form proposes: the year after the latest one, a year later to the day
    (on a new installation, the school year of today's date)."""
    latest = db.session.scalar(sa.select(AcademicYear).order_by(AcademicYear.starts_on.desc()).limit(1))
    if latest is None:
        today = local_today()
        first = today.year if today.month >= 6 else today.year - 1
        # 5 September: the school opening day across Vietnam.
        return {
            "name": f"{first}-{first + 1}",
            "starts_on": date(first, 9, 5),
            "ends_on": date(first + 1, 5, 31),
        }
    first = latest.starts_on.year + 1
    try:
        return {
            "name": f"{first}-{first + 1}",
            "starts_on": latest.starts_on.replace(year=first),
            "ends_on": latest.ends_on.replace(year=latest.ends_on.year + 1),
        }
    except ValueError:  # 29 February
        return {"name": f"{first}-{first + 1}"}


def check_year(
    name: str,
    starts_on: date,
    ends_on: date,
    term2_starts_on: date | None,
    *,
    editing: AcademicYear | None = None,
) -> str:
    """The name, cleaned, or a YearError: `YYYY-YYYY` of two following years, a start in the first
    year and an end in the second, at most a year long, term II starting inside it, and no overlap
    with another year."""
    name = (name or "").strip()
    m = NAME.match(name)
    if not m or int(m[2]) != int(m[1]) + 1:
        raise YearError("bad_name", "name")
    if starts_on.year != int(m[1]):
        raise YearError("start_outside", "starts_on")
    if ends_on.year != int(m[2]):
        raise YearError("end_outside", "ends_on")
    if not starts_on < ends_on or (ends_on - starts_on).days > MAX_DAYS:
        raise YearError("bad_dates", "ends_on")
    if term2_starts_on is not None and not starts_on < term2_starts_on <= ends_on:
        raise YearError("bad_term", "term2_starts_on")
    same = year_by_name(name)
    if same is not None and same is not editing:
        raise YearError("name_taken", "name")
    others = sa.true() if editing is None else AcademicYear.id != editing.id
    overlap = db.session.scalar(
        sa.select(AcademicYear.id)
        .where(AcademicYear.starts_on <= ends_on, AcademicYear.ends_on >= starts_on, others)
        .limit(1)
    )
    if overlap is not None:
        raise YearError("overlap", "starts_on")
    return name


def create_year(
    name: str,
    starts_on: date,
    ends_on: date,
    *,
    term2_starts_on: date | None = None,
    current: bool = False,
    actor: User | None = None,
) -> AcademicYear:
    """A new academic year (checked by check_year), made current when asked; audited."""
    name = check_year(name, starts_on, ends_on, term2_starts_on)
    year = AcademicYear(
        name=name,
        starts_on=starts_on,
        ends_on=ends_on,
        term2_starts_on=term2_starts_on or default_term2_start(starts_on, ends_on),
        is_current=False,
    )
    db.session.add(year)
    db.session.flush()
    audit("year.create", year, actor_id=actor.id if actor else None)
    if current:
        set_current(year, actor)
    return year


def can_edit(year: AcademicYear) -> bool:
    """A year's dates may be corrected until it starts and while it is not the current one: the
    records of a running or past year depend on them."""
    return not year.is_current and year.starts_on > local_today()


def update_year(
    year: AcademicYear,
    starts_on: date,
    ends_on: date,
    term2_starts_on: date | None,
    actor: User | None = None,
) -> None:
    """New dates for a year that has not started (can_edit), checked like a new one; audited."""
    if not can_edit(year):
        raise YearError("started", "starts_on")
    check_year(year.name, starts_on, ends_on, term2_starts_on, editing=year)
    year.starts_on, year.ends_on = starts_on, ends_on
    year.term2_starts_on = term2_starts_on or default_term2_start(starts_on, ends_on)
    db.session.flush()
    audit("year.update", year, actor_id=actor.id if actor else None)


def set_current(year: AcademicYear, actor: User | None = None) -> bool:
    """Make `year` the current one; False when it already was. The other years keep every record
    (they are only no longer current). Audited with the year that was current before."""
    previous = current_year()
    if year.is_current and previous is not None and previous.id == year.id:
        return False
    db.session.execute(sa.update(AcademicYear).where(AcademicYear.id != year.id).values(is_current=False))
    db.session.flush()
    year.is_current = True
    db.session.flush()
    audit(
        "year.set_current",
        year,
        actor_id=actor.id if actor else None,
        previous_year_id=previous.id if previous else None,
    )
    return True
