"""Reading and checking classes.xlsx (docs/excel-formats.md): sheets `pupils` and `teachers`.

Every row of both sheets is checked: its cells, then the rows against each other, then against
the database (schools, accounts). imports.classes writes a workbook only when nothing is wrong.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from functools import partial
from typing import ClassVar

import sqlalchemy as sa

from app import imports, xlsx
from app.extensions import db
from app.models import Role, School, User
from app.xlsx import Column, FileRejected, Row

from ..catalog import grades_of_level
from ..rules import fold
from .cells import Problem, cell, class_name, read_sheet

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


@dataclass
class ImportReport(imports.ImportReport):
    """The platform's import report (app.imports) with the contact book's problem codes, the new
    accounts it created (stored with the job) and the schools it touched (for the audit entry)."""

    problem_type: ClassVar[type[xlsx.Problem]] = Problem
    EXTRA: ClassVar[tuple[str, ...]] = ("new_guardians", "new_teachers")

    kind: str = "classes"
    new_guardians: int = 0
    new_teachers: int = 0
    school_ids: set[int] = field(default_factory=set)


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


def read_workbook(
    source, problems: list[Problem], today: date
) -> tuple[list[PupilRow], list[TeacherRow]] | None:
    """The rows of both sheets whose cells are right, the problems of the others added to
    `problems`; None when the file or one of its sheets cannot be read."""
    try:
        wb = xlsx.open_workbook(source)
    except FileRejected as err:
        problems.extend(err.problems)
        return None
    sheets = {}
    try:
        for name, columns in SHEETS:
            try:
                sheets[name] = read_sheet(wb, name, columns)
            except FileRejected as err:
                problems.extend(err.problems)
    finally:
        wb.close()
    if problems:
        return None
    return _parse_pupils(sheets["pupils"], problems, today), _parse_teachers(sheets["teachers"], problems)


def _parse_pupils(rows: list[Row], problems: list[Problem], today: date) -> list[PupilRow]:
    out = []
    s = "pupils"
    for r in rows:
        before = len(problems)
        school_code = cell(r, "school_code", xlsx.code, problems, s)
        cls = cell(r, "class_name", class_name, problems, s)
        pupil_code = cell(r, "pupil_code", xlsx.code, problems, s)
        full_name = cell(r, "full_name", xlsx.person_name, problems, s)
        dob = cell(r, "date_of_birth", partial(xlsx.a_date, today=today), problems, s)
        gender = cell(r, "gender", partial(xlsx.gender, letters=True), problems, s)
        g_name = cell(r, "guardian_name", xlsx.person_name, problems, s)
        g_phone = cell(r, "guardian_phone", xlsx.phone, problems, s)
        g_email = cell(r, "guardian_email", xlsx.email, problems, s, required=False)
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


def _parse_teachers(rows: list[Row], problems: list[Problem]) -> list[TeacherRow]:
    out = []
    s = "teachers"
    for r in rows:
        before = len(problems)
        school_code = cell(r, "school_code", xlsx.code, problems, s)
        cls = cell(r, "class_name", class_name, problems, s)
        subject = cell(r, "subject", partial(xlsx.text, max_len=80), problems, s, required=False)
        name = cell(r, "teacher_name", xlsx.person_name, problems, s)
        email = cell(r, "teacher_email", xlsx.email, problems, s)
        phone = cell(r, "teacher_phone", xlsx.phone, problems, s, required=False)
        homeroom = cell(r, "homeroom", xlsx.yes_no, problems, s, required=False) or False
        if len(problems) == before and not subject and not homeroom:
            problems.append(Problem(r.number, "subject", "subject_or_homeroom", {}, sheet=s))
        if len(problems) == before:
            out.append(
                TeacherRow(
                    r.number, school_code.upper(), cls[0], cls[1], subject, name, email, phone, homeroom
                )
            )
    return out


def chunks(items: list, size: int = CHUNK):
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _users_by_phone(phones: set[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    for chunk in chunks(sorted(phones)):
        for u in db.session.scalars(sa.select(User).where(User.phone.in_(chunk))):
            found[u.phone] = u
    return found


def _users_by_email(emails: set[str]) -> dict[str, User]:
    found: dict[str, User] = {}
    for chunk in chunks(sorted(emails)):
        for u in db.session.scalars(sa.select(User).where(sa.func.lower(User.email).in_(chunk))):
            found[u.email.lower()] = u
    return found


def check_rows(
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
        if t.grade == 0 and t.subject:
            problems.append(Problem(t.row, "subject", "kindergarten_subject", {}, sheet="teachers"))
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
