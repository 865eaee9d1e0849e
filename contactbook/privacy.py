"""What the contact book tells the platform's personal-data pages (app.privacy): the children
of a parent whose contact-book data it processes (their own consent counts from age 7), and
their contact-book records for the parent's download (with the words of its readable document,
`READING`)."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.i18n import N_
from app.models import AcademicYear, School, User
from app.privacy import Child, Item, Removal, access_log, section

from . import circulars
from .grades import MARK_LABELS
from .kindergarten import DOMAIN_LABELS, RESULT_LABELS
from .kindergarten_models import DevelopmentEvaluation, GrowthCheck
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
    SchoolClass,
    Subject,
    Term,
)
from .primary_models import PrimaryYearResult, QualityEvaluation, QualityLevel
from .results_models import TermResult

PERIODS = {"1": N_("Term 1"), "2": N_("Term 2"), "year": N_("Whole year")}
LEVELS = {"T": N_("Good"), "K": N_("Fair"), "D": N_("Passed"), "CD": N_("Not passed")}


def _decimal(value) -> str:
    return str(value).replace(".", ",")


QUALITIES_TITLE = N_("Qualities and competences")
PRIMARY_YEAR_TITLE = N_("Year results (Circular 27)")

# The readable document's words for the sections below (app.privacy.register_reading).
READING = {
    "fields": {
        "pupil_code": N_("Pupil code"),
        "date_of_birth": N_("Date of birth"),
        "gender": N_("Gender"),
        "school": N_("School"),
        ("Grades", "kind"): N_("Assessment"),
        ("Grades", "name"): N_("Subject"),  # the key of downloads made before it was "subject"
        "seq": N_("No."),
        "score": N_("Score"),
        "mark": N_("Mark"),
        "published_at": N_("Published on"),
        "body": N_("Text"),
        "on_date": N_("Date"),
        "note": N_("Note"),
        "from_date": N_("From"),
        "to_date": N_("Until"),
        "reason": N_("Reason"),
        "from": N_("Sender"),
        "school_year": N_("School year"),
        "class": N_("Class"),
        "period": N_("Period"),
        "learning": N_("Learning"),
        "conduct": N_("Conduct"),
        "confirmed_at": N_("Confirmed on"),
        "term": N_("Term"),
        "domain": N_("Domain"),
        "result": N_("Result"),
        "comment": N_("Comment"),
        "updated_at": N_("Updated on"),
        "measured_on": N_("Measured on"),
        "height_cm": N_("Height (cm)"),
        "weight_kg": N_("Weight (kg)"),
        "point": N_("Evaluation point"),
        "criterion": N_("Quality or competence"),
        "level": N_("Level reached"),
    },
    "values": {
        "period": PERIODS,
        "term": PERIODS,
        "learning": LEVELS,
        "conduct": LEVELS,
        ("Grades", "kind"): {
            "regular": N_("Regular assessment"),
            "midterm": N_("Mid-term test"),
            "endterm": N_("End-of-term test"),
            "level": N_("Periodic evaluation"),
        },
        ("Comments", "kind"): {"term": N_("Term comment"), "note": N_("Note to the family")},
        ("Attendance", "status"): {
            "present": N_("Present"),
            "excused": N_("Absent, excused"),
            "unexcused": N_("Absent, unexcused"),
            "late": N_("Late"),
        },
        ("Absence requests", "status"): {
            "pending": N_("Waiting for the teacher"),
            "approved": N_("Approved"),
            "declined": N_("Declined"),
        },
    },
    "words": {
        "mark": lambda v: MARK_LABELS.get(v, v),
        "domain": lambda v: DOMAIN_LABELS.get(v, v),
        "result": lambda v: RESULT_LABELS.get(v, v),
        "score": _decimal,
        "height_cm": _decimal,
        "weight_kg": _decimal,
        (QUALITIES_TITLE, "point"): lambda v: circulars.POINTS.get(v, v),
        (QUALITIES_TITLE, "criterion"): lambda v: circulars.CRITERIA.get(v, v),
        (QUALITIES_TITLE, "level"): lambda v: circulars.QC_NAMES.get(v, v),
        (PRIMARY_YEAR_TITLE, "result"): lambda v: circulars.PRIMARY_YEAR_NAMES.get(v, v),
    },
}


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
                N_("Child (contact book)"),
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
            sa.select(
                Subject.name.label("subject"),
                Grade.kind,
                Grade.seq,
                Grade.score,
                Grade.mark,
                Grade.published_at,
            )
            .join(Subject, Subject.id == Grade.subject_id)
            .where(Grade.pupil_id == p.id, Grade.published_at.is_not(None))
            .order_by(Subject.name, Grade.kind, Grade.seq)
        )
        out.append(section(N_("Grades"), [dict(r._mapping) for r in grades], name))
        comments = db.session.execute(
            sa.select(Comment.kind, Comment.body, Comment.created_at)
            .where(Comment.pupil_id == p.id)
            .order_by(Comment.created_at)
        )
        out.append(section(N_("Comments"), [dict(r._mapping) for r in comments], name))
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
        out.append(section(QUALITIES_TITLE, [dict(r._mapping) for r in qualities], name))
        years = db.session.execute(
            sa.select(PrimaryYearResult.result, PrimaryYearResult.reason, PrimaryYearResult.confirmed_at)
            .where(PrimaryYearResult.pupil_id == p.id)
            .order_by(PrimaryYearResult.confirmed_at)
        )
        out.append(section(PRIMARY_YEAR_TITLE, [dict(r._mapping) for r in years], name))
        days = db.session.execute(
            sa.select(Attendance.on_date, Attendance.status, Attendance.note)
            .where(Attendance.pupil_id == p.id)
            .order_by(Attendance.on_date)
        )
        out.append(section(N_("Attendance"), [dict(r._mapping) for r in days], name))
        asks = db.session.execute(
            sa.select(
                AbsenceRequest.from_date, AbsenceRequest.to_date, AbsenceRequest.reason, AbsenceRequest.status
            )
            .where(AbsenceRequest.pupil_id == p.id)
            .order_by(AbsenceRequest.created_at)
        )
        out.append(section(N_("Absence requests"), [dict(r._mapping) for r in asks], name))
        msgs = db.session.execute(
            sa.select(Message.created_at, User.full_name.label("from"), Message.body)
            .join(MessageThread, MessageThread.id == Message.thread_id)
            .outerjoin(User, User.id == Message.sender_id)
            .where(MessageThread.pupil_id == p.id, MessageThread.guardian_id == user.id)
            .order_by(Message.created_at)
        )
        out.append(section(N_("Messages"), [dict(r._mapping) for r in msgs], name))
        out.extend(_results_and_kindergarten(p.id, name))
        classes = db.session.scalars(sa.select(Enrolment.class_id).where(Enrolment.pupil_id == p.id)).all()
        out.append(access_log([("cb_pupil", p.id)] + [("cb_class", c) for c in classes], name))
    return out


def _results_and_kindergarten(pupil_id: int, name: str) -> list[dict]:
    """The confirmed overall results of each term and year, and the kindergarten's development
    evaluations and height and weight checks."""
    results = db.session.execute(
        sa.select(
            AcademicYear.name.label("school_year"),
            SchoolClass.name.label("class"),
            TermResult.period,
            TermResult.learning,
            TermResult.conduct,
            TermResult.confirmed_at,
        )
        .join(SchoolClass, SchoolClass.id == TermResult.class_id)
        .join(AcademicYear, AcademicYear.id == SchoolClass.academic_year_id)
        .where(TermResult.pupil_id == pupil_id)
        .order_by(AcademicYear.starts_on, TermResult.period)
    )
    evaluations = db.session.execute(
        sa.select(
            AcademicYear.name.label("school_year"),
            sa.cast(Term.number, sa.String).label("term"),
            DevelopmentEvaluation.domain,
            DevelopmentEvaluation.result,
            DevelopmentEvaluation.comment,
            DevelopmentEvaluation.updated_at,
        )
        .join(Term, Term.id == DevelopmentEvaluation.term_id)
        .join(AcademicYear, AcademicYear.id == Term.academic_year_id)
        .where(DevelopmentEvaluation.pupil_id == pupil_id)
        .order_by(AcademicYear.starts_on, Term.number, DevelopmentEvaluation.domain)
    )
    growth = db.session.execute(
        sa.select(GrowthCheck.measured_on, GrowthCheck.height_cm, GrowthCheck.weight_kg)
        .where(GrowthCheck.pupil_id == pupil_id)
        .order_by(GrowthCheck.measured_on)
    )
    return [
        section(N_("Term and year results"), [dict(r._mapping) for r in results], name),
        section(N_("Development evaluations (kindergarten)"), [dict(r._mapping) for r in evaluations], name),
        section(N_("Height and weight (kindergarten)"), [dict(r._mapping) for r in growth], name),
    ]


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
        Item(N_("Your links to your children in the contact book"), False, N_("Not required by law."), links),
        Item(N_("Your conversations with teachers"), False, N_("Not required by law."), n_threads),
        Item(
            N_("Absence requests you sent"),
            True,
            N_(
                "Part of the school's attendance record, which the school must keep; your name is removed from them."
            ),
            asks,
        ),
    ]
