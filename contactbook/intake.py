"""Incoming pupils: the children admitted to a school (app.incoming: admissions offers the
confirmed ones) become its new grade 1, grade 6 or kindergarten pupils of their year.

Staff split them into classes (`split`: rules.balanced_split, by gender and date of birth), move
pupils between classes (`move`), then `confirm` in one audited step: each child becomes a pupil
(matched by its pupil code, the personal ID, so a child already imported is not doubled),
enrolled in its class of that year, with the parent accounts that applied and proved their phone
as guardians; the families are told the class (notify). Until then the split is only
cb_intake_placement rows. A child admitted later appears unplaced; it joins a class by a move or
a new split of the unconfirmed children, and a second confirmation."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import sqlalchemy as sa
from flask_babel import gettext

from app.audit import audit
from app.extensions import db
from app.incoming import IncomingChild, incoming_children
from app.models import AcademicYear, School, User, utcnow
from app.years import current_year, year_by_id

from .intake_models import IntakePlacement
from .models import Enrolment, Guardian, Pupil, SchoolClass
from .notify import notify_guardians
from .rules import RuleError, balanced_split, intake_class_names
from .years import ensure_terms

NAME_MAX = 20


class IntakeError(Exception):
    """A refused split, move or confirmation: `code` says why."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = params


@dataclass
class IncomingRow:
    child: IncomingChild
    class_name: str | None  # None: not placed yet
    confirmed: bool


@dataclass
class Intake:
    school: School
    year: AcademicYear
    rows: list[IncomingRow]

    @property
    def class_names(self) -> list[str]:
        """The classes of the split, in order."""
        return sorted({r.class_name for r in self.rows if r.class_name}, key=lambda n: (len(n), n))

    @property
    def classes(self) -> list[tuple[str, list[IncomingRow]]]:
        """Each class of the split with its pupils (girls, boys counted by the page)."""
        by_name: dict[str, list[IncomingRow]] = defaultdict(list)
        for r in self.rows:
            if r.class_name:
                by_name[r.class_name].append(r)
        return [(name, by_name[name]) for name in self.class_names]

    @property
    def unplaced(self) -> list[IncomingRow]:
        return [r for r in self.rows if r.class_name is None]

    @property
    def to_confirm(self) -> list[IncomingRow]:
        return [r for r in self.rows if r.class_name and not r.confirmed]


def target_year(raw_id: str | None = None) -> AcademicYear | None:
    """The year of the incoming pupils: the one asked for, else the year after the current one
    (summer: September's classes), else the current one."""
    asked = year_by_id(raw_id) if raw_id else None
    if asked is not None:
        return asked
    current = current_year()
    if current is None:
        return None
    following = db.session.scalar(
        sa.select(AcademicYear)
        .where(AcademicYear.starts_on > current.ends_on)
        .order_by(AcademicYear.starts_on)
        .limit(1)
    )
    return following or current


def load(school: School, year: AcademicYear) -> Intake:
    """The school's incoming pupils of `year` with their class in the split (two queries and the
    sources' own)."""
    children = incoming_children(school.id, year.id)
    placements = _placements(school, year)
    rows = []
    for child in children:
        p = placements.get(child.key)
        rows.append(IncomingRow(child, p.class_name if p else None, bool(p and p.confirmed_at)))
    return Intake(school, year, rows)


def _placements(school: School, year: AcademicYear, *, lock: bool = False) -> dict[str, IntakePlacement]:
    """The split's rows; `lock`: held until the commit (two staff confirming at once: the second
    waits, then finds the pupils confirmed)."""
    q = sa.select(IntakePlacement).where(
        IntakePlacement.school_id == school.id, IntakePlacement.academic_year_id == year.id
    )
    if lock:
        q = q.with_for_update().execution_options(populate_existing=True)
    return {p.source_key: p for p in db.session.scalars(q)}


def split(intake: Intake, count: int, actor: User) -> int:
    """Deal the unconfirmed pupils of each grade into `count` classes (rules.balanced_split),
    named by default (1A, 1B, … or MG5A, …). Returns how many pupils were placed."""
    pending = [r for r in intake.rows if not r.confirmed]
    if not pending:
        raise IntakeError("nothing_to_split")
    if count > len(pending):
        raise IntakeError("too_many_classes", count=len(pending))
    placements = _placements(intake.school, intake.year)
    by_grade: dict[int, list[IncomingRow]] = defaultdict(list)
    for r in pending:
        by_grade[r.child.grade].append(r)
    for grade, rows in by_grade.items():
        try:
            dealt = balanced_split(
                [(r.child.key, r.child.gender, r.child.date_of_birth) for r in rows], count
            )
        except RuleError as err:
            raise IntakeError(err.code) from None
        names = intake_class_names(grade, count)
        for r in rows:
            _place(intake, placements, r, names[dealt[r.child.key]])
    db.session.flush()
    audit(
        "contactbook.intake_split",
        ("school", intake.school.id),
        actor_id=actor.id,
        year=intake.year.id,
        classes=count,
        pupils=len(pending),
    )
    return len(pending)


def _place(intake: Intake, placements: dict, row: IncomingRow, name: str) -> None:
    p = placements.get(row.child.key)
    if p is None:
        p = IntakePlacement(
            school_id=intake.school.id,
            academic_year_id=intake.year.id,
            source_key=row.child.key,
            grade=row.child.grade,
            class_name=name,
        )
        db.session.add(p)
        placements[row.child.key] = p
    else:
        p.class_name = name
        p.grade = row.child.grade
        p.updated_at = utcnow()
    row.class_name = name


def move(intake: Intake, moves: dict[str, str], actor: User) -> int:
    """Put pupils (key → class name) in other classes of the split, or in a new class typed by
    staff. Confirmed pupils stay where they are. Returns how many moved."""
    rows = {r.child.key: r for r in intake.rows}
    placements = _placements(intake.school, intake.year)
    moved = 0
    for key, raw in moves.items():
        row = rows.get(key)
        name = " ".join((raw or "").split()).upper()
        if row is None:
            raise IntakeError("unknown_pupil")
        if not name or len(name) > NAME_MAX:
            raise IntakeError("bad_name")
        if row.confirmed or name == row.class_name:
            continue
        _place(intake, placements, row, name)
        moved += 1
    db.session.flush()
    if moved:
        audit("contactbook.intake_move", ("school", intake.school.id), actor_id=actor.id, moved=moved)
    return moved


def confirm(intake: Intake, actor: User) -> dict[str, int]:
    """Enrol every placed, unconfirmed pupil in its class of the year, link its guardians, tell
    the families; one audit entry. Refuses while a pupil is unplaced."""
    if intake.unplaced:
        raise IntakeError("unplaced", count=len(intake.unplaced))
    school, year = intake.school, intake.year
    placements = _placements(school, year, lock=True)
    rows = [r for r in intake.to_confirm if placements[r.child.key].confirmed_at is None]
    if not rows:
        raise IntakeError("nothing_to_confirm")
    classes = {
        c.name: c
        for c in db.session.scalars(
            sa.select(SchoolClass).where(
                SchoolClass.school_id == school.id, SchoolClass.academic_year_id == year.id
            )
        )
    }
    for r in rows:
        existing = classes.get(r.class_name)
        if existing is not None and existing.grade != r.child.grade:
            raise IntakeError("name_other_grade", name=r.class_name)
    ensure_terms(school, year)
    new_classes = 0
    for r in rows:
        if r.class_name not in classes:
            classes[r.class_name] = SchoolClass(
                school_id=school.id, academic_year_id=year.id, grade=r.child.grade, name=r.class_name
            )
            db.session.add(classes[r.class_name])
            new_classes += 1
    codes = [r.child.pupil_code for r in rows]
    pupils = {
        p.pupil_code: p
        for p in db.session.scalars(
            sa.select(Pupil).where(Pupil.school_id == school.id, Pupil.pupil_code.in_(codes))
        )
    }
    for r in rows:
        if r.child.pupil_code not in pupils:
            c = r.child
            pupil = Pupil(
                school_id=school.id,
                pupil_code=c.pupil_code,
                full_name=c.full_name,
                date_of_birth=c.date_of_birth,
                gender=c.gender,
            )
            db.session.add(pupil)
            pupils[c.pupil_code] = pupil
    db.session.flush()
    pupil_ids = [p.id for p in pupils.values()]
    enrolments = {
        e.pupil_id: e
        for e in db.session.scalars(
            sa.select(Enrolment).where(
                Enrolment.pupil_id.in_(pupil_ids), Enrolment.academic_year_id == year.id
            )
        )
    }
    linked = {
        (pupil_id, user_id)
        for pupil_id, user_id in db.session.execute(
            sa.select(Guardian.pupil_id, Guardian.user_id).where(Guardian.pupil_id.in_(pupil_ids))
        )
    }
    guardians = 0
    by_class: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        pupil, cls = pupils[r.child.pupil_code], classes[r.class_name]
        e = enrolments.get(pupil.id)
        if e is None:
            db.session.add(Enrolment(pupil_id=pupil.id, class_id=cls.id, academic_year_id=year.id))
        else:
            e.class_id = cls.id
        for user_id in r.child.guardian_ids:
            if (pupil.id, user_id) not in linked:
                db.session.add(Guardian(pupil_id=pupil.id, user_id=user_id))
                linked.add((pupil.id, user_id))
                guardians += 1
        p = placements[r.child.key]
        p.pupil_id, p.confirmed_at = pupil.id, utcnow()
        r.confirmed = True
        by_class[cls.name].append(pupil.id)
    db.session.flush()
    for name, ids in by_class.items():
        notify_guardians(
            "class_assigned",
            ids,
            {"class_name": name, "school": school.name, "year": year.name},
            sender_id=actor.id,
            school_id=school.id,
        )
    counts = {
        "pupils": len(rows),
        "classes": len(by_class),
        "new_classes": new_classes,
        "guardians": guardians,
    }
    audit("contactbook.intake_confirm", ("school", school.id), actor_id=actor.id, year=year.id, **counts)
    return counts


def moves_from(form) -> dict[str, str]:
    """The page's moves: `move-<key>` → the class typed or chosen for that pupil."""
    return {k[5:]: v[:100] for k, v in form.items() if k.startswith("move-") and len(k) <= 70}


def problems() -> dict[str, str]:
    """The refusals, as staff read them."""
    return {
        "no_year": gettext("There is no current academic year; ask the city administrator to set one."),
        "nothing_to_split": gettext("There is no incoming pupil to split."),
        "too_many_classes": gettext("There are only %(count)d pupils to split."),
        "split_count": gettext("Enter a number of classes between 1 and 30."),
        "unknown_pupil": gettext("Some of these pupils are not incoming pupils of this school."),
        "bad_name": gettext("Enter a class name of at most 20 characters."),
        "unplaced": gettext("%(count)d pupils have no class yet: split or move them first."),
        "nothing_to_confirm": gettext("Every incoming pupil is already in a class."),
        "name_other_grade": gettext("Class %(name)s already exists in another grade."),
        "tick": gettext("Tick the box to confirm."),
    }
