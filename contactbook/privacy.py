"""What the contact book tells the platform's personal-data pages (app.privacy): the children
of a parent whose contact-book data it processes (their own consent counts from age 7), and
their contact-book records for the parent's download."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.models import School, User
from app.privacy import Child, Item, Removal, access_log, section

from .models import (
    AbsenceRequest,
    ActivationCode,
    Attendance,
    Comment,
    Enrolment,
    Grade,
    Guardian,
    Message,
    MessageThread,
    Pupil,
    Subject,
)
from .primary_models import PrimaryYearResult, QualityEvaluation, QualityLevel


def children(user) -> list[Child]:
    q = (
        sa.select(Pupil.id, Pupil.full_name, Pupil.date_of_birth, School.district_id)
        .join(Guardian, Guardian.pupil_id == Pupil.id)
        .join(School, School.id == Pupil.school_id)
        .where(Guardian.user_id == user.id)
        .order_by(Pupil.full_name, Pupil.id)
    )
    return [
        Child(f"cb_pupil:{pid}", name, born, "contact_book", district)
        for pid, name, born, district in db.session.execute(q)
    ]


def sections(user) -> list[dict]:
    """For the parent's download: per child, the contact book's grades (published), comments,
    qualities and competences and year results (primary), attendance, absence requests, messages,
    and who among the staff viewed the child's class."""
    out = []
    kids = db.session.execute(
        sa.select(Pupil).join(Guardian, Guardian.pupil_id == Pupil.id).where(Guardian.user_id == user.id)
    ).scalars()
    for p in kids:
        name = p.full_name
        out.append(
            section(
                "Child (contact book)",
                [
                    {
                        "pupil_code": p.pupil_code,
                        "full_name": name,
                        "date_of_birth": p.date_of_birth,
                        "gender": p.gender,
                        "school": p.school.name,
                    }
                ],
                name,
            )
        )
        grades = db.session.execute(
            sa.select(Subject.name, Grade.kind, Grade.seq, Grade.score, Grade.mark, Grade.published_at)
            .join(Subject, Subject.id == Grade.subject_id)
            .where(Grade.pupil_id == p.id, Grade.published_at.is_not(None))
            .order_by(Subject.name, Grade.kind, Grade.seq)
        )
        out.append(section("Grades", [dict(r._mapping) for r in grades], name))
        comments = db.session.execute(
            sa.select(Comment.kind, Comment.body, Comment.created_at)
            .where(Comment.pupil_id == p.id)
            .order_by(Comment.created_at)
        )
        out.append(section("Comments", [dict(r._mapping) for r in comments], name))
        qualities = db.session.execute(
            sa.select(
                QualityEvaluation.point,
                QualityLevel.criterion,
                QualityLevel.level,
                QualityEvaluation.comment,
                QualityEvaluation.updated_at,
            )
            .outerjoin(QualityLevel, QualityLevel.evaluation_id == QualityEvaluation.id)
            .where(QualityEvaluation.pupil_id == p.id)
            .order_by(QualityEvaluation.updated_at, QualityEvaluation.point, QualityLevel.criterion)
        )
        out.append(section("Qualities and competences", [dict(r._mapping) for r in qualities], name))
        years = db.session.execute(
            sa.select(PrimaryYearResult.result, PrimaryYearResult.reason, PrimaryYearResult.confirmed_at)
            .where(PrimaryYearResult.pupil_id == p.id)
            .order_by(PrimaryYearResult.confirmed_at)
        )
        out.append(section("Year results (Circular 27)", [dict(r._mapping) for r in years], name))
        days = db.session.execute(
            sa.select(Attendance.on_date, Attendance.status, Attendance.note)
            .where(Attendance.pupil_id == p.id)
            .order_by(Attendance.on_date)
        )
        out.append(section("Attendance", [dict(r._mapping) for r in days], name))
        asks = db.session.execute(
            sa.select(
                AbsenceRequest.from_date, AbsenceRequest.to_date, AbsenceRequest.reason, AbsenceRequest.status
            )
            .where(AbsenceRequest.pupil_id == p.id)
            .order_by(AbsenceRequest.created_at)
        )
        out.append(section("Absence requests", [dict(r._mapping) for r in asks], name))
        msgs = db.session.execute(
            sa.select(Message.created_at, User.full_name.label("from"), Message.body)
            .join(MessageThread, MessageThread.id == Message.thread_id)
            .outerjoin(User, User.id == Message.sender_id)
            .where(MessageThread.pupil_id == p.id, MessageThread.guardian_id == user.id)
            .order_by(Message.created_at)
        )
        out.append(section("Messages", [dict(r._mapping) for r in msgs], name))
        classes = db.session.scalars(sa.select(Enrolment.class_id).where(Enrolment.pupil_id == p.id)).all()
        out.append(access_log([("cb_pupil", p.id)] + [("cb_class", c) for c in classes], name))
    return out


def retention(now, dry_run: bool) -> list[Removal]:
    """Activation codes expired or used more than PRIVACY_CODE_DAYS ago (the account is active
    or the school prints a new code)."""
    cutoff = now - timedelta(days=int(current_app.config["PRIVACY_CODE_DAYS"]))
    old = sa.or_(ActivationCode.expires_at < cutoff, ActivationCode.used_at < cutoff)
    count = db.session.scalar(sa.select(sa.func.count()).select_from(ActivationCode).where(old)) or 0
    if count and not dry_run:
        db.session.execute(sa.delete(ActivationCode).where(old))
    return [Removal("contact-book activation codes", count, "expired or used long ago")]


def erase(user, execute: bool) -> list[Item]:
    """The guardian's links to pupils and her conversations with teachers go; absence requests
    stay with the school's attendance record (without her name: requested_by is set to none)."""
    links = (
        db.session.scalar(sa.select(sa.func.count()).select_from(Guardian).where(Guardian.user_id == user.id))
        or 0
    )
    threads = sa.select(MessageThread.id).where(MessageThread.guardian_id == user.id)
    n_threads = db.session.scalar(sa.select(sa.func.count()).select_from(threads.subquery())) or 0
    asks = (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AbsenceRequest)
            .where(AbsenceRequest.requested_by_id == user.id)
        )
        or 0
    )
    if execute:
        db.session.execute(sa.delete(MessageThread).where(MessageThread.guardian_id == user.id))
        db.session.execute(sa.delete(Guardian).where(Guardian.user_id == user.id))
        db.session.execute(
            sa.update(AbsenceRequest)
            .where(AbsenceRequest.requested_by_id == user.id)
            .values(requested_by_id=None)
        )
    return [
        Item("Your links to your children in the contact book", False, "Not required by law.", links),
        Item("Your conversations with teachers", False, "Not required by law.", n_threads),
        Item(
            "Absence requests you sent",
            True,
            "Part of the school's attendance record, which the school must keep; your name is removed from them.",
            asks,
        ),
    ]
