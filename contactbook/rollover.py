"""Rollover: a school prepares next year's classes from this year's.

Every class of the current year moves up a grade into the next academic year (the year that
starts after the current one ends), renamed 6A → 7A unless staff type another name, with its
homeroom teacher; its pupils are enrolled in the new class, except those kept back (they stay in
their grade, in a class of the same name) and the pupils of the school's last grade, who leave:
they get no class next year and keep this year's records. Pupils, guardians and their accounts
are the same rows, so families keep their access. `plan` only reads (the preview and its
counts); `apply` writes the plan in one step, audited. Subject teachers follow their class too. A school rolls over once."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa

from app.audit import audit
from app.extensions import db
from app.models import AcademicYear, School, User, utcnow
from app.years import current_year

from .catalog import grades_of_level, guess_subject
from .models import Enrolment, Pupil, SchoolClass, Subject, TeachingAssignment
from .rules import fold, promoted_class_name
from .years import ensure_terms

NAME_MAX = 20


class RolloverError(Exception):
    """A refused rollover: `code` says why; `class_id` names the class row it belongs to."""

    def __init__(self, code: str, class_id: int | None = None, **params):
        super().__init__(code)
        self.code = code
        self.class_id = class_id
        self.params = params


@dataclass
class ClassPlan:
    cls: SchoolClass
    pupils: list[Pupil]
    leaving: bool  # the school's last grade: its pupils leave the school
    new_name: str
    kept_back: list[Pupil] = field(default_factory=list)
    teaching: int = 0  # subject teachers of the class, who carry over to its new class
    problem: str | None = None  # a code of RolloverError, shown on the row

    @property
    def moving(self) -> int:
        return 0 if self.leaving else len(self.pupils) - len(self.kept_back)


@dataclass
class RolloverPlan:
    school: School
    source: AcademicYear
    target: AcademicYear
    rows: list[ClassPlan]

    @property
    def counts(self) -> dict[str, int]:
        return {
            "classes": len(
                {fold(r.new_name) for r in self.rows if not r.leaving}
                | {fold(r.cls.name) for r in self.rows if r.kept_back}
            ),
            "promoted": sum(r.moving for r in self.rows),
            "kept_back": sum(len(r.kept_back) for r in self.rows),
            "leaving": sum(len(r.pupils) - len(r.kept_back) for r in self.rows if r.leaving),
            "teaching": sum(r.teaching for r in self.rows if not r.leaving),
        }

    @property
    def ok(self) -> bool:
        return all(r.problem is None for r in self.rows)


def next_year(year: AcademicYear) -> AcademicYear | None:
    """The academic year that follows `year` (the first to start after it ends)."""
    return db.session.scalar(
        sa.select(AcademicYear)
        .where(AcademicYear.starts_on > year.ends_on)
        .order_by(AcademicYear.starts_on)
        .limit(1)
    )


def years_of(school: School) -> tuple[AcademicYear, AcademicYear]:
    """(this year, next year), or a RolloverError: no current year, no next year, already done."""
    source = current_year()
    if source is None:
        raise RolloverError("no_year")
    target = next_year(source)
    if target is None:
        raise RolloverError("no_next_year", year=source.name)
    this_years = (
        sa.select(Enrolment.pupil_id)
        .join(SchoolClass, SchoolClass.id == Enrolment.class_id)
        .where(SchoolClass.school_id == school.id, Enrolment.academic_year_id == source.id)
    )
    done = db.session.scalar(
        sa.select(Enrolment.id)
        .where(Enrolment.academic_year_id == target.id, Enrolment.pupil_id.in_(this_years))
        .limit(1)
    )
    if done is not None:
        raise RolloverError("already_done", year=target.name)
    return source, target


def _target_classes(school: School, target: AcademicYear) -> list[SchoolClass]:
    return list(
        db.session.scalars(
            sa.select(SchoolClass).where(
                SchoolClass.school_id == school.id, SchoolClass.academic_year_id == target.id
            )
        )
    )


def plan(
    school: School,
    names: dict[int, str] | None = None,
    kept_back: dict[int, str] | None = None,
) -> RolloverPlan:
    """The preview: each class of this year with its new name (`names[class_id]`, default 6A →
    7A) and the pupils kept back (`kept_back[class_id]`: pupil codes separated by commas, spaces
    or new lines). Problems are set on the rows, nothing is written."""
    source, target = years_of(school)
    names, kept_back = names or {}, kept_back or {}
    classes = db.session.scalars(
        sa.select(SchoolClass)
        .where(SchoolClass.school_id == school.id, SchoolClass.academic_year_id == source.id)
        .order_by(SchoolClass.grade, SchoolClass.name)
    ).all()
    pupils: dict[int, list[Pupil]] = defaultdict(list)
    marked: dict[int, list[str]] = defaultdict(list)  # the homeroom teachers' repeaters
    for class_id, repeats, pupil in db.session.execute(
        sa.select(Enrolment.class_id, Enrolment.repeats, Pupil)
        .join(Pupil, Pupil.id == Enrolment.pupil_id)
        .where(Enrolment.class_id.in_([c.id for c in classes]))
        .order_by(Pupil.full_name, Pupil.id)
    ).all():
        pupils[class_id].append(pupil)
        if repeats:
            marked[class_id].append(pupil.pupil_code)
    teaching = dict(
        db.session.execute(
            sa.select(TeachingAssignment.class_id, sa.func.count(TeachingAssignment.id))
            .where(TeachingAssignment.class_id.in_([c.id for c in classes]))
            .group_by(TeachingAssignment.class_id)
        ).all()
    )
    grades = grades_of_level(school.level)
    last = max(grades) if grades else 12
    taken = {fold(c.name): c.grade for c in _target_classes(school, target)}
    rows, seen = [], defaultdict(list)
    for cls in classes:
        leaving = cls.grade >= last
        typed = " ".join((names.get(cls.id) or "").split())
        row = ClassPlan(cls, pupils[cls.id], leaving, typed or promoted_class_name(cls.name, cls.grade))
        row.teaching = teaching.get(cls.id, 0)
        typed_kept = kept_back.get(cls.id)
        kept_text = ", ".join(marked[cls.id]) if typed_kept is None else typed_kept
        codes = {c.strip().casefold() for c in kept_text.replace(",", " ").split()}
        row.kept_back = [p for p in row.pupils if p.pupil_code.casefold() in codes]
        if len(row.kept_back) < len(codes):
            row.problem = "unknown_pupil"
        elif not leaving and (len(row.new_name) > NAME_MAX or not typed and names.get(cls.id) is not None):
            row.problem = "bad_name"
        elif not leaving and fold(row.new_name) in taken:
            row.problem = "name_exists"
        if not leaving:
            seen[fold(row.new_name)].append(row)
        rows.append(row)
    for same in seen.values():
        for row in same[1:]:
            row.problem = row.problem or "name_twice"
    for row in rows:  # pupils kept back stay in a class of this year's name: not another grade's
        promoted = seen.get(fold(row.cls.name))
        if row.kept_back and promoted and promoted[0].cls.grade + 1 != row.cls.grade:
            row.problem = row.problem or "name_twice"
        if row.kept_back and taken.get(fold(row.cls.name), row.cls.grade) != row.cls.grade:
            row.problem = row.problem or "name_exists"
    return RolloverPlan(school, source, target, rows)


def apply(rollover: RolloverPlan, actor: User | None = None) -> dict[str, int]:
    """Write a clean plan: next year's classes, the pupils' enrolments, the school's terms.
    Refuses (RolloverError "not_ready") a plan with problems, before writing."""
    if not rollover.ok:
        raise RolloverError("not_ready")
    target, school = rollover.target, rollover.school
    new_classes = {fold(c.name): c for c in _target_classes(school, target)}

    def class_named(name: str, grade: int, homeroom_id: int | None) -> SchoolClass:
        key = fold(name)
        if key not in new_classes:
            new_classes[key] = SchoolClass(
                school_id=school.id,
                academic_year_id=target.id,
                grade=grade,
                name=name,
                homeroom_teacher_id=homeroom_id,
            )
            db.session.add(new_classes[key])
        return new_classes[key]

    placed: list[tuple[Pupil, SchoolClass]] = []
    moved: list[tuple[SchoolClass, SchoolClass]] = []
    for row in rollover.rows:
        kept = {p.id for p in row.kept_back}
        if not row.leaving:
            promoted = class_named(row.new_name, row.cls.grade + 1, row.cls.homeroom_teacher_id)
            moved.append((row.cls, promoted))
            placed += [(p, promoted) for p in row.pupils if p.id not in kept]
        if row.leaving:  # archived with a mark; this year's records stay
            for p in row.pupils:
                if p.id not in kept:
                    p.left_at = utcnow()
        if kept:
            # Kept back: the same grade, in a class of this year's name (no homeroom teacher yet).
            again = class_named(row.cls.name, row.cls.grade, None)
            placed += [(p, again) for p in row.kept_back]
    db.session.flush()
    db.session.add_all(Enrolment(pupil_id=p.id, class_id=c.id, academic_year_id=target.id) for p, c in placed)
    _carry_teaching(school, moved)
    ensure_terms(school, target)
    counts = rollover.counts
    audit(
        "contactbook.rollover",
        school,
        actor_id=actor.id if actor else None,
        source_year_id=rollover.source.id,
        target_year_id=target.id,
        **counts,
    )
    db.session.flush()
    return counts


def _carry_teaching(school: School, moved: list[tuple[SchoolClass, SchoolClass]]) -> None:
    """Each subject teacher of a class teaches the same subject to its new class (the grade's
    subject of that name, created from the national catalogue when the school has none yet)."""
    new_of = {old.id: new for old, new in moved}
    rows = db.session.execute(
        sa.select(TeachingAssignment.class_id, TeachingAssignment.teacher_id, Subject.name)
        .join(Subject, Subject.id == TeachingAssignment.subject_id)
        .where(TeachingAssignment.class_id.in_(list(new_of)))
        .order_by(TeachingAssignment.id)
    ).all()
    subjects = {
        (s.grade, fold(s.name)): s
        for s in db.session.scalars(sa.select(Subject).where(Subject.school_id == school.id))
    }
    for class_id, teacher_id, name in rows:
        new = new_of[class_id]
        subject = subjects.get((new.grade, fold(name)))
        if subject is None:
            std = guess_subject(new.grade, name)
            subject = Subject(
                school_id=school.id,
                grade=new.grade,
                name=name,
                assessment=std.assessment,
                has_test=std.has_test,
                regular_count=std.regular_count,
            )
            db.session.add(subject)
            db.session.flush()
            subjects[(new.grade, fold(name))] = subject
        db.session.add(TeachingAssignment(class_id=new.id, subject_id=subject.id, teacher_id=teacher_id))


def edits_from(form) -> tuple[dict[int, str], dict[int, str]]:
    """The preview form's edits: `name-<class id>` (next year's name) and `keep-<class id>` (the
    codes of the pupils kept back)."""
    names: dict[int, str] = {}
    kept: dict[int, str] = {}
    for key, value in form.items():
        prefix, _, ident = key.partition("-")
        if not ident.isdigit() or len(ident) > 9:
            continue
        if prefix == "name":
            names[int(ident)] = value[:100]
        elif prefix == "keep":
            kept[int(ident)] = value[:2000]
    return names, kept


def repeaters_of(cls: SchoolClass) -> list[tuple[Pupil, bool]]:
    """The pupils of a class with the homeroom teacher's mark (repeats the grade next year)."""
    return [
        (pupil, repeats)
        for pupil, repeats in db.session.execute(
            sa.select(Pupil, Enrolment.repeats)
            .join(Enrolment, Enrolment.pupil_id == Pupil.id)
            .where(Enrolment.class_id == cls.id)
            .order_by(Pupil.full_name, Pupil.id)
        )
    ]


def mark_repeaters(cls: SchoolClass, pupil_ids: set[int], actor: User) -> int:
    """The homeroom teacher's decision: exactly `pupil_ids` of the class repeat the grade (the
    rollover's preview keeps them back). Ids outside the class are ignored. Returns how many."""
    enrolments = db.session.scalars(sa.select(Enrolment).where(Enrolment.class_id == cls.id)).all()
    changed = 0
    for e in enrolments:
        wanted = e.pupil_id in pupil_ids
        if e.repeats != wanted:
            e.repeats = wanted
            changed += 1
    db.session.flush()
    if changed:
        repeaters = sorted(e.pupil_id for e in enrolments if e.repeats)
        audit("contactbook.repeaters", cls, actor_id=actor.id, pupils=repeaters)
    return sum(1 for e in enrolments if e.repeats)
