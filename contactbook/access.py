"""Who may see which contact-book record. Every loader answers 404 outside the user's scope
(never 403: a guessed id must not reveal that the record exists).

- Staff (school staff, district officers, city admins): the classes and pupils of schools they
  manage (app.authz.can_manage_school).
- Teachers: the classes they teach a subject in or are homeroom teacher of; they edit grades only
  for their own class × subject assignments; the homeroom teacher reads the whole class.
- Parents: only the pupils they are guardian of.
"""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import abort, request
from flask_login import current_user

from app.authz import can_manage_school, school_or_404
from app.extensions import db
from app.imports import kinds_of
from app.models import ImportJob, Role, User

from .models import (
    AbsenceRequest,
    Announcement,
    AnnouncementRecipient,
    Enrolment,
    Guardian,
    MessageAttachment,
    Pupil,
    SchoolClass,
    Subject,
    TeachingAssignment,
    ThreadReport,
    current_year_id,
)

STAFF = (Role.SCHOOL_STAFF, Role.DISTRICT_OFFICER, Role.CITY_ADMIN)


def _get(model, ident):
    obj = db.session.get(model, ident)
    if obj is None:
        abort(404)
    return obj


def teaches_class(user: User, cls: SchoolClass) -> bool:
    if user.role != Role.TEACHER or user.school_id != cls.school_id:
        return False
    if cls.homeroom_teacher_id == user.id:
        return True
    return (
        db.session.scalar(
            sa.select(TeachingAssignment.id)
            .where(TeachingAssignment.class_id == cls.id, TeachingAssignment.teacher_id == user.id)
            .limit(1)
        )
        is not None
    )


def _writable(cls: SchoolClass) -> SchoolClass:
    """The classes of other years than the current one are read only: a write to one (POST)
    answers 403, so switching years never changes last year's records."""
    if request.method == "POST" and not cls.academic_year.is_current:
        abort(403)
    return cls


def staff_class_or_404(class_id: int) -> SchoolClass:
    cls = _get(SchoolClass, class_id)
    if current_user.role in STAFF and can_manage_school(current_user, cls.school):
        return _writable(cls)
    abort(404)


def class_or_404(class_id: int) -> SchoolClass:
    """A class the current staff member manages or teacher teaches."""
    cls = _get(SchoolClass, class_id)
    if current_user.role in STAFF and can_manage_school(current_user, cls.school):
        return _writable(cls)
    if teaches_class(current_user, cls):
        return _writable(cls)
    abort(404)


def homeroom_class_or_404(class_id: int) -> SchoolClass:
    cls = _get(SchoolClass, class_id)
    if current_user.role == Role.TEACHER and cls.homeroom_teacher_id == current_user.id:
        return _writable(cls)
    abort(404)


@dataclass
class BookAccess:
    cls: SchoolClass
    subject: Subject
    editable: bool  # the teacher of this class × subject; else read-only
    viewer: str = "teacher"  # teacher (of the subject) | homeroom | staff


def grade_book_or_404(class_id: int, subject_id: int) -> BookAccess:
    """The subject's teacher edits; the homeroom teacher and the school's staff read."""
    cls = _get(SchoolClass, class_id)
    subject = _get(Subject, subject_id)
    if subject.school_id != cls.school_id or subject.grade != cls.grade:
        abort(404)
    if current_user.role in STAFF and can_manage_school(current_user, cls.school):
        return BookAccess(cls, subject, False, "staff")
    if current_user.role != Role.TEACHER:
        abort(404)
    teacher_id = db.session.scalar(
        sa.select(TeachingAssignment.teacher_id).where(
            TeachingAssignment.class_id == cls.id, TeachingAssignment.subject_id == subject.id
        )
    )
    if teacher_id == current_user.id:
        return BookAccess(cls, subject, cls.academic_year.is_current)  # last year's: read only
    if cls.homeroom_teacher_id == current_user.id:
        return BookAccess(cls, subject, False, "homeroom")
    abort(404)


def overview_class_or_404(class_id: int) -> SchoolClass:
    """The whole class's results: its homeroom teacher and the school's staff."""
    cls = _get(SchoolClass, class_id)
    if current_user.role in STAFF and can_manage_school(current_user, cls.school):
        return cls
    if current_user.role == Role.TEACHER and cls.homeroom_teacher_id == current_user.id:
        return cls
    abort(404)


def absence_request_or_404(request_id: int) -> tuple[AbsenceRequest, SchoolClass]:
    """A request about a pupil of the current teacher's homeroom class, and that class."""
    req = _get(AbsenceRequest, request_id)
    return req, homeroom_class_or_404(req.class_id)


def school_teacher_or_404(user_id: int) -> User:
    """A teacher of a school the current staff member manages."""
    teacher = _get(User, user_id)
    if teacher.role != Role.TEACHER or teacher.school_id is None:
        abort(404)
    school_or_404(teacher.school_id)
    return teacher


def school_subject_or_404(subject_id: int) -> Subject:
    """A subject of a school the current staff member manages."""
    subject = _get(Subject, subject_id)
    school_or_404(subject.school_id)
    return subject


def thread_report_or_404(report_id: int) -> ThreadReport:
    """A report to a school the current staff member manages."""
    report = _get(ThreadReport, report_id)
    school_or_404(report.school_id)
    return report


def attachment_or_404(attachment_id: int) -> MessageAttachment:
    """An attachment (whether the user may open it is the conversation's rule: messaging)."""
    return _get(MessageAttachment, attachment_id)


@dataclass
class AnnouncementAccess:
    announcement: Announcement
    row: AnnouncementRecipient | None  # the current user's as a recipient; None for its managers


def announcement_or_404(announcement_id: int, *, as_recipient: bool = False) -> AnnouncementAccess:
    """An announcement the current user received, or manages (its author; staff of its school)
    unless `as_recipient`."""
    a = _get(Announcement, announcement_id)
    if not as_recipient and (
        a.author_id == current_user.id
        or (current_user.role in STAFF and can_manage_school(current_user, a.school))
    ):
        return AnnouncementAccess(a, None)
    row = db.session.scalar(
        sa.select(AnnouncementRecipient).where(
            AnnouncementRecipient.announcement_id == a.id, AnnouncementRecipient.user_id == current_user.id
        )
    )
    if row is None:
        abort(404)
    return AnnouncementAccess(a, row)


def pupil_in_class(pupil_id: int, cls: SchoolClass) -> Pupil:
    pupil = db.session.scalar(
        sa.select(Pupil)
        .join(Enrolment, Enrolment.pupil_id == Pupil.id)
        .where(Pupil.id == pupil_id, Enrolment.class_id == cls.id)
    )
    if pupil is None:
        abort(404)
    return pupil


def current_class_of(pupil_id: int) -> SchoolClass | None:
    """The pupil's class in the current year (None when not enrolled, or no year is current)."""
    return db.session.scalar(
        sa.select(SchoolClass)
        .join(Enrolment, Enrolment.class_id == SchoolClass.id)
        .where(Enrolment.pupil_id == pupil_id, Enrolment.academic_year_id == current_year_id())
    )


def teacher_pupil_or_404(pupil_id: int) -> tuple[Pupil, SchoolClass]:
    """A pupil of a class the current teacher teaches (current year)."""
    cls = current_class_of(pupil_id) if current_user.role == Role.TEACHER else None
    if cls is None or not teaches_class(current_user, cls):
        abort(404)
    return _get(Pupil, pupil_id), cls


def child_or_404(pupil_id: int) -> Pupil:
    """A pupil the current parent is guardian of."""
    if current_user.role != Role.PARENT:
        abort(404)
    pupil = db.session.scalar(
        sa.select(Pupil)
        .join(Guardian, Guardian.pupil_id == Pupil.id)
        .where(Pupil.id == pupil_id, Guardian.user_id == current_user.id)
    )
    if pupil is None:
        abort(404)
    return pupil


def children_of(user: User) -> list[Pupil]:
    return list(
        db.session.scalars(
            sa.select(Pupil)
            .join(Guardian, Guardian.pupil_id == Pupil.id)
            .where(Guardian.user_id == user.id)
            .order_by(Pupil.date_of_birth, Pupil.id)
        )
    )


def visible_import_jobs() -> sa.Select:
    """The contact book's import jobs a staff member may follow: their own (a city administrator:
    all of them). A job's report names rows and problem codes, never pupils."""
    q = sa.select(ImportJob).where(ImportJob.kind.in_(kinds_of("contactbook")))
    if current_user.role != Role.CITY_ADMIN:
        q = q.where(ImportJob.user_id == current_user.id)
    return q


def import_job_or_404(job_id: int) -> ImportJob:
    job = db.session.scalar(visible_import_jobs().where(ImportJob.id == job_id))
    if job is None:
        abort(404)
    return job


def results_class_or_404(class_id: int) -> tuple[SchoolClass, bool]:
    """A class's overall results: its homeroom teacher confirms them (this year's class only), the
    school's staff read them; anyone else 404, a write by a reader 403."""
    return homeroom_records_or_404(class_id)


def homeroom_records_or_404(class_id: int) -> tuple[SchoolClass, bool]:
    """The records a class's homeroom teacher keeps (overall results, a kindergarten's evaluations
    and height and weight checks): the homeroom teacher writes them (this year's class only), the
    school's staff read them; anyone else 404, a write by a reader 403. Returns (class, editable)."""
    cls = overview_class_or_404(class_id)
    editable = (
        current_user.role == Role.TEACHER
        and cls.homeroom_teacher_id == current_user.id
        and cls.academic_year.is_current
    )
    if request.method == "POST" and not editable:
        abort(403)
    return cls, editable
