"""Day-to-day records: attendance (homeroom teacher, a whole class per date), comments (term
comments and notes) and absence requests (guardian → homeroom teacher). Flush only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import sqlalchemy as sa
from flask_babel import format_date
from sqlalchemy.orm import joinedload

from app.audit import audit
from app.extensions import db
from app.forms import clean_text
from app.i18n import local_today
from app.models import User, utcnow
from app.xlsx import clean_text as one_line

from .classes import class_pupils
from .models import (
    ABSENT,
    AbsenceRequest,
    Attendance,
    AttendanceStatus,
    Comment,
    CommentKind,
    Pupil,
    RequestStatus,
    SchoolClass,
    Term,
)
from .notify import absence_requested, notify_guardians

# ----------------------------------------------------------------------------- attendance


@dataclass
class AttendanceLine:
    pupil: Pupil
    status: str
    note: str
    recorded: bool  # a record exists for that date
    request: AbsenceRequest | None  # an approved or pending request covering the date


def attendance_sheet(cls: SchoolClass, day: date) -> list[AttendanceLine]:
    """The class on `day`: existing records, else 'present' — or 'excused' when an approved
    request covers the day (three queries)."""
    pupils = class_pupils(cls)
    records = {
        a.pupil_id: a
        for a in db.session.scalars(
            sa.select(Attendance).where(Attendance.class_id == cls.id, Attendance.on_date == day)
        )
    }
    requests = {}
    for r in db.session.scalars(
        sa.select(AbsenceRequest)
        .where(
            AbsenceRequest.class_id == cls.id,
            AbsenceRequest.status.in_((RequestStatus.APPROVED, RequestStatus.PENDING)),
            AbsenceRequest.from_date <= day,
            AbsenceRequest.to_date >= day,
        )
        .order_by(AbsenceRequest.created_at)
    ):
        if requests.get(r.pupil_id) is None or r.status == RequestStatus.APPROVED:
            requests[r.pupil_id] = r
    lines = []
    for p in pupils:
        rec = records.get(p.id)
        req = requests.get(p.id)
        if rec is not None:
            lines.append(AttendanceLine(p, rec.status, rec.note, True, req))
        else:
            status = (
                AttendanceStatus.EXCUSED
                if req is not None and req.status == RequestStatus.APPROVED
                else AttendanceStatus.PRESENT
            )
            lines.append(AttendanceLine(p, status, "", False, req))
    return lines


def attendance_day(cls: SchoolClass, raw: str | None) -> tuple[date, str | None]:
    """The day a homeroom teacher asks for (yyyy-mm-dd; today in Hanoi when not given), and what
    stops taking attendance on it: "bad_date", "future", "outside_year" (None: nothing)."""
    today = local_today()
    if not raw:
        return today, None
    try:
        day = date.fromisoformat(raw)
    except ValueError:
        return today, "bad_date"
    if day > today:
        return day, "future"
    if not cls.academic_year.starts_on <= day <= cls.academic_year.ends_on:
        return day, "outside_year"
    return day, None


def marks_from_form(cls: SchoolClass, form) -> dict[int, tuple[str, str]]:
    """Each pupil's posted status (s-<pupil id>) and note (n-<pupil id>, one line)."""
    return {
        p.id: (form.get(f"s-{p.id}", AttendanceStatus.PRESENT), one_line(form.get(f"n-{p.id}"))[:200])
        for p in class_pupils(cls)
    }


def save_attendance(cls: SchoolClass, day: date, marks: dict[int, tuple[str, str]], actor: User) -> int:
    """Record the class's attendance on `day` (every pupil of the class; others ignored).
    Families are told of a new absence or late arrival. Returns how many records changed."""
    pupils = {p.id for p in class_pupils(cls)}
    existing = {
        a.pupil_id: a
        for a in db.session.scalars(
            sa.select(Attendance).where(Attendance.class_id == cls.id, Attendance.on_date == day)
        )
    }
    now = utcnow()
    changed = 0
    absent, late = [], []
    for pupil_id in pupils:
        status, note = marks.get(pupil_id, (AttendanceStatus.PRESENT, ""))
        if status not in set(AttendanceStatus):
            status = AttendanceStatus.PRESENT
        rec = existing.get(pupil_id)
        if rec is None:
            db.session.add(
                Attendance(
                    pupil_id=pupil_id,
                    class_id=cls.id,
                    on_date=day,
                    status=status,
                    note=note[:200],
                    marked_by_id=actor.id,
                    marked_at=now,
                )
            )
            changed += 1
            previous = AttendanceStatus.PRESENT
        elif (rec.status, rec.note) != (status, note[:200]):
            previous = rec.status
            rec.status, rec.note, rec.marked_by_id, rec.marked_at = status, note[:200], actor.id, now
            changed += 1
        else:
            continue
        if status in ABSENT and previous not in ABSENT:
            absent.append(pupil_id)
        elif status == AttendanceStatus.LATE and previous != AttendanceStatus.LATE:
            late.append(pupil_id)
    db.session.flush()
    audit("contactbook.attendance", cls, day=day.isoformat(), changed=changed)
    # The family asked for this absence and it was approved: telling them "absent on …" is noise.
    asked = _approved_absences(cls, day)
    absent = [pid for pid in absent if pid not in asked]
    context = {"day": format_date(day, "dd/MM/yyyy")}
    notify_guardians("absence_marked", absent, context, sender_id=actor.id, school_id=cls.school_id)
    notify_guardians("late_marked", late, context, sender_id=actor.id, school_id=cls.school_id)
    return changed


def _approved_absences(cls: SchoolClass, day: date) -> set[int]:
    """The pupils of the class whose approved absence request covers `day`."""
    return set(
        db.session.scalars(
            sa.select(AbsenceRequest.pupil_id).where(
                AbsenceRequest.class_id == cls.id,
                AbsenceRequest.status == RequestStatus.APPROVED,
                AbsenceRequest.from_date <= day,
                AbsenceRequest.to_date >= day,
            )
        )
    )


def attendance_history(pupil_id: int, limit: int = 60) -> list[Attendance]:
    """A pupil's days that were not plain 'present', newest first."""
    return list(
        db.session.scalars(
            sa.select(Attendance)
            .where(Attendance.pupil_id == pupil_id, Attendance.status != AttendanceStatus.PRESENT)
            .order_by(Attendance.on_date.desc())
            .limit(limit)
        )
    )


# ----------------------------------------------------------------------------- comments


def term_comments(cls: SchoolClass, term: Term, author: User, subject=None) -> dict[int, Comment]:
    """The class's term comments to edit: the homeroom teacher's own (subject None), or a
    subject's (whoever teaches it now edits them)."""
    q = sa.select(Comment).where(
        Comment.kind == CommentKind.TERM,
        Comment.term_id == term.id,
        Comment.pupil_id.in_([p.id for p in class_pupils(cls)]),
    )
    if subject is None:
        q = q.where(Comment.author_id == author.id, Comment.subject_id.is_(None))
    else:
        q = q.where(Comment.subject_id == subject.id)
    return {c.pupil_id: c for c in db.session.scalars(q)}


def comments_from_form(form) -> dict[int, str]:
    """The posted term comments: fields c-<pupil id>."""
    return {int(k[2:]): clean_text(v) for k, v in form.items() if k.startswith("c-") and k[2:].isdigit()}


def save_term_comments(
    cls: SchoolClass, term: Term, author: User, texts: dict[int, str], subject=None
) -> int:
    """Upsert the term comment per pupil (blank removes it): the homeroom teacher's, or the
    subject teacher's for `subject`."""
    current = term_comments(cls, term, author, subject)
    pupils = {p.id for p in class_pupils(cls)}
    now = utcnow()
    changed = 0
    for pupil_id, text in texts.items():
        if pupil_id not in pupils:
            continue
        text = text.strip()[:2000]
        c = current.get(pupil_id)
        if c is None and text:
            db.session.add(
                Comment(
                    pupil_id=pupil_id,
                    author_id=author.id,
                    kind=CommentKind.TERM,
                    term_id=term.id,
                    body=text,
                    subject_id=subject.id if subject is not None else None,
                    created_at=now,
                    updated_at=now,
                )
            )
            changed += 1
        elif c is not None and not text:
            db.session.delete(c)
            changed += 1
        elif c is not None and c.body != text:
            c.body, c.updated_at, c.author_id = text, now, author.id
            changed += 1
    db.session.flush()
    audit(
        "contactbook.term_comments",
        cls,
        term_id=term.id,
        subject_id=subject.id if subject is not None else None,
        changed=changed,
    )
    return changed


def add_note(pupil: Pupil, cls: SchoolClass, author: User, body: str) -> Comment:
    c = Comment(pupil_id=pupil.id, author_id=author.id, kind=CommentKind.NOTE, body=body.strip()[:2000])
    db.session.add(c)
    db.session.flush()
    notify_guardians("comment_added", [pupil.id], {}, sender_id=author.id, school_id=cls.school_id)
    return c


def pupil_notes(pupil_id: int, limit: int = 50) -> list[Comment]:
    return list(
        db.session.scalars(
            sa.select(Comment)
            .options(joinedload(Comment.author))
            .where(Comment.pupil_id == pupil_id, Comment.kind == CommentKind.NOTE)
            .order_by(Comment.created_at.desc(), Comment.id.desc())
            .limit(limit)
        )
    )


# ----------------------------------------------------------------------------- absence requests

PAST_DAYS = 30
AHEAD_DAYS = 90


def request_problem(from_date: date, to_date: date, today: date | None = None) -> str | None:
    today = today or local_today()
    if from_date < today - timedelta(days=PAST_DAYS):
        return "too_old"
    if to_date > today + timedelta(days=AHEAD_DAYS):
        return "too_far"
    return None


def file_request(
    pupil: Pupil, cls: SchoolClass, guardian: User, from_date: date, to_date: date, reason: str
) -> AbsenceRequest:
    r = AbsenceRequest(
        pupil_id=pupil.id,
        class_id=cls.id,
        requested_by_id=guardian.id,
        from_date=from_date,
        to_date=to_date,
        reason=reason.strip()[:500],
    )
    db.session.add(r)
    db.session.flush()
    if cls.homeroom_teacher is not None:
        absence_requested(cls.homeroom_teacher, cls, pupil, guardian)
    return r


def decide_request(req: AbsenceRequest, decision: str, note: str, actor: User) -> None:
    """Approve or decline a pending request; approving excuses recorded absences in its dates."""
    if req.status != RequestStatus.PENDING or decision not in (
        RequestStatus.APPROVED,
        RequestStatus.DECLINED,
    ):
        raise ValueError("not pending")
    req.status, req.decision_note = decision, (note or "").strip()[:300]
    req.decided_by_id, req.decided_at = actor.id, utcnow()
    if decision == RequestStatus.APPROVED:
        db.session.execute(
            sa.update(Attendance)
            .where(
                Attendance.pupil_id == req.pupil_id,
                Attendance.on_date >= req.from_date,
                Attendance.on_date <= req.to_date,
                Attendance.status == AttendanceStatus.UNEXCUSED,
            )
            .values(status=AttendanceStatus.EXCUSED)
        )
    db.session.flush()
    audit("contactbook.absence_decision", req, decision=decision)
    school_id = db.session.scalar(sa.select(SchoolClass.school_id).where(SchoolClass.id == req.class_id))
    notify_guardians("absence_decided", [req.pupil_id], {}, sender_id=actor.id, school_id=school_id)


def class_requests(cls: SchoolClass, limit: int = 100) -> list[AbsenceRequest]:
    return list(
        db.session.scalars(
            sa.select(AbsenceRequest)
            .options(joinedload(AbsenceRequest.pupil), joinedload(AbsenceRequest.requested_by))
            .where(AbsenceRequest.class_id == cls.id)
            .order_by(
                sa.case((AbsenceRequest.status == RequestStatus.PENDING, 0), else_=1),
                AbsenceRequest.created_at.desc(),
            )
            .limit(limit)
        )
    )


def pupil_requests(pupil_id: int, limit: int = 20) -> list[AbsenceRequest]:
    return list(
        db.session.scalars(
            sa.select(AbsenceRequest)
            .where(AbsenceRequest.pupil_id == pupil_id)
            .order_by(AbsenceRequest.created_at.desc())
            .limit(limit)
        )
    )
