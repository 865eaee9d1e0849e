"""Contact book operations. They change data and `flush` only; the boundary (view, CLI, job)
commits. Views stay thin: they validate a form and call one of these."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

import sqlalchemy as sa

from app.audit import audit
from app.auth.services import find_by_login
from app.extensions import db
from app.models import AcademicYear, School, User, utcnow

from .models import (
    ActivationCode,
    Assessment,
    CommentKind,
    Enrolment,
    GradeKind,
    GradeStatus,
    Guardian,
    Pupil,
    SchoolClass,
    Subject,
    TeachingAssignment,
    Term,
)


def current_year() -> AcademicYear | None:
    return db.session.scalar(
        sa.select(AcademicYear)
        .where(AcademicYear.is_current.is_(True))
        .order_by(AcademicYear.starts_on.desc())
        .limit(1)
    )


def default_term_dates(year: AcademicYear) -> list[tuple[int, date, date]]:
    """Term I from the start of the year to mid-January, term II to the end of the year."""
    split = date(year.starts_on.year + 1, 1, 15)
    if not year.starts_on < split < year.ends_on:
        middle = year.starts_on + (year.ends_on - year.starts_on) / 2
        split = middle
    from datetime import timedelta

    return [(1, year.starts_on, split), (2, split + timedelta(days=1), year.ends_on)]


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


# ----------------------------------------------------------------------------- activation codes

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I: read off paper
CODE_LENGTH = 8
CODE_DAYS = 30


def normalize_code(code: str) -> str:
    return "".join(ch for ch in (code or "").upper() if ch.isalnum())


def format_code(code: str) -> str:
    return f"{code[:4]}-{code[4:]}"


def _code_hash(user_id: int, code: str) -> str:
    import hashlib
    import hmac

    from flask import current_app

    key = current_app.config["SECRET_KEY"].encode()
    return hmac.new(key, f"activation:{user_id}:{normalize_code(code)}".encode(), hashlib.sha256).hexdigest()


def new_code() -> str:
    import secrets

    return "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))


def issue_code(
    user: User, *, class_id: int | None = None, created_by_id: int | None = None, days: int = CODE_DAYS
) -> str:
    """A fresh one-time code for `user` (stored as an HMAC). Earlier unused codes issued for the
    same class (or, without a class, by email) stop working; codes printed for another class of
    the same family stay valid until one of them is used."""
    from datetime import timedelta

    db.session.execute(
        sa.delete(ActivationCode).where(
            ActivationCode.user_id == user.id,
            ActivationCode.used_at.is_(None),
            ActivationCode.class_id.is_(None) if class_id is None else ActivationCode.class_id == class_id,
        )
    )
    code = new_code()
    db.session.add(
        ActivationCode(
            user_id=user.id,
            code_hash=_code_hash(user.id, code),
            class_id=class_id,
            created_by_id=created_by_id,
            expires_at=utcnow() + timedelta(days=days),
        )
    )
    return code


@dataclass
class SheetLine:
    pupil: Pupil
    guardian: User
    code: str | None  # None: the account is already active


def issue_class_codes(cls: SchoolClass, actor: User) -> list[SheetLine]:
    """Codes for every guardian of the class who has not activated an account yet (one printed
    sheet per class). Batched: a fixed number of statements whatever the class size."""
    from datetime import timedelta

    rows = db.session.execute(
        sa.select(Pupil, User)
        .join(Enrolment, Enrolment.pupil_id == Pupil.id)
        .join(Guardian, Guardian.pupil_id == Pupil.id)
        .join(User, User.id == Guardian.user_id)
        .where(Enrolment.class_id == cls.id)
        .order_by(Pupil.full_name, Pupil.id, User.full_name)
    ).all()
    pending = {u.id for _, u in rows if u.password_hash is None and u.active}
    if pending:
        db.session.execute(
            sa.delete(ActivationCode).where(
                ActivationCode.user_id.in_(sorted(pending)),
                ActivationCode.class_id == cls.id,
                ActivationCode.used_at.is_(None),
            )
        )
    codes: dict[int, str] = {}
    expires = utcnow() + timedelta(days=CODE_DAYS)
    for user_id in sorted(pending):
        codes[user_id] = new_code()
    if codes:
        db.session.execute(
            sa.insert(ActivationCode),
            [
                {
                    "user_id": uid,
                    "code_hash": _code_hash(uid, c),
                    "class_id": cls.id,
                    "created_by_id": actor.id,
                    "expires_at": expires,
                    "created_at": utcnow(),
                }
                for uid, c in codes.items()
            ],
        )
    audit("contactbook.activation_codes", cls, issued=len(codes))
    return [SheetLine(p, u, codes.get(u.id)) for p, u in rows]


def pending_teachers(school: School) -> list[User]:
    """The school's teachers who have not set a password yet (one query)."""
    from app.models import Role

    return list(
        db.session.scalars(
            sa.select(User)
            .where(
                User.school_id == school.id,
                User.role == Role.TEACHER,
                User.password_hash.is_(None),
                User.active.is_(True),
            )
            .order_by(User.full_name, User.id)
        )
    )


def resend_staff_activation(teacher: User) -> bool:
    """Email a not-yet-activated teacher a fresh one-time code after the commit (the earlier
    emailed code stops working). False when the account is active already or has no email."""
    from app.jobs import enqueue_after_commit

    if teacher.password_hash is not None or not teacher.active or not teacher.email:
        return False
    teacher.welcome_sent_at = None
    enqueue_after_commit("contactbook.tasks:send_staff_activation", teacher.id)
    audit("contactbook.activation_resent", teacher)
    return True


def check_code(login: str, code: str) -> tuple[User, ActivationCode] | None:
    """The account and its live code matching (login, code); None for any mismatch."""
    user = find_by_login(login)
    if user is None or not user.active or user.password_hash is not None:
        return None
    row = db.session.scalar(
        sa.select(ActivationCode).where(
            ActivationCode.user_id == user.id,
            ActivationCode.code_hash == _code_hash(user.id, code),
            ActivationCode.used_at.is_(None),
            ActivationCode.expires_at > utcnow(),
        )
    )
    if row is None:
        return None
    return user, row


def activate(user: User, row: ActivationCode, password: str) -> None:
    """Set the first password; the code is used and the account's other codes revoked."""
    from app.auth.services import passwords

    row.used_at = utcnow()
    db.session.execute(
        sa.delete(ActivationCode).where(ActivationCode.user_id == user.id, ActivationCode.used_at.is_(None))
    )
    user.password_hash = passwords().hash(password)
    audit("contactbook.account_activated", user, actor_id=user.id)


# ----------------------------------------------------------------------------- classes and calendar


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


def set_terms(terms: list[Term], t1_start: date, t1_end: date, t2_start: date, t2_end: date) -> None:
    terms[0].starts_on, terms[0].ends_on = t1_start, t1_end
    terms[1].starts_on, terms[1].ends_on = t2_start, t2_end
    audit("contactbook.calendar", ("school", terms[0].school_id))


def add_subject(
    school: School, grade: int, name: str, assessment: str, regular_count: int, has_test: bool
) -> bool:
    from .rules import fold

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
    from .models import Grade

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
    from .rules import fold

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


def add_standard_subjects(school: School, grade: int, standard) -> int:
    from .rules import fold

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
        db.session.add(
            Subject(
                school_id=school.id,
                grade=grade,
                name=s.name,
                assessment=s.assessment,
                has_test=s.has_test,
                regular_count=s.regular_count,
                position=position,
            )
        )
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


@dataclass
class Overview:
    subjects: list[Subject]
    rows: list[tuple[Pupil, dict[int, object]]]  # pupil, subject id → term result


def class_overview(cls: SchoolClass, term: Term) -> Overview:
    """Each pupil's result in each subject this term (three queries whatever the class size)."""
    from .grades import term_result
    from .models import Grade

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
    rows = [(p, {s.id: term_result(s, cells.get((p.id, s.id), {})) for s in subjects}) for p in pupils]
    return Overview(subjects, rows)


# ----------------------------------------------------------------------------- a parent's child page


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


def child_page(pupil: Pupil, term_id: int | None) -> ChildPage:
    """Everything a guardian sees about one child: a fixed number of queries (no N+1)."""
    from sqlalchemy.orm import joinedload

    from . import daily, grades, years
    from .models import Comment, Grade, GradeChange

    year = current_year()
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
                from .rules import year_average

                line.year_result = year_average(line.first_term_result, line.result)
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
    from .messaging import office_hours_of

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
        office_hours_of(sorted(teacher_ids)),
    )
