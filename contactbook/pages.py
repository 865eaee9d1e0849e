"""Read models of whole pages: a parent's page of one child, and a class's results overview.
Each loads in a fixed number of queries whatever the class size (no N+1)."""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app.extensions import db
from app.models import User

from . import daily, grades, messaging, primary, results, rules, years
from .classes import class_pupils, class_subjects, class_teaching
from .models import (
    Assessment,
    Comment,
    CommentKind,
    Enrolment,
    Grade,
    GradeChange,
    GradeKind,
    GradeStatus,
    Pupil,
    SchoolClass,
    Subject,
    Term,
)


@dataclass
class Overview:
    subjects: list[Subject]
    rows: list[tuple[Pupil, dict[int, object]]]  # pupil, subject id → term result


def class_overview(cls: SchoolClass, term: Term) -> Overview:
    """Each pupil's result in each subject this term (three queries whatever the class size)."""
    subjects = class_subjects(cls)
    pupils = class_pupils(cls)
    cells: dict[tuple[int, int], dict] = {}
    for g in db.session.scalars(
        sa.select(Grade).where(
            Grade.term_id == term.id,
            Grade.pupil_id.in_(sa.select(Enrolment.pupil_id).where(Enrolment.class_id == cls.id)),
            Grade.subject_id.in_([s.id for s in subjects]),
        )
    ):
        cells.setdefault((g.pupil_id, g.subject_id), {})[(g.kind, g.seq)] = g
    rows = [(p, {s.id: grades.term_result(s, cells.get((p.id, s.id), {})) for s in subjects}) for p in pupils]
    return Overview(subjects, rows)


@dataclass
class SubjectLine:
    subject: Subject
    teacher: User | None
    columns: list
    cells: dict
    result: object
    first_term_result: object = None
    year_result: object = None


@dataclass
class ChildPage:
    pupil: Pupil
    cls: SchoolClass | None
    terms: list[Term]
    term: Term | None
    subjects: list[SubjectLine]
    changes: dict[int, list]  # grade id → its GradeChange rows (oldest first)
    term_comments: list
    notes: list
    absences: list
    requests: list
    homeroom: User | None
    office_hours: dict[int, str] = field(default_factory=dict)  # teacher id → when they answer
    results: list = field(default_factory=list)  # confirmed overall results (TermResult), term I first
    primary: primary.ChildPrimary | None = None  # Circular 27: qualities and competences, year result


def child_page(pupil: Pupil, term_id: int | None) -> ChildPage:
    """Everything a guardian sees about one child: a fixed number of queries (no N+1)."""
    year = years.current_year()
    cls = None
    if year is not None:
        cls = db.session.scalar(
            sa.select(SchoolClass)
            .options(joinedload(SchoolClass.school), joinedload(SchoolClass.homeroom_teacher))
            .join(Enrolment, Enrolment.class_id == SchoolClass.id)
            .where(Enrolment.pupil_id == pupil.id, Enrolment.academic_year_id == year.id)
        )
    if cls is None:
        return ChildPage(
            pupil,
            None,
            [],
            None,
            [],
            {},
            [],
            [],
            daily.attendance_history(pupil.id),
            daily.pupil_requests(pupil.id),
            None,
        )
    terms = years.school_terms(cls)
    term = years.pick_term(terms, term_id)
    teaching = class_teaching(cls)
    published = list(
        db.session.scalars(
            sa.select(Grade).where(
                Grade.pupil_id == pupil.id,
                Grade.status == GradeStatus.PUBLISHED,
                Grade.term_id.in_([t.id for t in terms]),
            )
        )
    )
    changed_ids = [g.id for g in published if g.changed_after_publish]
    changes: dict[int, list] = {}
    if changed_ids:
        for c in db.session.scalars(
            sa.select(GradeChange)
            .where(GradeChange.grade_id.in_(changed_ids))
            .order_by(GradeChange.changed_at, GradeChange.id)
        ):
            changes.setdefault(c.grade_id, []).append(c)
    by_subject_term: dict[tuple[int, int], dict] = {}
    for g in published:
        by_subject_term.setdefault((g.subject_id, g.term_id), {})[(g.kind, g.seq)] = g
    first = next((t for t in terms if t.number == 1), None)
    lines = []
    for t in teaching:
        cells = by_subject_term.get((t.subject.id, term.id), {}) if term else {}
        max_seq = max((s for (k, s) in cells if k == GradeKind.REGULAR), default=0)
        line = SubjectLine(
            t.subject,
            t.teacher,
            grades.columns_for(t.subject, max_seq),
            cells,
            grades.term_result(t.subject, cells),
        )
        if term is not None and term.number == 2 and first is not None:
            line.first_term_result = grades.term_result(
                t.subject, by_subject_term.get((t.subject.id, first.id), {})
            )
            if t.subject.assessment == Assessment.SCORED:
                line.year_result = rules.year_average(line.first_term_result, line.result)
            elif t.subject.assessment == Assessment.COMMENT:
                line.year_result = line.result
        lines.append(line)
    comments = list(
        db.session.scalars(
            sa.select(Comment)
            .options(joinedload(Comment.author))
            .where(
                Comment.pupil_id == pupil.id,
                sa.or_(
                    Comment.kind == CommentKind.NOTE,
                    sa.and_(Comment.kind == CommentKind.TERM, Comment.term_id == (term.id if term else None)),
                ),
            )
            .order_by(Comment.created_at.desc())
            .limit(60)
        )
    )
    teacher_ids = {t.teacher.id for t in teaching if t.teacher} | ({cls.homeroom_teacher_id} - {None})
    return ChildPage(
        pupil,
        cls,
        terms,
        term,
        lines,
        changes,
        [c for c in comments if c.kind == CommentKind.TERM],
        [c for c in comments if c.kind == CommentKind.NOTE],
        daily.attendance_history(pupil.id),
        daily.pupil_requests(pupil.id),
        cls.homeroom_teacher,
        messaging.office_hours_of(sorted(teacher_ids)),
        results.confirmed_of(pupil.id, cls),
        primary.child_primary(pupil.id, cls),
    )
