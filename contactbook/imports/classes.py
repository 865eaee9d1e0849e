"""Import of classes.xlsx (docs/excel-formats.md): classes, pupils, guardians and teaching.

All or nothing: every row of both sheets is checked (imports.class_sheet) and only a clean file
is written. Existing records are matched by key — pupils by (school, pupil_code), guardians by
phone number (one account per phone, whatever the school), teachers by email, teaching by
(class, subject) — so re-importing the same file changes nothing. The report counts each row of
both sheets as created, updated or unchanged.

For the pupils a file lists, the file is the truth about their class and guardians: a guardian
link that is no longer in the file is removed (a family's custody change must not leave the old
phone with access). Pupils the file does not list are left alone.

Accounts created here have no password: guardians activate theirs with a printed one-time code,
teachers with an emailed one (contactbook.tasks). Flush only; the caller commits.
"""

from __future__ import annotations

import time
from collections import defaultdict
from datetime import date

import sqlalchemy as sa

from app.audit import audit
from app.authz import scoped_schools_query
from app.extensions import db
from app.i18n import local_today
from app.imports import ProgressFn
from app.jobs import enqueue_after_commit
from app.models import Role, School, User

from ..catalog import guess_subject
from ..models import Enrolment, Guardian, Pupil, SchoolClass, Subject, TeachingAssignment
from ..rules import fold
from ..years import current_year, ensure_terms
from .cells import Problem
from .class_sheet import ImportReport, PupilRow, TeacherRow, check_rows, chunks, read_workbook


def import_classes(
    source, actor: User | None, *, today: date | None = None, progress: ProgressFn | None = None
) -> ImportReport:
    """Check and (when clean) write a classes workbook (a path, a file or its bytes) on behalf of
    `actor`, whose schools are the only ones the rows may name (None, as the command line, or a
    city administrator: any school). Returns the report; nothing is written when it has problems.
    `progress(phase, fraction)` is told when reading is done and before saving (an import job's
    progress bar). Flush only: the request, the command or a job commits."""
    started = time.perf_counter()
    progress = progress or _no_progress
    report = ImportReport()
    progress("reading", 0.0)
    rows = read_workbook(source, report.problems, today or local_today())
    if rows is None:
        return _finished(report, started)
    pupils, teachers = rows
    report.rows = len(pupils) + len(teachers)
    progress("reading", 0.5)
    year = current_year()
    if year is None:
        report.problems.append(Problem(None, None, "no_year"))
        return _finished(report, started)
    schools, by_phone, by_email = check_rows(pupils, teachers, report.problems, _allowed_schools(actor))
    if report.problems:
        report.problems.sort(key=lambda p: (p.sheet != "pupils", p.row or 0))
        return _finished(report, started)
    progress("saving", 1.0)
    _apply(pupils, teachers, schools, by_phone, by_email, year, report)
    audit(
        "contactbook.import_classes",
        None,
        actor_id=actor.id if actor is not None else None,
        schools=sorted(report.school_ids),
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        new_guardians=report.new_guardians,
        new_teachers=report.new_teachers,
    )
    return _finished(report, started)


def _no_progress(phase: str, fraction: float) -> None:
    pass


def _finished(report: ImportReport, started: float) -> ImportReport:
    report.seconds = time.perf_counter() - started
    return report


def _allowed_schools(actor: User | None) -> set[int] | None:
    """The ids of the schools `actor` manages; None for any school."""
    if actor is None or actor.role == Role.CITY_ADMIN:
        return None
    return set(db.session.scalars(scoped_schools_query(actor).with_only_columns(School.id)))


def _apply(
    pupils: list[PupilRow],
    teachers: list[TeacherRow],
    schools: dict[str, School],
    by_phone: dict[str, User],
    by_email: dict[str, User],
    year,
    report: ImportReport,
) -> None:
    involved = {schools[c].id for c in {p.school_code for p in pupils} | {t.school_code for t in teachers}}
    report.school_ids = involved
    for sid in involved:
        ensure_terms(db.session.get(School, sid), year)

    # Classes of the involved schools in the current year.
    classes = {
        (c.school_id, c.name): c
        for c in db.session.scalars(
            sa.select(SchoolClass).where(
                SchoolClass.school_id.in_(involved), SchoolClass.academic_year_id == year.id
            )
        )
    }

    def class_of(school_code: str, name: str, grade: int) -> SchoolClass:
        sid = schools[school_code].id
        c = classes.get((sid, name))
        if c is None:
            c = SchoolClass(school_id=sid, academic_year_id=year.id, grade=grade, name=name)
            db.session.add(c)
            classes[(sid, name)] = c
        return c

    # Accounts to create.
    new_users: list[User] = []
    for p in pupils:
        user = by_phone.get(p.guardian_phone)
        if user is None:
            user = User(
                role=Role.PARENT,
                phone=p.guardian_phone,
                full_name=p.guardian_name,
                email=p.guardian_email,
                password_hash=None,
            )
            db.session.add(user)
            by_phone[p.guardian_phone] = user
            if p.guardian_email:
                by_email[p.guardian_email] = user
            new_users.append(user)
            report.new_guardians += 1
        elif p.guardian_email and not user.email and user in new_users:
            user.email = p.guardian_email  # the phone's first row had no email; a later one has
    new_teachers: list[User] = []
    for t in teachers:
        user = by_email.get(t.teacher_email)
        if user is None:
            user = User(
                role=Role.TEACHER,
                email=t.teacher_email,
                phone=t.teacher_phone,
                full_name=t.teacher_name,
                school_id=schools[t.school_code].id,
                password_hash=None,
            )
            db.session.add(user)
            by_email[t.teacher_email] = user
            if t.teacher_phone:
                by_phone[t.teacher_phone] = user
            new_teachers.append(user)
            report.new_teachers += 1
    for c in {(p.school_code, p.class_name, p.grade) for p in pupils} | {
        (t.school_code, t.class_name, t.grade) for t in teachers
    }:
        class_of(*c)
    db.session.flush()
    new_user_ids = {u.id for u in new_users} | {u.id for u in new_teachers}

    _apply_pupils(pupils, schools, by_phone, classes, year, new_user_ids, report)
    _apply_teachers(teachers, schools, by_email, classes, new_user_ids, report)
    db.session.flush()
    for user in new_teachers:
        enqueue_after_commit("contactbook.tasks:send_staff_activation", user.id)


def _apply_pupils(pupils, schools, by_phone, classes, year, new_user_ids, report) -> None:
    if not pupils:
        return
    keys_by_school: dict[int, set[str]] = defaultdict(set)
    for p in pupils:
        keys_by_school[schools[p.school_code].id].add(p.pupil_code)
    existing: dict[tuple[int, str], Pupil] = {}
    for sid, codes in keys_by_school.items():
        for chunk in chunks(sorted(codes)):
            for pupil in db.session.scalars(
                sa.select(Pupil).where(Pupil.school_id == sid, Pupil.pupil_code.in_(chunk))
            ):
                existing[(sid, pupil.pupil_code)] = pupil
    pupil_ids = [p.id for p in existing.values()]
    enrolments: dict[int, Enrolment] = {}
    links: dict[int, dict[int, Guardian]] = defaultdict(dict)
    for chunk in chunks(pupil_ids):
        for e in db.session.scalars(
            sa.select(Enrolment).where(Enrolment.pupil_id.in_(chunk), Enrolment.academic_year_id == year.id)
        ):
            enrolments[e.pupil_id] = e
        for g in db.session.scalars(sa.select(Guardian).where(Guardian.pupil_id.in_(chunk))):
            links[g.pupil_id][g.user_id] = g

    rows_of: dict[tuple[int, str], list[PupilRow]] = defaultdict(list)
    first_of_phone: dict[str, PupilRow] = {}  # a guardian's name and email come from their first row
    for p in pupils:
        rows_of[(schools[p.school_code].id, p.pupil_code)].append(p)
        first_of_phone.setdefault(p.guardian_phone, p)

    new_pupils = []
    for key, rows in rows_of.items():
        first = rows[0]
        pupil = existing.get(key)
        created = pupil is None
        if created:
            pupil = Pupil(
                school_id=key[0],
                pupil_code=first.pupil_code,
                full_name=first.full_name,
                date_of_birth=first.date_of_birth,
                gender=first.gender,
            )
            db.session.add(pupil)
            new_pupils.append((pupil, rows))
            continue
        changed = False
        for attr in ("full_name", "date_of_birth", "gender"):
            if getattr(pupil, attr) != getattr(first, attr):
                setattr(pupil, attr, getattr(first, attr))
                changed = True
        cls = classes[(key[0], first.class_name)]
        enrolment = enrolments.get(pupil.id)
        if enrolment is None:
            db.session.add(Enrolment(pupil_id=pupil.id, school_class=cls, academic_year_id=year.id))
            changed = True
        elif enrolment.class_id != cls.id:
            enrolment.school_class = cls
            changed = True
        wanted = {by_phone[r.guardian_phone].id for r in rows}
        for user_id, link in list(links[pupil.id].items()):
            if user_id not in wanted:
                db.session.delete(link)
                audit("contactbook.guardian_unlink", ("cb_pupil", pupil.id), user_id=user_id)
                changed = True
        for i, r in enumerate(rows):
            user = by_phone[r.guardian_phone]
            row_changed = changed if i == 0 else False
            if user.id not in links[pupil.id]:
                db.session.add(Guardian(pupil_id=pupil.id, user_id=user.id))
                row_changed = True
            if first_of_phone[r.guardian_phone] is r and _refresh_guardian(user, r, new_user_ids):
                row_changed = True
            report.count("updated" if row_changed else "unchanged")
    if new_pupils:
        db.session.flush()
        for pupil, rows in new_pupils:
            cls = classes[(pupil.school_id, rows[0].class_name)]
            db.session.add(Enrolment(pupil_id=pupil.id, class_id=cls.id, academic_year_id=year.id))
            for r in rows:
                db.session.add(Guardian(pupil_id=pupil.id, user_id=by_phone[r.guardian_phone].id))
                report.count("created")


def _refresh_guardian(user: User, r: PupilRow, new_user_ids: set[int]) -> bool:
    """Keep a not-yet-activated account's name and email in step with the school's file."""
    if user.id in new_user_ids or user.password_hash is not None:
        return False
    changed = False
    if user.full_name != r.guardian_name:
        user.full_name = r.guardian_name
        changed = True
    if r.guardian_email and not user.email:
        user.email = r.guardian_email
        changed = True
    return changed


def _apply_teachers(teachers, schools, by_email, classes, new_user_ids, report) -> None:
    if not teachers:
        return
    involved = {schools[t.school_code].id for t in teachers}
    subjects = {
        (s.school_id, s.grade, fold(s.name)): s
        for s in db.session.scalars(sa.select(Subject).where(Subject.school_id.in_(involved)))
    }
    class_ids = [c.id for (sid, _), c in classes.items() if sid in involved]
    assignments = {}
    for chunk in chunks(class_ids):
        for a in db.session.scalars(
            sa.select(TeachingAssignment).where(TeachingAssignment.class_id.in_(chunk))
        ):
            assignments[(a.class_id, a.subject_id)] = a
    for t in teachers:
        sid = schools[t.school_code].id
        cls = classes[(sid, t.class_name)]
        teacher = by_email[t.teacher_email]
        status = "unchanged"
        if teacher.id in new_user_ids:
            status = "created"
        elif teacher.password_hash is None and (teacher.full_name != t.teacher_name):
            teacher.full_name = t.teacher_name
            status = "updated"
        if teacher.school_id is None:
            teacher.school_id = sid
            status = "updated" if status == "unchanged" else status
        if t.subject:
            skey = (sid, t.grade, fold(t.subject))
            subject = subjects.get(skey)
            if subject is None:
                std = guess_subject(t.grade, t.subject)
                subject = Subject(
                    school_id=sid,
                    grade=t.grade,
                    name=t.subject,
                    assessment=std.assessment,
                    has_test=std.has_test,
                    regular_count=std.regular_count,
                )
                db.session.add(subject)
                db.session.flush()
                subjects[skey] = subject
            a = assignments.get((cls.id, subject.id))
            if a is None:
                a = TeachingAssignment(class_id=cls.id, subject_id=subject.id, teacher_id=teacher.id)
                db.session.add(a)
                assignments[(cls.id, subject.id)] = a
                status = "created"
            elif a.teacher_id != teacher.id:
                a.teacher_id = teacher.id
                status = "updated" if status == "unchanged" else status
        if t.homeroom and cls.homeroom_teacher_id != teacher.id:
            had = cls.homeroom_teacher_id is not None
            cls.homeroom_teacher_id = teacher.id
            if status == "unchanged":
                status = "updated" if had or t.subject else "created"
        report.count(status)
