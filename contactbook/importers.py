"""Import of `classes.xlsx` (DESIGN §4b): sheets `pupils` and `teachers`.

All or nothing: every row of both sheets is checked (cells, then the rows against each other,
then against the database) and only a clean file is written. Existing records are matched by key
— pupils by (school, pupil_code), guardians by phone number (one account per phone, whatever the
school), teachers by email, teaching by (class, subject) — so re-importing the same file changes
nothing. The report counts each row of both sheets as created, updated or unchanged.

For the pupils a file lists, the file is the truth about their class and guardians: a guardian
link that is no longer in the file is removed (a family's custody change must not leave the old
phone with access). Pupils the file does not list are left alone.

Accounts created here have no password: guardians activate theirs with a printed one-time code,
teachers with an emailed one (contactbook.tasks). Services flush only; the caller commits.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from functools import partial

import sqlalchemy as sa

from app.audit import audit
from app.extensions import db
from app.i18n import local_today
from app.jobs import enqueue_after_commit
from app.models import Role, School, User

from . import xlsx
from .catalog import grades_of_level, guess_subject
from .models import Enrolment, Guardian, Pupil, SchoolClass, Subject, TeachingAssignment
from .rules import fold
from .xlsx import CellError, Column, FileRejected, Problem
from .years import current_year, ensure_terms

PUPIL_COLUMNS = (
    Column("school_code", "Mã trường"),
    Column("class_name", "Lớp"),
    Column("pupil_code", "Mã học sinh"),
    Column("full_name", "Họ và tên"),
    Column("date_of_birth", "Ngày sinh"),
    Column("gender", "Giới tính"),
    Column("guardian_name", "Họ tên cha/mẹ/người giám hộ"),
    Column("guardian_phone", "Số điện thoại"),
    Column("guardian_email", "Email", required=False),
)
TEACHER_COLUMNS = (
    Column("school_code", "Mã trường"),
    Column("class_name", "Lớp"),
    Column("subject", "Môn học"),
    Column("teacher_name", "Họ tên giáo viên"),
    Column("teacher_email", "Email", aliases=("Email giáo viên",)),
    Column("teacher_phone", "Số điện thoại", required=False, aliases=("Số điện thoại giáo viên",)),
    Column("homeroom", "Chủ nhiệm", required=False),
)
SHEETS = (("pupils", PUPIL_COLUMNS), ("teachers", TEACHER_COLUMNS))
CHUNK = 900  # IN-list size (SQLite allows 999 parameters by default)

_CLASS_NAME = re.compile(r"^(\d{1,2})[A-Za-z0-9.\-/]*$")


@dataclass
class ImportReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    new_guardians: int = 0
    new_teachers: int = 0
    school_ids: set[int] = field(default_factory=set)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> str:
        """The contract's last CLI line (English: scripts read it)."""
        return f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}"

    def count(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)


@dataclass
class PupilRow:
    row: int
    school_code: str
    class_name: str
    grade: int
    pupil_code: str
    full_name: str
    date_of_birth: date
    gender: str
    guardian_name: str
    guardian_phone: str
    guardian_email: str | None

    @property
    def key(self):
        return (self.school_code, self.pupil_code)


@dataclass
class TeacherRow:
    row: int
    school_code: str
    class_name: str
    grade: int
    subject: str | None
    teacher_name: str
    teacher_email: str
    teacher_phone: str | None
    homeroom: bool


# ----------------------------------------------------------------------------- reading


def _cell(
    row: xlsx.Row,
    name: str,
    check,
    problems: list[Problem],
    sheet: str,
    *,
    required: bool = True,
    column_label: str | None = None,
):
    value, dtype = row.get(name)
    try:
        xlsx.check_cell(value, dtype)
        if xlsx.is_blank(value):
            if required:
                raise CellError("required")
            return None
        return check(value, dtype)
    except CellError as err:
        problems.append(Problem(row.number, column_label or name, err.code, err.params, sheet=sheet))
        return None


def _class_name(value, dtype) -> tuple[str, int]:
    name = xlsx.text(value, max_len=20).replace(" ", "").upper()
    m = _CLASS_NAME.match(name)
    if not m or not 1 <= int(m.group(1)) <= 12:
        raise CellError("class_name")
    return name, int(m.group(1))


def _parse_pupils(rows: list[xlsx.Row], problems: list[Problem], today: date) -> list[PupilRow]:
    out = []
    s = "pupils"
    for r in rows:
        before = len(problems)
        school_code = _cell(r, "school_code", xlsx.code, problems, s)
        cls = _cell(r, "class_name", _class_name, problems, s)
        pupil_code = _cell(r, "pupil_code", xlsx.code, problems, s)
        full_name = _cell(r, "full_name", xlsx.person_name, problems, s)
        dob = _cell(r, "date_of_birth", partial(xlsx.a_date, today=today), problems, s)
        gender = _cell(r, "gender", partial(xlsx.gender, letters=True), problems, s)
        g_name = _cell(r, "guardian_name", xlsx.person_name, problems, s)
        g_phone = _cell(r, "guardian_phone", xlsx.phone, problems, s)
        g_email = _cell(r, "guardian_email", xlsx.email, problems, s, required=False)
        if len(problems) == before:
            out.append(
                PupilRow(
                    r.number,
                    school_code.upper(),
                    cls[0],
                    cls[1],
                    pupil_code,
                    full_name,
                    dob,
                    gender,
                    g_name,
                    g_phone,
                    g_email,
                )
            )
    return out


def _parse_teachers(rows: list[xlsx.Row], problems: list[Problem]) -> list[TeacherRow]:
    out = []
    s = "teachers"
    for r in rows:
        before = len(problems)
        school_code = _cell(r, "school_code", xlsx.code, problems, s)
        cls = _cell(r, "class_name", _class_name, problems, s)
        subject = _cell(r, "subject", partial(xlsx.text, max_len=80), problems, s, required=False)
        name = _cell(r, "teacher_name", xlsx.person_name, problems, s)
        email = _cell(r, "teacher_email", xlsx.email, problems, s)
        phone = _cell(r, "teacher_phone", xlsx.phone, problems, s, required=False)
        homeroom = _cell(r, "homeroom", xlsx.yes_no, problems, s, required=False) or False
        if len(problems) == before and not subject and not homeroom:
            problems.append(Problem(r.number, "subject", "subject_or_homeroom", {}, sheet=s))
        if len(problems) == before:
            out.append(
                TeacherRow(
                    r.number, school_code.upper(), cls[0], cls[1], subject, name, email, phone, homeroom
                )
            )
    return out


# ----------------------------------------------------------------------------- checks


def _chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _users_by_phone(phones: set[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    for chunk in _chunks(sorted(phones)):
        for u in db.session.scalars(sa.select(User).where(User.phone.in_(chunk))):
            found[u.phone] = u
    return found


def _users_by_email(emails: set[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    for chunk in _chunks(sorted(emails)):
        for u in db.session.scalars(sa.select(User).where(sa.func.lower(User.email).in_(chunk))):
            found[u.email.lower()] = u
    return found


def _check(
    pupils: list[PupilRow], teachers: list[TeacherRow], problems: list[Problem], school_ids: set[int] | None
) -> tuple[dict[str, School], dict[str, User], dict[str, User]]:
    codes = {p.school_code for p in pupils} | {t.school_code for t in teachers}
    schools = (
        {
            s.code.upper(): s
            for s in db.session.scalars(
                sa.select(School).where(sa.func.upper(School.code).in_(sorted(codes)))
            )
        }
        if codes
        else {}
    )

    def check_school(sheet: str, row: int, code: str, grade: int) -> bool:
        school = schools.get(code)
        if school is None:
            problems.append(Problem(row, "school_code", "unknown_school", {"code": code}, sheet=sheet))
            return False
        if school_ids is not None and school.id not in school_ids:
            problems.append(Problem(row, "school_code", "school_scope", {"code": code}, sheet=sheet))
            return False
        if grade not in grades_of_level(school.level):
            problems.append(
                Problem(row, "class_name", "class_grade_level", {"grade": grade, "code": code}, sheet=sheet)
            )
            return False
        return True

    # Pupils: one record per (school, code); extra rows of the same pupil add guardians.
    first_of_pupil: dict[tuple, PupilRow] = {}
    seen_guardian: dict[tuple, int] = {}
    for p in pupils:
        check_school("pupils", p.row, p.school_code, p.grade)
        first = first_of_pupil.setdefault(p.key, p)
        if first is not p:
            same = (first.class_name, first.full_name, first.date_of_birth, first.gender) == (
                p.class_name,
                p.full_name,
                p.date_of_birth,
                p.gender,
            )
            if not same:
                problems.append(
                    Problem(p.row, "pupil_code", "pupil_differs", {"first": first.row}, sheet="pupils")
                )
        gkey = (*p.key, p.guardian_phone)
        if gkey in seen_guardian:
            problems.append(
                Problem(p.row, "guardian_phone", "duplicate", {"first": seen_guardian[gkey]}, sheet="pupils")
            )
        else:
            seen_guardian[gkey] = p.row

    # One account per phone and per email: the file must not give one email to two phones.
    email_owner: dict[str, PupilRow] = {}
    for p in pupils:
        if p.guardian_email:
            first = email_owner.setdefault(p.guardian_email, p)
            if first.guardian_phone != p.guardian_phone:
                problems.append(
                    Problem(p.row, "guardian_email", "email_twice", {"first": first.row}, sheet="pupils")
                )

    seen_teaching: dict[tuple, int] = {}
    homeroom_of: dict[tuple, TeacherRow] = {}
    first_of_teacher: dict[str, TeacherRow] = {}
    phone_teacher: dict[str, TeacherRow] = {}
    for t in teachers:
        check_school("teachers", t.row, t.school_code, t.grade)
        first = first_of_teacher.setdefault(t.teacher_email, t)
        if first is not t and first.teacher_name != t.teacher_name:
            problems.append(
                Problem(t.row, "teacher_name", "teacher_differs", {"first": first.row}, sheet="teachers")
            )
        elif first is not t and t.teacher_phone and first.teacher_phone != t.teacher_phone:
            problems.append(
                Problem(t.row, "teacher_phone", "teacher_differs", {"first": first.row}, sheet="teachers")
            )
        if t.teacher_phone:
            other = phone_teacher.setdefault(t.teacher_phone, t)
            if other.teacher_email != t.teacher_email:
                problems.append(
                    Problem(t.row, "teacher_phone", "phone_twice", {"first": other.row}, sheet="teachers")
                )
        if t.subject:
            key = (t.school_code, t.class_name, fold(t.subject))
            if key in seen_teaching:
                problems.append(
                    Problem(t.row, "subject", "duplicate", {"first": seen_teaching[key]}, sheet="teachers")
                )
            else:
                seen_teaching[key] = t.row
        if t.homeroom:
            ckey = (t.school_code, t.class_name)
            other = homeroom_of.setdefault(ckey, t)
            if other is not t and other.teacher_email != t.teacher_email:
                problems.append(
                    Problem(
                        t.row,
                        "homeroom",
                        "two_homerooms",
                        {"class_name": t.class_name, "email": other.teacher_email, "first": other.row},
                        sheet="teachers",
                    )
                )

    # Accounts: guardians by phone (parents only), teachers by email (teachers of that school).
    phones = {p.guardian_phone for p in pupils} | {t.teacher_phone for t in teachers if t.teacher_phone}
    emails = {p.guardian_email for p in pupils if p.guardian_email} | {t.teacher_email for t in teachers}
    by_phone = _users_by_phone(phones)
    by_email = _users_by_email(emails)
    for p in pupils:
        user = by_phone.get(p.guardian_phone)
        if user is not None and user.role != Role.PARENT:
            problems.append(Problem(p.row, "guardian_phone", "phone_staff", {}, sheet="pupils"))
            continue
        if p.guardian_email:
            owner = by_email.get(p.guardian_email)
            if owner is not None and owner is not user:
                problems.append(Problem(p.row, "guardian_email", "email_taken", {}, sheet="pupils"))
    claimed_emails = {p.guardian_email for p in pupils if p.guardian_email}
    for t in teachers:
        user = by_email.get(t.teacher_email)
        school = schools.get(t.school_code)
        if t.teacher_email in claimed_emails and (user is None or user.role != Role.TEACHER):
            problems.append(Problem(t.row, "teacher_email", "email_taken", {}, sheet="teachers"))
        elif user is not None and user.role != Role.TEACHER:
            problems.append(Problem(t.row, "teacher_email", "email_not_teacher", {}, sheet="teachers"))
        elif user is not None and school is not None and user.school_id not in (None, school.id):
            problems.append(Problem(t.row, "teacher_email", "teacher_other_school", {}, sheet="teachers"))
        if t.teacher_phone:
            owner = by_phone.get(t.teacher_phone)
            if owner is not None and owner is not user:
                problems.append(Problem(t.row, "teacher_phone", "phone_taken", {}, sheet="teachers"))
            guardian_phones = {p.guardian_phone for p in pupils}
            if user is None and t.teacher_phone in guardian_phones:
                problems.append(Problem(t.row, "teacher_phone", "phone_taken", {}, sheet="teachers"))
    return schools, by_phone, by_email


# ----------------------------------------------------------------------------- writing


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
        for chunk in _chunks(sorted(codes)):
            for pupil in db.session.scalars(
                sa.select(Pupil).where(Pupil.school_id == sid, Pupil.pupil_code.in_(chunk))
            ):
                existing[(sid, pupil.pupil_code)] = pupil
    pupil_ids = [p.id for p in existing.values()]
    enrolments: dict[int, Enrolment] = {}
    links: dict[int, dict[int, Guardian]] = defaultdict(dict)
    for chunk in _chunks(pupil_ids):
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
    for chunk in _chunks(class_ids):
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


# ----------------------------------------------------------------------------- entry point


def import_classes(
    source, *, actor_id: int | None = None, school_ids: set[int] | None = None, today: date | None = None
) -> ImportReport:
    """Check and (when clean) write a classes workbook. `school_ids` limits the schools the rows
    may name (None: any). Returns the report; nothing is written when `report.problems`."""
    report = ImportReport()
    today = today or local_today()
    try:
        wb = xlsx.open_workbook(source)
    except FileRejected as err:
        report.problems = err.problems
        return report
    sheets = {}
    try:
        for name, columns in SHEETS:
            try:
                sheets[name] = xlsx.read_sheet(wb, name, columns)
            except FileRejected as err:
                report.problems.extend(err.problems)
    finally:
        wb.close()
    if report.problems:
        return report
    pupils = _parse_pupils(sheets["pupils"], report.problems, today)
    teachers = _parse_teachers(sheets["teachers"], report.problems)
    year = current_year()
    if year is None:
        report.problems.append(Problem(None, None, "no_year"))
        return report
    schools, by_phone, by_email = _check(pupils, teachers, report.problems, school_ids)
    if report.problems:
        report.problems.sort(key=lambda p: (p.sheet != "pupils", p.row or 0))
        return report
    _apply(pupils, teachers, schools, by_phone, by_email, year, report)
    audit(
        "contactbook.import_classes",
        None,
        actor_id=actor_id,
        schools=sorted(report.school_ids),
        created=report.created,
        updated=report.updated,
        unchanged=report.unchanged,
        new_guardians=report.new_guardians,
        new_teachers=report.new_teachers,
    )
    return report


def template_workbook() -> bytes:
    """An empty classes.xlsx with the Vietnamese headers (what the upload page offers)."""
    wb = xlsx.new_workbook()
    ws = wb.active
    ws.title = "pupils"
    xlsx.write_sheet(ws, [c.label for c in PUPIL_COLUMNS], [], text_columns=(0, 1, 2, 7))
    ws2 = wb.create_sheet("teachers")
    xlsx.write_sheet(
        ws2,
        [
            c.label if c.name not in ("teacher_email", "teacher_phone") else c.aliases[0]
            for c in TEACHER_COLUMNS
        ],
        [],
        text_columns=(0, 1, 5),
    )
    return xlsx.workbook_bytes(wb)


# ----------------------------------------------------------------------------- grade sheets


@dataclass
class GradeSheetReport:
    problems: list[Problem] = field(default_factory=list)
    result: object = None  # grades.SaveResult when applied

    @property
    def ok(self) -> bool:
        return not self.problems


def import_grade_sheet(source, book, *, actor, reason: str = "") -> GradeSheetReport:
    """Read a grade sheet exported for `book` (same layout) and save it like the entry form:
    all or nothing, blank cells clear drafts, changes to published grades need `reason`."""
    from . import grades
    from .exporters import GRADES_SHEET, INFO_SHEET, book_identity

    report = GradeSheetReport()
    try:
        wb = xlsx.open_workbook(source)
    except FileRejected as err:
        report.problems = err.problems
        return report
    columns = (Column("pupil_code", "Mã học sinh"), Column("full_name", "Họ và tên", required=False)) + tuple(
        Column(c.english, c.label, required=False) for c in book.columns
    )
    try:
        info_sheet = xlsx.find_sheet(wb, INFO_SHEET)
        if info_sheet is not None:
            info = {
                str(r[0]).strip(): r[1]
                for r in info_sheet.iter_rows(min_row=2, values_only=True)
                if r and r[0] is not None
            }
            found = (info.get("class_id"), info.get("subject_id"), info.get("term_id"))
            if found != (book.cls.id, book.subject.id, book.term.id):
                report.problems.append(
                    Problem(
                        None,
                        None,
                        "wrong_sheet",
                        {"found": str(info.get("book") or "?"), "expected": book_identity(book)},
                    )
                )
                return report
        rows = xlsx.read_sheet(wb, GRADES_SHEET, columns)
    except FileRejected as err:
        report.problems = err.problems
        return report
    finally:
        wb.close()
    by_code = {r.pupil.pupil_code.casefold(): r for r in book.rows}
    entries: dict[tuple[int, str, int], object] = {}
    where: dict[tuple[int, str, int], tuple[int, str]] = {}
    seen: dict[int, int] = {}
    for row in rows:
        value, dtype = row.get("pupil_code")
        code = str(value).strip() if value is not None else ""
        target = by_code.get(code.casefold())
        if target is None:
            report.problems.append(Problem(row.number, "pupil_code", "unknown_pupil", {"code": code or "—"}))
            continue
        if target.pupil.id in seen:
            report.problems.append(
                Problem(row.number, "pupil_code", "duplicate", {"first": seen[target.pupil.id]})
            )
            continue
        seen[target.pupil.id] = row.number
        for c in book.columns:
            if c.english not in row.values:
                continue  # column not in the file: those grades are left alone
            v, t = row.get(c.english)
            try:
                xlsx.check_cell(v, t)
            except CellError as err:
                report.problems.append(Problem(row.number, c.label, err.code, err.params))
                continue
            key = (target.pupil.id, c.kind, c.seq)
            entries[key] = v
            where[key] = (row.number, c.label)
    if report.problems:
        return report
    result = grades.save_entries(book, entries, actor=actor, reason=reason)
    if not result.ok:
        for key, code in sorted(result.errors.items(), key=lambda kv: where.get(kv[0], (0, ""))):
            number, label = where.get(key, (None, None))
            report.problems.append(
                Problem(number, label, "grade_cell", {"problem": str(grades.ERRORS[code])})
            )
        return report
    report.result = result
    audit(
        "contactbook.grade_sheet_import",
        ("cb_class", book.cls.id),
        subject_id=book.subject.id,
        term_id=book.term.id,
        created=result.created,
        updated=result.updated,
        changed_published=result.changed_published,
    )
    return report
