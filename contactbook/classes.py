"""Classes of a school year: their pupils and guardians, the subjects each grade is taught and
who teaches them; the classes a teacher teaches."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from app import paging
from app.audit import audit
from app.extensions import db
from app.models import AcademicYear, School, User

from .catalog import StandardSubject
from .models import (
    Assessment,
    Enrolment,
    Grade,
    GradeKind,
    Guardian,
    Pupil,
    SchoolClass,
    Subject,
    TeachingAssignment,
)
from .rules import fold
from .years import current_year


@dataclass
class ClassSummary:
    cls: SchoolClass
    pupils: int
    homeroom: User | None


def school_classes(school: School, year: AcademicYear) -> list[ClassSummary]:
    counts = (
        sa.select(Enrolment.class_id, sa.func.count(Enrolment.id).label("n"))
        .group_by(Enrolment.class_id)
        .subquery()
    )
    rows = db.session.execute(
        sa.select(SchoolClass, sa.func.coalesce(counts.c.n, 0), User)
        .outerjoin(counts, counts.c.class_id == SchoolClass.id)
        .outerjoin(User, User.id == SchoolClass.homeroom_teacher_id)
        .where(SchoolClass.school_id == school.id, SchoolClass.academic_year_id == year.id)
        .order_by(SchoolClass.grade, SchoolClass.name)
    ).all()
    return [ClassSummary(c, n, u) for c, n, u in rows]


@dataclass
class RosterLine:
    pupil: Pupil
    guardians: list[User]


def class_pupils(cls: SchoolClass) -> list[Pupil]:
    return list(
        db.session.scalars(
            sa.select(Pupil)
            .join(Enrolment, Enrolment.pupil_id == Pupil.id)
            .where(Enrolment.class_id == cls.id)
            .order_by(Pupil.full_name, Pupil.id)
        )
    )


def class_roster(cls: SchoolClass) -> list[RosterLine]:
    pupils = class_pupils(cls)
    guardians: dict[int, list[User]] = {p.id: [] for p in pupils}
    rows = db.session.execute(
        sa.select(Guardian.pupil_id, User)
        .join(User, User.id == Guardian.user_id)
        .join(Enrolment, Enrolment.pupil_id == Guardian.pupil_id)
        .where(Enrolment.class_id == cls.id)
        .order_by(User.full_name)
    ).all()
    for pupil_id, user in rows:
        guardians[pupil_id].append(user)
    return [RosterLine(p, guardians[p.id]) for p in pupils]


def remove_from_class(cls: SchoolClass, pupil: Pupil) -> None:
    """A pupil leaves the class (moved away, changed school): the enrolment goes; the pupil's
    grades, attendance and guardians stay on record (a later import may enrol them again)."""
    db.session.execute(
        sa.delete(Enrolment).where(Enrolment.class_id == cls.id, Enrolment.pupil_id == pupil.id)
    )
    audit("contactbook.unenrol", cls, pupil_id=pupil.id)


@dataclass
class TeachingLine:
    subject: Subject
    teacher: User | None


def class_subjects(cls: SchoolClass) -> list[Subject]:
    return list(
        db.session.scalars(
            sa.select(Subject)
            .where(Subject.school_id == cls.school_id, Subject.grade == cls.grade)
            .order_by(Subject.position, Subject.name)
        )
    )


def class_teaching(cls: SchoolClass) -> list[TeachingLine]:
    rows = db.session.execute(
        sa.select(Subject, User)
        .outerjoin(
            TeachingAssignment,
            sa.and_(TeachingAssignment.subject_id == Subject.id, TeachingAssignment.class_id == cls.id),
        )
        .outerjoin(User, User.id == TeachingAssignment.teacher_id)
        .where(Subject.school_id == cls.school_id, Subject.grade == cls.grade)
        .order_by(Subject.position, Subject.name)
    ).all()
    return [TeachingLine(s, u) for s, u in rows]


def school_subjects(school: School) -> list[Subject]:
    """Every subject of the school, grade by grade in teaching order."""
    return list(
        db.session.scalars(
            sa.select(Subject)
            .where(Subject.school_id == school.id)
            .order_by(Subject.grade, Subject.position, Subject.name)
        )
    )


def add_subject(
    school: School, grade: int, name: str, assessment: str, regular_count: int, has_test: bool
) -> bool:
    existing = db.session.scalars(
        sa.select(Subject.name).where(Subject.school_id == school.id, Subject.grade == grade)
    )
    if any(fold(n) == fold(name) for n in existing):
        return False
    db.session.add(
        Subject(
            school_id=school.id,
            grade=grade,
            name=name,
            assessment=assessment,
            regular_count=regular_count,
            has_test=has_test and assessment == Assessment.PRIMARY,
        )
    )
    db.session.flush()
    audit("contactbook.subject_add", ("school", school.id), grade=grade)
    return True


def _subject_grades(subject: Subject, kind: str | None = None):
    q = sa.select(Grade.id).where(Grade.subject_id == subject.id)
    if kind is not None:
        q = q.where(Grade.kind == kind)
    return db.session.scalar(q.limit(1)) is not None


def update_subject(
    subject: Subject, name: str, assessment: str, regular_count: int, has_test: bool
) -> str | None:
    """Change a subject; returns a problem code (name_taken, has_grades) and changes nothing then.
    Its way of assessing (and a primary subject's periodic test) can change only while it has
    no grades: entered grades would no longer fit."""
    others = db.session.scalars(
        sa.select(Subject.name).where(
            Subject.school_id == subject.school_id, Subject.grade == subject.grade, Subject.id != subject.id
        )
    )
    if any(fold(n) == fold(name) for n in others):
        return "name_taken"
    has_test = has_test and assessment == Assessment.PRIMARY
    if assessment != subject.assessment and _subject_grades(subject):
        return "has_grades"
    if subject.has_test and not has_test and _subject_grades(subject, GradeKind.ENDTERM):
        return "has_grades"
    subject.name, subject.assessment, subject.regular_count, subject.has_test = (
        name,
        assessment,
        regular_count,
        has_test,
    )
    db.session.flush()
    audit("contactbook.subject_change", subject)
    return None


def delete_subject(subject: Subject) -> str | None:
    """Delete a subject without grades (its teaching assignments go with it); else 'has_grades'."""
    if _subject_grades(subject):
        return "has_grades"
    audit("contactbook.subject_delete", subject, school_id=subject.school_id, grade=subject.grade)
    db.session.delete(subject)
    db.session.flush()
    return None


def standard_subject(school_id: int, grade: int, s: StandardSubject, position: int) -> Subject:
    """A school's subject as the national curriculum defines it (catalog.standard_subjects)."""
    return Subject(
        school_id=school_id,
        grade=grade,
        name=s.name,
        assessment=s.assessment,
        has_test=s.has_test,
        regular_count=s.regular_count,
        position=position,
    )


def add_standard_subjects(school: School, grade: int, standard: list[StandardSubject]) -> int:
    existing = {
        fold(n)
        for n in db.session.scalars(
            sa.select(Subject.name).where(Subject.school_id == school.id, Subject.grade == grade)
        )
    }
    added = 0
    for position, s in enumerate(standard):
        if fold(s.name) in existing:
            continue
        db.session.add(standard_subject(school.id, grade, s, position))
        added += 1
    db.session.flush()
    if added:
        audit("contactbook.subject_add", ("school", school.id), grade=grade, count=added)
    return added


@dataclass
class TeacherClass:
    cls: SchoolClass
    subjects: list[Subject]
    homeroom: bool


def teacher_classes(teacher: User) -> list[TeacherClass]:
    """The current year's classes a teacher teaches or is homeroom teacher of (two queries)."""
    year = current_year()
    if year is None:
        return []
    lines: dict[int, TeacherClass] = {}
    for cls in db.session.scalars(
        sa.select(SchoolClass).where(
            SchoolClass.homeroom_teacher_id == teacher.id, SchoolClass.academic_year_id == year.id
        )
    ):
        lines[cls.id] = TeacherClass(cls, [], True)
    rows = db.session.execute(
        sa.select(SchoolClass, Subject)
        .join(TeachingAssignment, TeachingAssignment.class_id == SchoolClass.id)
        .join(Subject, Subject.id == TeachingAssignment.subject_id)
        .where(TeachingAssignment.teacher_id == teacher.id, SchoolClass.academic_year_id == year.id)
        .order_by(Subject.position, Subject.name)
    ).all()
    for cls, subject in rows:
        line = lines.setdefault(cls.id, TeacherClass(cls, [], cls.homeroom_teacher_id == teacher.id))
        line.subjects.append(subject)
    return sorted(lines.values(), key=lambda x: (x.cls.grade, x.cls.name))


def find_pupils(school: School, year: AcademicYear, text: str) -> sa.Select:
    """A SELECT of (pupil, class) rows of the school's pupils in `year` whose name or pupil code
    holds every word of `text`, ordered by name (page it with app.paging)."""
    return (
        sa.select(Pupil, SchoolClass)
        .join(Enrolment, Enrolment.pupil_id == Pupil.id)
        .join(SchoolClass, SchoolClass.id == Enrolment.class_id)
        .where(
            Pupil.school_id == school.id,
            Enrolment.academic_year_id == year.id,
            paging.contains(text, Pupil.full_name, Pupil.pupil_code),
        )
        .order_by(Pupil.full_name, Pupil.id)
    )
