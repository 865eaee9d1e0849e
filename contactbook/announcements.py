"""Announcements: a teacher's notice to the families of a class, or the school's to all its
families, with one row per recipient for the read and acknowledgement report."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import joinedload

from app.audit import audit
from app.authz import scoped_schools_query
from app.extensions import db
from app.models import Role, School, User, utcnow

from .messaging import MAX_BODY
from .models import (
    Announcement,
    AnnouncementRecipient,
    Enrolment,
    Guardian,
    Pupil,
    SchoolClass,
    current_year_id,
)
from .notify import announcement_notification_id, announcement_sent, announcement_subject, inbox_read


def _school_class_ids(school_id: int) -> list[int]:
    """The school's classes this year (a school-wide announcement reaches their families)."""
    return list(
        db.session.scalars(
            sa.select(SchoolClass.id).where(
                SchoolClass.school_id == school_id, SchoolClass.academic_year_id == current_year_id()
            )
        )
    )


def class_guardian_ids(class_ids: list[int]) -> list[int]:
    return sorted(
        set(
            db.session.scalars(
                sa.select(Guardian.user_id)
                .join(Enrolment, Enrolment.pupil_id == Guardian.pupil_id)
                .join(User, User.id == Guardian.user_id)
                .where(Enrolment.class_id.in_(class_ids), User.active.is_(True))
            )
        )
    )


def send_announcement(
    *, school_id: int, cls: SchoolClass | None, author: User, title: str, body: str, requires_ack: bool
) -> Announcement:
    """Store the announcement with one row per recipient (for read/acknowledgement reports) and
    notify them. A school-wide one reaches every guardian of the school's classes this year."""
    class_ids = [cls.id] if cls is not None else _school_class_ids(school_id)
    recipients = class_guardian_ids(class_ids) if class_ids else []
    a = store_announcement(
        school_id=school_id,
        class_id=cls.id if cls else None,
        author=author,
        title=title,
        body=body,
        requires_ack=requires_ack,
        recipients=recipients,
    )
    audit("contactbook.announcement", a, recipients=len(recipients), class_id=a.class_id)
    return a


def store_announcement(
    *,
    school_id: int,
    class_id: int | None,
    author: User,
    title: str,
    body: str,
    requires_ack: bool,
    recipients: list[int],
    urgent: bool = False,
    created_at=None,
) -> Announcement:
    """The announcement, its recipient rows and its notification (an urgent one: "emergency")."""
    a = Announcement(
        school_id=school_id,
        class_id=class_id,
        author_id=author.id,
        title=title.strip()[:200],
        body=body.strip()[:MAX_BODY],
        requires_ack=requires_ack,
        urgent=urgent,
        recipient_count=len(recipients),
        created_at=created_at or utcnow(),
    )
    db.session.add(a)
    db.session.flush()
    for i in range(0, len(recipients), 5000):
        db.session.execute(
            sa.insert(AnnouncementRecipient),
            [{"announcement_id": a.id, "user_id": uid} for uid in recipients[i : i + 5000]],
        )
    announcement_sent(a, recipients, author)
    return a


@dataclass
class ReportLine:
    user: User
    children: list[str]
    read_at: object
    acked_at: object


def announcement_report(a: Announcement) -> list[ReportLine]:
    """Per recipient: who read and who acknowledged (two queries, whatever the size)."""
    rows = db.session.execute(
        sa.select(AnnouncementRecipient, User)
        .join(User, User.id == AnnouncementRecipient.user_id)
        .where(AnnouncementRecipient.announcement_id == a.id)
        .order_by(User.full_name)
    ).all()
    class_ids = [a.class_id] if a.class_id else _school_class_ids(a.school_id)
    children: dict[int, list[str]] = {}
    for uid, name in db.session.execute(
        sa.select(Guardian.user_id, Pupil.full_name)
        .join(Pupil, Pupil.id == Guardian.pupil_id)
        .join(Enrolment, Enrolment.pupil_id == Pupil.id)
        .where(Enrolment.class_id.in_(class_ids))
        .order_by(Pupil.full_name)
    ):
        children.setdefault(uid, []).append(name)
    return [ReportLine(u, children.get(u.id, []), r.read_at, r.acked_at) for r, u in rows]


def inbox(user: User, limit: int = 50) -> list[tuple[Announcement, AnnouncementRecipient]]:
    return list(
        db.session.execute(
            sa.select(Announcement, AnnouncementRecipient)
            .options(joinedload(Announcement.school), joinedload(Announcement.school_class))
            .join(AnnouncementRecipient, AnnouncementRecipient.announcement_id == Announcement.id)
            .where(AnnouncementRecipient.user_id == user.id)
            .order_by(Announcement.created_at.desc())
            .limit(limit)
        ).all()
    )


def sent_by(user: User, limit: int = 50) -> list[Announcement]:
    q = sa.select(Announcement).options(
        joinedload(Announcement.school_class), joinedload(Announcement.school)
    )
    if user.role == Role.TEACHER:
        q = q.where(Announcement.author_id == user.id)
    else:
        q = q.where(Announcement.school_id.in_(scoped_schools_query(user).with_only_columns(School.id)))
    return list(db.session.scalars(q.order_by(Announcement.created_at.desc()).limit(limit)))


def mark_read(row: AnnouncementRecipient) -> None:
    """The recipient opened the announcement (the first time counts); their inbox items about it
    are read too (one notion of read: the delivery report and this page count the same)."""
    if row.read_at is None:
        row.read_at = utcnow()
        inbox_read(row.user_id, announcement_subject(row.announcement_id))


def acknowledge(row: AnnouncementRecipient) -> None:
    """The recipient confirms having read it (once; reading is implied)."""
    if row.acked_at is None:
        row.acked_at = utcnow()
        mark_read(row)


def read_in_inbox(user_id: int, announcement_ids: list[int]) -> None:
    """The recipient opened the inbox items of these announcements (app.notifications read hook):
    the announcements count as opened, the first time."""
    db.session.execute(
        sa.update(AnnouncementRecipient)
        .where(
            AnnouncementRecipient.user_id == user_id,
            AnnouncementRecipient.announcement_id.in_(announcement_ids),
            AnnouncementRecipient.read_at.is_(None),
        )
        .values(read_at=utcnow())
        .execution_options(synchronize_session=False)
    )


def delivery_report_id(a: Announcement) -> int | None:
    """The notification that carried the announcement (its delivery report), if any."""
    return announcement_notification_id(a.id)
