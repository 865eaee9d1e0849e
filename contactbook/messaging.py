"""Messages between a guardian and the child's homeroom or subject teachers, reports of
conversations to the school, and teachers' office hours (announcements: announcements.py).

Who may talk: a thread is (child, guardian, teacher); the guardian must be the child's guardian
and the teacher must teach the child's class this year (homeroom or a subject). Nobody else can
message a parent. Attachments: images and PDF, recognised by their first bytes (not by the
name or the browser's word), stored under the instance folder with a random name.

Services flush only; the view commits. Files are written before the commit and belong to the
session's transaction: if it ends without committing (a refused file or a blocked conversation
rolled back by the view, an exception, a failed commit) the files it stored are removed again, so neither
a row without its file nor a file without its row is left behind.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass

import sqlalchemy as sa
import sqlalchemy.orm
from flask import current_app
from sqlalchemy.orm import joinedload

from app import jobs
from app.audit import audit
from app.extensions import db
from app.models import Role, User, utcnow
from app.xlsx import clean_text

from .classes import teacher_classes
from .models import (
    Enrolment,
    Guardian,
    Message,
    MessageAttachment,
    MessageThread,
    OfficeHours,
    Pupil,
    ReportStatus,
    SchoolClass,
    Subject,
    TeachingAssignment,
    ThreadReport,
)
from .notify import inbox_read, new_message, report_closed, thread_subject
from .rules import MAX_ATTACHMENT_BYTES
from .years import current_year

MAX_BODY = 4000

# (magic prefix, offset) → content type. SVG, HTML and the like are refused: they can carry script.
_SIGNATURES = (
    (b"\xff\xd8\xff", 0, "image/jpeg", "jpg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png", "png"),
    (b"GIF87a", 0, "image/gif", "gif"),
    (b"GIF89a", 0, "image/gif", "gif"),
    (b"%PDF-", 0, "application/pdf", "pdf"),
)


def sniff(head: bytes) -> tuple[str, str] | None:
    """(content type, extension) from a file's first bytes, or None if not an allowed type."""
    for magic, offset, ctype, ext in _SIGNATURES:
        if head[offset : offset + len(magic)] == magic:
            return ctype, ext
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", "webp"
    return None


class AttachmentError(ValueError):
    def __init__(self, code: str, name: str = ""):
        super().__init__(code)
        self.code = code
        self.name = name


def storage_dir() -> str:
    path = current_app.config.get("CONTACTBOOK_ATTACHMENTS") or os.path.join(
        current_app.instance_path, "contactbook_attachments"
    )
    os.makedirs(path, mode=0o700, exist_ok=True)
    return path


def safe_filename(name: str, ext: str) -> str:
    base = clean_text(os.path.basename((name or "").replace("\\", "/"))) or "file"
    base = "".join(ch for ch in base if ch not in '"<>:/\\|?*;')[:100].strip(". ") or "file"
    stem = base.rsplit(".", 1)[0] if "." in base else base
    return f"{stem}.{ext}"


@dataclass
class Upload:
    filename: str
    content_type: str
    size: int
    storage_name: str


_NEW_FILES = "contactbook_new_files"


def _track(path: str) -> None:
    """Remove `path` unless the current transaction commits (see _forget_files/_drop_files)."""
    db.session.info.setdefault(_NEW_FILES, []).append(path)
    jobs.mark_written()


@sa.event.listens_for(sa.orm.Session, "after_commit")
def _forget_files(session) -> None:
    session.info.pop(_NEW_FILES, None)  # committed: the rows point to them now


@sa.event.listens_for(sa.orm.Session, "after_transaction_end")
def _drop_files(session, transaction) -> None:
    if transaction.parent is not None or _NEW_FILES not in session.info:
        return
    for path in session.info.pop(_NEW_FILES):
        try:
            os.remove(path)
        except FileNotFoundError:
            pass
        except OSError:  # pragma: no cover - never fail a rollback for a file
            current_app.logger.warning("could not remove the attachment %s of a rolled-back message", path)


def store_upload(stream, filename: str) -> Upload:
    """Check a file's type (magic bytes) and size and store it; raises AttachmentError."""
    data = stream.read(MAX_ATTACHMENT_BYTES + 1)
    if len(data) > MAX_ATTACHMENT_BYTES:
        raise AttachmentError("too_big", filename)
    if not data:
        raise AttachmentError("empty", filename)
    kind = sniff(data[:16])
    if kind is None:
        raise AttachmentError("type", filename)
    ctype, ext = kind
    storage_name = secrets.token_hex(20)
    path = os.path.join(storage_dir(), storage_name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    _track(path)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
    return Upload(safe_filename(filename, ext), ctype, len(data), storage_name)


def attachment_path(att: MessageAttachment) -> str:
    return os.path.join(storage_dir(), att.storage_name)


# ----------------------------------------------------------------------------- who may talk


def child_teachers(pupil_id: int) -> tuple[SchoolClass | None, list[tuple[User, list[str], bool]]]:
    """The child's class this year and its teachers: (teacher, subject names, is homeroom)."""
    year = current_year()
    if year is None:
        return None, []
    cls = db.session.scalar(
        sa.select(SchoolClass)
        .options(joinedload(SchoolClass.homeroom_teacher))
        .join(Enrolment, Enrolment.class_id == SchoolClass.id)
        .where(Enrolment.pupil_id == pupil_id, Enrolment.academic_year_id == year.id)
    )
    if cls is None:
        return None, []
    teachers: dict[int, tuple[User, list[str], bool]] = {}
    if cls.homeroom_teacher is not None and cls.homeroom_teacher.active:
        teachers[cls.homeroom_teacher.id] = (cls.homeroom_teacher, [], True)
    for user, subject in db.session.execute(
        sa.select(User, Subject.name)
        .join(TeachingAssignment, TeachingAssignment.teacher_id == User.id)
        .join(Subject, Subject.id == TeachingAssignment.subject_id)
        .where(TeachingAssignment.class_id == cls.id, User.active.is_(True))
        .order_by(Subject.position, Subject.name)
    ):
        entry = teachers.setdefault(user.id, (user, [], user.id == cls.homeroom_teacher_id))
        entry[1].append(subject)
    return cls, list(teachers.values())


def may_talk(pupil_id: int, guardian_id: int, teacher_id: int) -> SchoolClass | None:
    """The child's class when this guardian and this teacher may message about the child."""
    is_guardian = (
        db.session.scalar(
            sa.select(Guardian.id).where(Guardian.pupil_id == pupil_id, Guardian.user_id == guardian_id)
        )
        is not None
    )
    if not is_guardian:
        return None
    cls, teachers = child_teachers(pupil_id)
    if cls is None or teacher_id not in {t.id for t, _, _ in teachers}:
        return None
    return cls


def thread_for(thread: MessageThread, user: User) -> bool:
    """Is `user` a current member of the thread?"""
    if user.id == thread.guardian_id and user.role == Role.PARENT:
        return may_talk(thread.pupil_id, thread.guardian_id, thread.teacher_id) is not None
    if user.id == thread.teacher_id and user.role == Role.TEACHER:
        return may_talk(thread.pupil_id, thread.guardian_id, thread.teacher_id) is not None
    return False


def member_thread(thread_id: int, user: User) -> MessageThread | None:
    """The conversation, if `user` is one of its current members (thread_for)."""
    thread = db.session.get(MessageThread, thread_id)
    return thread if thread is not None and thread_for(thread, user) else None


def child_guardians(pupil_id: int) -> list[User]:
    """The child's active guardians (whom a teacher may write to)."""
    return list(
        db.session.scalars(
            sa.select(User)
            .join(Guardian, Guardian.user_id == User.id)
            .where(Guardian.pupil_id == pupil_id, User.active.is_(True))
            .order_by(Guardian.id)
        )
    )


def open_thread(pupil: Pupil, guardian: User, teacher: User, cls: SchoolClass) -> MessageThread:
    thread = db.session.scalar(
        sa.select(MessageThread).where(
            MessageThread.pupil_id == pupil.id,
            MessageThread.guardian_id == guardian.id,
            MessageThread.teacher_id == teacher.id,
        )
    )
    if thread is None:
        thread = MessageThread(
            pupil_id=pupil.id, guardian_id=guardian.id, teacher_id=teacher.id, school_id=cls.school_id
        )
        db.session.add(thread)
        db.session.flush()
    return thread


def post_message(thread: MessageThread, sender: User, body: str, uploads: list[Upload]) -> Message:
    if thread.blocked_at is not None:
        raise ValueError("blocked")
    now = utcnow()
    msg = Message(thread_id=thread.id, sender_id=sender.id, body=body.strip()[:MAX_BODY], created_at=now)
    db.session.add(msg)
    db.session.flush()
    for up in uploads:
        db.session.add(
            MessageAttachment(
                message_id=msg.id,
                thread_id=thread.id,
                filename=up.filename,
                content_type=up.content_type,
                size=up.size,
                storage_name=up.storage_name,
            )
        )
    thread.last_message_at = now
    if sender.id == thread.guardian_id:
        thread.guardian_read_at = now
        recipient = thread.teacher
    else:
        thread.teacher_read_at = now
        recipient = thread.guardian
    new_message(thread, sender, recipient)
    return msg


def mark_read(thread: MessageThread, user: User) -> None:
    """The member read the conversation: so are their inbox items about its messages."""
    now = utcnow()
    if user.id == thread.guardian_id:
        thread.guardian_read_at = now
    elif user.id == thread.teacher_id:
        thread.teacher_read_at = now
    else:
        return
    inbox_read(user.id, thread_subject(thread.id))


@dataclass
class ThreadView:
    thread: MessageThread
    messages: list[Message]
    attachments: dict[int, list[MessageAttachment]]
    other_read_at: object


def load_thread(thread: MessageThread, user: User) -> ThreadView:
    messages = list(
        db.session.scalars(
            sa.select(Message).where(Message.thread_id == thread.id).order_by(Message.created_at, Message.id)
        )
    )
    attachments: dict[int, list[MessageAttachment]] = {}
    for a in db.session.scalars(
        sa.select(MessageAttachment)
        .where(MessageAttachment.thread_id == thread.id)
        .order_by(MessageAttachment.id)
    ):
        attachments.setdefault(a.message_id, []).append(a)
    other = thread.teacher_read_at if user.id == thread.guardian_id else thread.guardian_read_at
    return ThreadView(thread, messages, attachments, other)


def _still_open():
    """SQL for may_talk() on a thread's own (pupil, guardian, teacher): the guardian is still the
    child's, and the teacher (active) still teaches the child's class this year."""
    year = current_year()
    teacher = sa.orm.aliased(User)
    teaches = sa.or_(
        SchoolClass.homeroom_teacher_id == MessageThread.teacher_id,
        sa.exists()
        .where(
            TeachingAssignment.class_id == SchoolClass.id,
            TeachingAssignment.teacher_id == MessageThread.teacher_id,
        )
        .correlate_except(TeachingAssignment),
    )
    return sa.and_(
        sa.exists().where(
            Guardian.pupil_id == MessageThread.pupil_id, Guardian.user_id == MessageThread.guardian_id
        ),
        sa.exists().where(teacher.id == MessageThread.teacher_id, teacher.active.is_(True)),
        sa.exists(
            sa.select(Enrolment.id)
            .join(SchoolClass, SchoolClass.id == Enrolment.class_id)
            .where(
                Enrolment.pupil_id == MessageThread.pupil_id,
                Enrolment.academic_year_id == (year.id if year else -1),
                teaches,
            )
        ),
    )


def user_threads(user: User, limit: int = 100) -> list[tuple[MessageThread, bool]]:
    """The conversations the user can open (as thread_for), newest first, with an unread flag
    (one query). A conversation whose teacher no longer teaches the child's class, or whose
    guardian is no longer the child's, is not listed (it would only answer 404)."""
    mine = MessageThread.guardian_id if user.role == Role.PARENT else MessageThread.teacher_id
    rows = db.session.scalars(
        sa.select(MessageThread)
        .options(
            joinedload(MessageThread.pupil),
            joinedload(MessageThread.guardian),
            joinedload(MessageThread.teacher),
        )
        .where(mine == user.id, _still_open())
        .order_by(MessageThread.last_message_at.desc())
        .limit(limit)
    ).all()
    out = []
    for t in rows:
        read = t.guardian_read_at if user.id == t.guardian_id else t.teacher_read_at
        out.append((t, read is None or read < t.last_message_at))
    return out


def set_block(thread: MessageThread, user: User, block: bool) -> None:
    if block and thread.blocked_at is None:
        thread.blocked_at, thread.blocked_by_id = utcnow(), user.id
        audit("contactbook.thread_block", thread)
    elif not block and thread.blocked_by_id == user.id:
        thread.blocked_at, thread.blocked_by_id = None, None
        audit("contactbook.thread_unblock", thread)


def report_thread(thread: MessageThread, user: User, reason: str) -> ThreadReport:
    r = ThreadReport(
        thread_id=thread.id, school_id=thread.school_id, reporter_id=user.id, reason=reason.strip()[:500]
    )
    db.session.add(r)
    db.session.flush()
    audit("contactbook.thread_report", thread, report_id=r.id)
    return r


def school_reports(school_id: int, limit: int = 200) -> list[ThreadReport]:
    """A school's reported conversations, open ones first (one query)."""
    return list(
        db.session.scalars(
            sa.select(ThreadReport)
            .options(
                joinedload(ThreadReport.reporter),
                joinedload(ThreadReport.closed_by),
                joinedload(ThreadReport.thread).joinedload(MessageThread.pupil),
                joinedload(ThreadReport.thread).joinedload(MessageThread.guardian),
                joinedload(ThreadReport.thread).joinedload(MessageThread.teacher),
            )
            .where(ThreadReport.school_id == school_id)
            .order_by(
                sa.case((ThreadReport.status == ReportStatus.OPEN, 0), else_=1),
                ThreadReport.created_at.desc(),
            )
            .limit(limit)
        )
    )


def close_report(report: ThreadReport, user: User, resolution: str) -> None:
    """The school has dealt with a report: record how, and tell the person who reported it."""
    if report.status == ReportStatus.CLOSED:
        raise ValueError("closed")
    report.status, report.closed_at, report.closed_by_id = ReportStatus.CLOSED, utcnow(), user.id
    report.resolution = resolution.strip()[:300]
    db.session.flush()
    audit("contactbook.report_closed", report, thread_id=report.thread_id)
    report_closed(report, user)


def office_hours_of(teacher_ids) -> dict[int, str]:
    ids = list(teacher_ids)
    if not ids:
        return {}
    return dict(
        db.session.execute(
            sa.select(OfficeHours.teacher_id, OfficeHours.text).where(OfficeHours.teacher_id.in_(ids))
        ).all()
    )


def set_office_hours(teacher: User, text: str) -> None:
    row = db.session.scalar(sa.select(OfficeHours).where(OfficeHours.teacher_id == teacher.id))
    text = text.strip()[:200]
    if row is None and text:
        db.session.add(OfficeHours(teacher_id=teacher.id, text=text))
    elif row is not None and not text:
        db.session.delete(row)
    elif row is not None:
        row.text, row.updated_at = text, utcnow()


def teacher_pupils(teacher: User) -> list[tuple[SchoolClass, list[Pupil]]]:
    """The pupils a teacher may write to the families of: each of this year's classes they teach,
    with its pupils by name (three queries whatever the number of classes)."""
    classes = [line.cls for line in teacher_classes(teacher)]
    by_class: dict[int, list[Pupil]] = {c.id: [] for c in classes}
    if classes:
        for class_id, pupil in db.session.execute(
            sa.select(Enrolment.class_id, Pupil)
            .join(Pupil, Pupil.id == Enrolment.pupil_id)
            .where(Enrolment.class_id.in_(by_class))
            .order_by(Pupil.full_name, Pupil.id)
        ):
            by_class[class_id].append(pupil)
    return [(c, by_class[c.id]) for c in classes]
