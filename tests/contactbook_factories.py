"""Contact book test data: years, classes, subjects, pupils, guardians, teaching, grades,
and classes.xlsx workbooks. Import what you need in a test module; `cb_world` is a fixture."""

from __future__ import annotations

import io
import itertools
from datetime import date
from decimal import Decimal

import openpyxl
import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import AcademicYear, ImportJob, utcnow
from contactbook.models import (
    AbsenceRequest,
    Announcement,
    AnnouncementRecipient,
    Enrolment,
    Grade,
    Guardian,
    Message,
    MessageAttachment,
    MessageThread,
    Pupil,
    SchoolClass,
    Subject,
    TeachingAssignment,
    Term,
    ThreadReport,
)
from contactbook.years import current_year, ensure_terms
from tests.factories import create_school, create_user

_seq = itertools.count(1)

PUPIL_HEADERS = [
    "school_code",
    "class_name",
    "pupil_code",
    "full_name",
    "date_of_birth",
    "gender",
    "guardian_name",
    "guardian_phone",
    "guardian_email",
]
TEACHER_HEADERS = [
    "school_code",
    "class_name",
    "subject",
    "teacher_name",
    "teacher_email",
    "teacher_phone",
    "homeroom",
]


def create_year(name: str = "2026-2027", current: bool = True):
    start = int(name[:4])
    y = AcademicYear(
        name=name, starts_on=date(start, 9, 5), ends_on=date(start + 1, 5, 31), is_current=current
    )
    db.session.add(y)
    db.session.flush()
    return y


def current_year_or_create():
    return current_year() or create_year()


def create_class(school, name: str = "1A", *, year=None, homeroom=None):
    year = year or current_year_or_create()
    ensure_terms(school, year)
    grade = int("".join(itertools.takewhile(str.isdigit, name)))
    c = SchoolClass(
        school_id=school.id,
        academic_year_id=year.id,
        grade=grade,
        name=name,
        homeroom_teacher_id=homeroom.id if homeroom else None,
    )
    db.session.add(c)
    db.session.flush()
    return c


def create_subject(
    school,
    grade: int,
    name: str = "Toán",
    assessment: str | None = None,
    *,
    regular_count: int = 3,
    has_test: bool | None = None,
):
    assessment = assessment or ("primary" if grade <= 5 else "scored")
    if has_test is None:
        has_test = assessment == "primary"
    s = Subject(
        school_id=school.id,
        grade=grade,
        name=name,
        assessment=assessment,
        has_test=has_test,
        regular_count=regular_count,
    )
    db.session.add(s)
    db.session.flush()
    return s


def create_pupil(
    cls,
    *,
    guardians=(),
    code: str | None = None,
    full_name: str | None = None,
    gender: str = "female",
    dob: date | None = None,
):
    n = next(_seq)
    p = Pupil(
        school_id=cls.school_id,
        pupil_code=code or f"HS{n:05d}",
        full_name=full_name or f"Học Sinh {chr(65 + n % 26)}",
        date_of_birth=dob or date(2015, 1, 1 + n % 28),
        gender=gender,
    )
    db.session.add(p)
    db.session.flush()
    db.session.add(Enrolment(pupil_id=p.id, class_id=cls.id, academic_year_id=cls.academic_year_id))
    for g in guardians:
        db.session.add(Guardian(pupil_id=p.id, user_id=g.id))
    db.session.flush()
    return p


def assign(teacher, cls, subject):
    a = TeachingAssignment(class_id=cls.id, subject_id=subject.id, teacher_id=teacher.id)
    db.session.add(a)
    db.session.flush()
    return a


def terms_of(cls):
    return db.session.scalars(
        sa.select(Term)
        .where(Term.school_id == cls.school_id, Term.academic_year_id == cls.academic_year_id)
        .order_by(Term.number)
    ).all()


def add_grade(pupil, subject, term, kind: str, value, *, seq: int = 1, status: str = "published"):
    score = mark = None
    if isinstance(value, str) and not value[0].isdigit():
        mark = value
    else:
        score = Decimal(str(value))
    g = Grade(
        pupil_id=pupil.id,
        subject_id=subject.id,
        term_id=term.id,
        kind=kind,
        seq=seq,
        score=score,
        mark=mark,
        status=status,
        published_at=utcnow() if status == "published" else None,
    )
    db.session.add(g)
    db.session.flush()
    return g


def classes_xlsx(
    pupils: list[list],
    teachers: list[list],
    *,
    pupil_headers=None,
    teacher_headers=None,
    sheets=("pupils", "teachers"),
) -> bytes:
    """A classes.xlsx workbook from lists of row values (headers default to the English names)."""

    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    data = {
        "pupils": (pupil_headers or PUPIL_HEADERS, pupils),
        "teachers": (teacher_headers or TEACHER_HEADERS, teachers),
    }
    for name in sheets:
        headers, rows = data[name]
        ws = wb.create_sheet(name)
        ws.append(headers)
        for row in rows:
            ws.append(row)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


@pytest.fixture
def cb_world(world):
    """Contact book records around the `world` users.

    School A (primary): class 1A (homeroom: world teacher, who also teaches Toán there) with three
    pupils, the first one the world parent's child; class 1B taught by another teacher of school A.
    School B: class 1A with a pupil of another family, taught by the foreign teacher.
    """

    sa_, sb = world["schools"]
    teacher = world["users"]["teacher"]
    parent = world["users"]["parent"]
    year = current_year_or_create()
    a1 = create_class(sa_, "1A", year=year, homeroom=teacher)
    a2_teacher = create_user("teacher", school=sa_)
    a2 = create_class(sa_, "1B", year=year, homeroom=a2_teacher)
    math_a = create_subject(sa_, 1, "Toán")
    viet_a = create_subject(sa_, 1, "Tiếng Việt")
    assign(teacher, a1, math_a)
    assign(a2_teacher, a1, viet_a)
    assign(a2_teacher, a2, math_a)
    own_child = create_pupil(a1, guardians=[parent], full_name="Con Của Phụ Huynh")
    others = [create_pupil(a1) for _ in range(2)]
    other_family = create_user("parent")
    b_pupil_a2 = create_pupil(a2, guardians=[other_family])

    b1 = create_class(sb, "1A", year=year, homeroom=world["foreign"]["teacher"])
    math_b = create_subject(sb, 1, "Toán")
    assign(world["foreign"]["teacher"], b1, math_b)
    b_parent = create_user("parent")
    b_pupil = create_pupil(b1, guardians=[b_parent])
    jobs.commit()
    return {
        "year": year,
        "a1": a1,
        "a2": a2,
        "b1": b1,
        "math_a": math_a,
        "viet_a": viet_a,
        "math_b": math_b,
        "child": own_child,
        "classmates": others,
        "a2_pupil": b_pupil_a2,
        "a2_teacher": a2_teacher,
        "b_pupil": b_pupil,
        "b_parent": b_parent,
        "other_family": other_family,
        "terms_a": terms_of(a1),
        "terms_b": terms_of(b1),
    }


def secondary_setup(district=None):
    """A lower-secondary school with class 6A1, a teacher of Toán, three pupils with guardians."""
    school = create_school(district, level="grade6")
    teacher = create_user("teacher", school=school)
    cls = create_class(school, "6A1", homeroom=teacher)
    math = create_subject(school, 6, "Toán", "scored", regular_count=3)
    pe = create_subject(school, 6, "Giáo dục thể chất", "comment", regular_count=2)
    assign(teacher, cls, math)
    assign(teacher, cls, pe)
    parent = create_user("parent")
    pupils = [create_pupil(cls, guardians=[parent] if i == 0 else [create_user("parent")]) for i in range(3)]
    return {
        "school": school,
        "teacher": teacher,
        "cls": cls,
        "math": math,
        "pe": pe,
        "parent": parent,
        "pupils": pupils,
        "terms": terms_of(cls),
    }


def contactbook_foreign_ids(world) -> dict[str, int]:
    """URL arguments of the contact book → records of school B / another family, for the route ×
    role test (tests/integration/test_route_access.py). Created on each call (fresh database)."""

    sb = world["schools"][1]
    teacher_b = world["foreign"]["teacher"]
    cls = create_class(sb, "1A", homeroom=teacher_b)
    subject = create_subject(sb, 1, "Toán")
    assign(teacher_b, cls, subject)
    other_parent = create_user("parent")
    pupil = create_pupil(cls, guardians=[other_parent])
    ids = {"class_id": cls.id, "subject_id": subject.id, "pupil_id": pupil.id}
    ids.update(_foreign_records(pupil, cls, other_parent, teacher_b))
    ids["job_id"] = _foreign_import(world["foreign"]["school_staff"])
    jobs.commit()
    return ids


def _foreign_import(staff) -> int:
    """A classes.xlsx import job of school B's staff (the route test overrides job_id with an
    admissions import; the contact book's access test keeps this one)."""

    job = ImportJob(kind="classes", status="done", progress=100, file_token="e" * 32, user_id=staff.id)
    db.session.add(job)
    db.session.flush()
    return job.id


def _foreign_records(pupil, cls, parent, teacher) -> dict[str, int]:
    """Per-feature records of the foreign family (absence requests, threads, …)."""

    req = AbsenceRequest(
        pupil_id=pupil.id,
        class_id=cls.id,
        requested_by_id=parent.id,
        from_date=date(2026, 10, 1),
        to_date=date(2026, 10, 2),
        reason="Ốm",
    )
    db.session.add(req)
    db.session.flush()

    thread = MessageThread(
        pupil_id=pupil.id, guardian_id=parent.id, teacher_id=teacher.id, school_id=cls.school_id
    )
    db.session.add(thread)
    db.session.flush()
    msg = Message(thread_id=thread.id, sender_id=parent.id, body="Chào cô")
    db.session.add(msg)
    db.session.flush()
    att = MessageAttachment(
        message_id=msg.id,
        thread_id=thread.id,
        filename="a.pdf",
        content_type="application/pdf",
        size=5,
        storage_name=f"foreign-{thread.id}",
    )
    ann = Announcement(
        school_id=cls.school_id,
        class_id=cls.id,
        author_id=teacher.id,
        title="Họp phụ huynh",
        body="Thứ bảy",
        requires_ack=True,
        recipient_count=1,
    )
    db.session.add_all([att, ann])
    db.session.flush()
    db.session.add(AnnouncementRecipient(announcement_id=ann.id, user_id=parent.id))

    report = ThreadReport(
        thread_id=thread.id, school_id=cls.school_id, reporter_id=parent.id, reason="Nhắn tin lúc 23h"
    )
    db.session.add(report)
    db.session.flush()
    return {
        "request_id": req.id,
        "thread_id": thread.id,
        "attachment_id": att.id,
        "announcement_id": ann.id,
        "report_id": report.id,
    }
