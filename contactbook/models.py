"""Contact book data: classes, pupils and guardians, teaching, the school calendar, grades,
comments, attendance, absence requests, account activation, messages and announcements.

Tables carry the `cb_` prefix so that they never collide with other areas. Every lookup path
has an index; the grade table is the big one (~300 rows per pupil and year) and is read by
(pupil) for a family and by (subject, term, pupils of a class) for a teacher.
"""

from __future__ import annotations

import enum
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models import AcademicYear, School, User, utcnow
from app.years import current_year_id  # noqa: F401  (the SQL of the current year, used by access.py)


class Gender(enum.StrEnum):
    MALE = "male"
    FEMALE = "female"


class Assessment(enum.StrEnum):
    """How a subject is assessed (see Subject)."""

    SCORED = "scored"
    COMMENT = "comment"
    PRIMARY = "primary"


class GradeKind(enum.StrEnum):
    REGULAR = "regular"
    MIDTERM = "midterm"
    ENDTERM = "endterm"
    LEVEL = "level"


class GradeStatus(enum.StrEnum):
    """A grade is a draft (the teacher's only) until published (families see it)."""

    DRAFT = "draft"
    PUBLISHED = "published"


class AttendanceStatus(enum.StrEnum):
    PRESENT = "present"
    EXCUSED = "excused"
    UNEXCUSED = "unexcused"
    LATE = "late"


ABSENT = (AttendanceStatus.EXCUSED, AttendanceStatus.UNEXCUSED)


class RequestStatus(enum.StrEnum):
    """An absence request: pending until the homeroom teacher approves or declines it."""

    PENDING = "pending"
    APPROVED = "approved"
    DECLINED = "declined"


class CommentKind(enum.StrEnum):
    TERM = "term"  # one per author, term and subject
    NOTE = "note"  # a note to the family, any day


class ReportStatus(enum.StrEnum):
    """A reported conversation: open until the school closes it with what it did."""

    OPEN = "open"
    CLOSED = "closed"


def _in(column: str, values: type[enum.StrEnum]) -> str:
    """The CHECK of a status column (the stored values are the enum's values)."""
    return f"{column} IN ({','.join(repr(v.value) for v in values)})"


class Term(db.Model):
    """A term of a school's calendar (học kì I / II) within an academic year."""

    __tablename__ = "cb_term"
    __table_args__ = (
        sa.UniqueConstraint("school_id", "academic_year_id", "number"),
        sa.CheckConstraint("number IN (1, 2)", name="number"),
        sa.CheckConstraint("starts_on <= ends_on", name="dates"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("school.id", ondelete="CASCADE"))
    academic_year_id: Mapped[int] = mapped_column(sa.ForeignKey("academic_year.id"), index=True)
    number: Mapped[int]
    starts_on: Mapped[date]
    ends_on: Mapped[date]

    academic_year: Mapped[AcademicYear] = relationship()


class Subject(db.Model):
    """A subject taught in one grade of one school, and how it is assessed.

    assessment: "scored" (Circular 22: regular/mid/end scores 0–10), "comment" (Circular 22:
    Đạt / Chưa đạt), "primary" (Circular 27: Hoàn thành tốt / Hoàn thành / Chưa hoàn thành,
    plus an end-of-term test scored 0–10 when `has_test`).
    """

    __tablename__ = "cb_subject"
    __table_args__ = (
        sa.UniqueConstraint("school_id", "grade", "name"),
        sa.CheckConstraint("grade BETWEEN 0 AND 12", name="grade"),
        sa.CheckConstraint(_in("assessment", Assessment), name="assessment"),
        sa.CheckConstraint("regular_count BETWEEN 1 AND 9", name="regular_count"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("school.id", ondelete="CASCADE"))
    grade: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(80))
    assessment: Mapped[str] = mapped_column(sa.String(10))
    has_test: Mapped[bool] = mapped_column(default=False)
    regular_count: Mapped[int] = mapped_column(default=3)
    position: Mapped[int] = mapped_column(default=100)

    @property
    def is_primary(self) -> bool:
        return self.assessment == Assessment.PRIMARY


class SchoolClass(db.Model):
    __tablename__ = "cb_class"
    __table_args__ = (
        sa.UniqueConstraint("school_id", "academic_year_id", "name"),
        sa.CheckConstraint("grade BETWEEN 0 AND 12", name="grade"),  # 0: kindergarten, age 5
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("school.id", ondelete="CASCADE"))
    academic_year_id: Mapped[int] = mapped_column(sa.ForeignKey("academic_year.id"), index=True)
    grade: Mapped[int]
    name: Mapped[str] = mapped_column(sa.String(20))
    homeroom_teacher_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )

    school: Mapped[School] = relationship()
    academic_year: Mapped[AcademicYear] = relationship()
    homeroom_teacher: Mapped[User | None] = relationship()


class Pupil(db.Model):
    __tablename__ = "cb_pupil"
    __table_args__ = (
        sa.UniqueConstraint("school_id", "pupil_code"),
        sa.CheckConstraint(_in("gender", Gender), name="gender"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("school.id", ondelete="CASCADE"))
    pupil_code: Mapped[str] = mapped_column(sa.String(40))
    full_name: Mapped[str] = mapped_column(sa.String(120))
    date_of_birth: Mapped[date]
    gender: Mapped[str] = mapped_column(sa.String(6))
    # Left the school (a leaver of its last grade at the rollover): archived, never deleted.
    left_at: Mapped[datetime | None]

    school: Mapped[School] = relationship()


class Enrolment(db.Model):
    """A pupil's class in an academic year (one class per pupil and year)."""

    __tablename__ = "cb_enrolment"
    __table_args__ = (sa.UniqueConstraint("pupil_id", "academic_year_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_pupil.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_class.id", ondelete="CASCADE"), index=True)
    academic_year_id: Mapped[int] = mapped_column(sa.ForeignKey("academic_year.id"))
    # The homeroom teacher's decision: the pupil repeats the grade next year (the rollover keeps
    # them back).
    repeats: Mapped[bool] = mapped_column(default=False, server_default=sa.false())

    pupil: Mapped[Pupil] = relationship()
    school_class: Mapped[SchoolClass] = relationship()


class Guardian(db.Model):
    """A parent account (role parent) linked to a pupil. One account per phone number."""

    __tablename__ = "cb_guardian"
    __table_args__ = (sa.UniqueConstraint("pupil_id", "user_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_pupil.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    pupil: Mapped[Pupil] = relationship()
    user: Mapped[User] = relationship()


class TeachingAssignment(db.Model):
    """Who teaches a subject to a class (one teacher per class × subject)."""

    __tablename__ = "cb_teaching"
    __table_args__ = (sa.UniqueConstraint("class_id", "subject_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_class.id", ondelete="CASCADE"))
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_subject.id", ondelete="CASCADE"), index=True)
    teacher_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)

    school_class: Mapped[SchoolClass] = relationship()
    subject: Mapped[Subject] = relationship()
    teacher: Mapped[User] = relationship()


class Grade(db.Model):
    """One assessment of a pupil in a subject and term.

    kind: regular (seq 1..n), midterm, endterm (secondary; primary end-of-term test), level
    (primary periodic evaluation). `score` holds 0–10 with one decimal; `mark` holds
    Đ/CĐ (secondary comment-assessed: "D", "CD") or HTT/HT/CHT (primary levels).
    """

    __tablename__ = "cb_grade"
    __table_args__ = (
        sa.UniqueConstraint("pupil_id", "subject_id", "term_id", "kind", "seq"),
        sa.Index("ix_cb_grade_book", "subject_id", "term_id"),
        sa.CheckConstraint(_in("kind", GradeKind), name="kind"),
        sa.CheckConstraint(_in("status", GradeStatus), name="status"),
        sa.CheckConstraint("score IS NULL OR (score >= 0 AND score <= 10)", name="score"),
        sa.CheckConstraint("mark IS NULL OR mark IN ('D','CD','HTT','HT','CHT')", name="mark"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_pupil.id", ondelete="CASCADE"))
    subject_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_subject.id", ondelete="CASCADE"))
    term_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_term.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(10))
    seq: Mapped[int] = mapped_column(default=1)
    score: Mapped[Decimal | None] = mapped_column(sa.Numeric(3, 1))
    mark: Mapped[str | None] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(10), default=GradeStatus.DRAFT)
    published_at: Mapped[datetime | None]
    changed_after_publish: Mapped[bool] = mapped_column(default=False)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))


class GradeChange(db.Model):
    """A change to a published grade: old and new value, the reason, who and when."""

    __tablename__ = "cb_grade_change"
    id: Mapped[int] = mapped_column(primary_key=True)
    grade_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_grade.id", ondelete="CASCADE"), index=True)
    old_score: Mapped[Decimal | None] = mapped_column(sa.Numeric(3, 1))
    old_mark: Mapped[str | None] = mapped_column(sa.String(3))
    new_score: Mapped[Decimal | None] = mapped_column(sa.Numeric(3, 1))
    new_mark: Mapped[str | None] = mapped_column(sa.String(3))
    reason: Mapped[str] = mapped_column(sa.String(300))
    changed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)

    grade: Mapped[Grade] = relationship()


class Comment(db.Model):
    """A teacher's comment on a pupil: a term comment (one per author, term and subject) or a note."""

    __tablename__ = "cb_comment"
    __table_args__ = (
        sa.Index("ix_cb_comment_pupil", "pupil_id", "created_at"),
        sa.CheckConstraint(_in("kind", CommentKind), name="kind"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_pupil.id", ondelete="CASCADE"))
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(5))
    term_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cb_term.id", ondelete="CASCADE"), index=True)
    subject_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cb_subject.id", ondelete="CASCADE"), index=True
    )
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    author: Mapped[User | None] = relationship()


class Attendance(db.Model):
    __tablename__ = "cb_attendance"
    __table_args__ = (
        sa.UniqueConstraint("pupil_id", "on_date"),
        sa.Index("ix_cb_attendance_class_date", "class_id", "on_date"),
        sa.CheckConstraint(_in("status", AttendanceStatus), name="status"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_pupil.id", ondelete="CASCADE"))
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_class.id", ondelete="CASCADE"))
    on_date: Mapped[date]
    status: Mapped[str] = mapped_column(sa.String(10))
    note: Mapped[str] = mapped_column(sa.String(200), default="")
    marked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    marked_at: Mapped[datetime] = mapped_column(default=utcnow)


class AbsenceRequest(db.Model):
    """A guardian asks the homeroom teacher to excuse an absence (dates inclusive)."""

    __tablename__ = "cb_absence_request"
    __table_args__ = (
        sa.Index("ix_cb_absence_request_class", "class_id", "status"),
        sa.CheckConstraint(_in("status", RequestStatus), name="status"),
        sa.CheckConstraint("from_date <= to_date", name="dates"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_pupil.id", ondelete="CASCADE"), index=True)
    class_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_class.id", ondelete="CASCADE"))
    requested_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("user.id", ondelete="SET NULL"), index=True
    )
    from_date: Mapped[date]
    to_date: Mapped[date]
    reason: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(10), default=RequestStatus.PENDING)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    decided_at: Mapped[datetime | None]
    decision_note: Mapped[str] = mapped_column(sa.String(300), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    pupil: Mapped[Pupil] = relationship()
    requested_by: Mapped[User | None] = relationship(foreign_keys=[requested_by_id])


class ActivationCode(db.Model):
    """A one-time code to set the first password of an imported account (guardian or teacher).

    Only an HMAC of the code is stored. A code is single-use and expires; using one revokes the
    account's other codes.
    """

    __tablename__ = "cb_activation_code"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    code_hash: Mapped[str] = mapped_column(sa.String(64), unique=True)
    class_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("cb_class.id", ondelete="SET NULL"), index=True
    )
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


# ----------------------------------------------------------------------------- messages


class MessageThread(db.Model):
    """A conversation about one child between one guardian and one of the child's teachers.

    Read receipts: each side's last read time; a message is seen by the other side when its
    time is at or before that side's `*_read_at`. Blocking stops new messages both ways.
    """

    __tablename__ = "cb_thread"
    __table_args__ = (
        sa.UniqueConstraint("pupil_id", "guardian_id", "teacher_id"),
        sa.Index("ix_cb_thread_guardian", "guardian_id", "last_message_at"),
        sa.Index("ix_cb_thread_teacher", "teacher_id", "last_message_at"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    pupil_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_pupil.id", ondelete="CASCADE"))
    guardian_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    teacher_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("school.id", ondelete="CASCADE"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_message_at: Mapped[datetime] = mapped_column(default=utcnow)
    guardian_read_at: Mapped[datetime | None]
    teacher_read_at: Mapped[datetime | None]
    blocked_at: Mapped[datetime | None]
    blocked_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))

    pupil: Mapped[Pupil] = relationship()
    guardian: Mapped[User] = relationship(foreign_keys=[guardian_id])
    teacher: Mapped[User] = relationship(foreign_keys=[teacher_id])


class Message(db.Model):
    __tablename__ = "cb_message"
    __table_args__ = (sa.Index("ix_cb_message_thread", "thread_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_thread.id", ondelete="CASCADE"))
    sender_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    body: Mapped[str] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MessageAttachment(db.Model):
    """A file sent with a message, stored under the instance folder (outside the web root) with
    a random name; served only to the thread's members."""

    __tablename__ = "cb_attachment"
    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_message.id", ondelete="CASCADE"), index=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_thread.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(sa.String(120))
    content_type: Mapped[str] = mapped_column(sa.String(40))
    size: Mapped[int]
    storage_name: Mapped[str] = mapped_column(sa.String(80), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ThreadReport(db.Model):
    """A participant reports a conversation to the school (abuse, wrong person, …)."""

    __tablename__ = "cb_thread_report"
    __table_args__ = (sa.CheckConstraint(_in("status", ReportStatus), name="status"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    thread_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_thread.id", ondelete="CASCADE"), index=True)
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("school.id", ondelete="CASCADE"), index=True)
    reporter_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    reason: Mapped[str] = mapped_column(sa.String(500))
    status: Mapped[str] = mapped_column(sa.String(10), default=ReportStatus.OPEN)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    closed_at: Mapped[datetime | None]
    closed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"))
    resolution: Mapped[str] = mapped_column(sa.String(300), default="", server_default="")

    thread: Mapped[MessageThread] = relationship()
    reporter: Mapped[User | None] = relationship(foreign_keys=[reporter_id])
    closed_by: Mapped[User | None] = relationship(foreign_keys=[closed_by_id])


class OfficeHours(db.Model):
    """When a teacher answers messages (shown to families before they write)."""

    __tablename__ = "cb_office_hours"
    id: Mapped[int] = mapped_column(primary_key=True)
    teacher_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), unique=True)
    text: Mapped[str] = mapped_column(sa.String(200))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


# ----------------------------------------------------------------------------- announcements


class Announcement(db.Model):
    """A teacher's notice to the guardians of a class, or the school's to all its families."""

    __tablename__ = "cb_announcement"
    __table_args__ = (sa.Index("ix_cb_announcement_school", "school_id", "created_at"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    school_id: Mapped[int] = mapped_column(sa.ForeignKey("school.id", ondelete="CASCADE"))
    class_id: Mapped[int | None] = mapped_column(sa.ForeignKey("cb_class.id", ondelete="CASCADE"), index=True)
    author_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str] = mapped_column(sa.Text)
    requires_ack: Mapped[bool] = mapped_column(default=False)
    # An urgent notice (storm closure, an incident): sent as "emergency", by every channel at once.
    urgent: Mapped[bool] = mapped_column(default=False, server_default=sa.false())
    recipient_count: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    school: Mapped[School] = relationship()
    school_class: Mapped[SchoolClass | None] = relationship()
    author: Mapped[User | None] = relationship()


class AnnouncementRecipient(db.Model):
    __tablename__ = "cb_announcement_recipient"
    __table_args__ = (
        sa.UniqueConstraint("announcement_id", "user_id"),
        sa.Index("ix_cb_announcement_recipient_user", "user_id", "announcement_id"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    announcement_id: Mapped[int] = mapped_column(sa.ForeignKey("cb_announcement.id", ondelete="CASCADE"))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    read_at: Mapped[datetime | None]
    acked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()
