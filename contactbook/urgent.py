"""Urgent notices: a storm closure, an incident. School staff send one to their school's families
(all of them, or chosen classes); district officers to their district's schools (one, several or
all). It is an announcement marked urgent, sent as the platform's "emergency" kind: at once, by
every channel the family has (in-app, email, SMS), past quiet hours and daily summaries.

The sender sees the number of families and of SMS before anything is sent (`preview`), then
confirms (`send`): one announcement per school (its read report, its delivery report, its SMS
counted to the school), one audit entry for the whole send. A family with children in two of the
chosen schools gets the notice once. Senders are limited to URGENT_NOTICE_LIMIT_PER_HOUR sends.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from app.audit import audit
from app.authz import scoped_schools_query
from app.extensions import db
from app.models import Role, School, User, utcnow

from .announcements import store_announcement
from .models import Announcement, Enrolment, Guardian, SchoolClass, current_year_id
from .notify import urgent_plan

SENDERS = (Role.SCHOOL_STAFF, Role.DISTRICT_OFFICER)
MAX_TITLE = 120  # the title is the SMS
MAX_TEXT = 1000
DEFAULT_LIMIT_PER_HOUR = 5


class UrgentError(ValueError):
    """A refused send; `code` says why (the view words it)."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


@dataclass
class Audience:
    """Who a notice goes to: per school, the chosen classes (None: every class this year)."""

    classes: dict[int, list[int] | None]


@dataclass
class Preview:
    families: int
    schools: int
    sms: int
    email: int
    recipients: dict[int, list[int]]  # school id -> guardian ids (each family once)


def sender_schools(user: User) -> list[School]:
    """The schools the user may send to: staff their own school, officers their district's."""
    if user.role not in SENDERS:
        return []
    return list(db.session.scalars(scoped_schools_query(user).order_by(School.name, School.id)))


def school_classes(school_id: int) -> list[SchoolClass]:
    return list(
        db.session.scalars(
            sa.select(SchoolClass)
            .where(SchoolClass.school_id == school_id, SchoolClass.academic_year_id == current_year_id())
            .order_by(SchoolClass.grade, SchoolClass.name)
        )
    )


def audience_for(user: User, kind: str, *, school_ids=(), class_ids=()) -> Audience:
    """The audience the form asked for, within the user's scope (anything else is refused):
    kind "school" (staff: the whole school), "classes" (staff: chosen classes of their school),
    "district" (officers: every school of the district), "schools" (officers: chosen schools)."""
    allowed = {s.id for s in sender_schools(user)}
    if not allowed:
        raise UrgentError("scope")
    if user.role == Role.SCHOOL_STAFF and kind == "school":
        return Audience({user.school_id: None})
    if user.role == Role.SCHOOL_STAFF and kind == "classes":
        own = {c.id for c in school_classes(user.school_id)}
        return Audience({user.school_id: _chosen(class_ids, own, "no_classes", "other_class")})
    if user.role == Role.DISTRICT_OFFICER and kind == "district":
        return Audience(dict.fromkeys(sorted(allowed)))
    if user.role == Role.DISTRICT_OFFICER and kind == "schools":
        return Audience(dict.fromkeys(_chosen(school_ids, allowed, "no_schools", "other_school")))
    raise UrgentError("audience")


def _chosen(values, allowed: set[int], none: str, outside: str) -> list[int]:
    """The chosen ids, all of them within `allowed` (else refused: nothing is sent to part of a
    choice)."""
    raw = {str(v).strip() for v in values or ()}
    if not raw:
        raise UrgentError(none)
    if not all(v.isdigit() and int(v) in allowed for v in raw):
        raise UrgentError(outside)
    return sorted(int(v) for v in raw)


def _recipients(audience: Audience) -> dict[int, list[int]]:
    """Active guardians of this year's pupils per school, in one statement; a family with
    children in several of the schools is counted (and told) once, by the first school."""
    whole = [sid for sid, classes in audience.classes.items() if classes is None]
    chosen = [cid for classes in audience.classes.values() if classes for cid in classes]
    conds = []
    if whole:
        conds.append(SchoolClass.school_id.in_(whole))
    if chosen:
        conds.append(SchoolClass.id.in_(chosen))
    rows = db.session.execute(
        sa.select(SchoolClass.school_id, Guardian.user_id)
        .distinct()
        .join(Enrolment, Enrolment.class_id == SchoolClass.id)
        .join(Guardian, Guardian.pupil_id == Enrolment.pupil_id)
        .join(User, User.id == Guardian.user_id)
        .where(sa.or_(*conds), SchoolClass.academic_year_id == current_year_id(), User.active.is_(True))
        .order_by(SchoolClass.school_id, Guardian.user_id)
    )
    out: dict[int, list[int]] = {}
    seen: set[int] = set()
    for school_id, user_id in rows:
        if user_id not in seen:
            seen.add(user_id)
            out.setdefault(school_id, []).append(user_id)
    return out


def preview(audience: Audience) -> Preview:
    """How many families and how many SMS the notice would reach (nothing written)."""
    recipients = _recipients(audience)
    everyone = [uid for ids in recipients.values() for uid in ids]
    plan = urgent_plan(everyone)
    return Preview(plan["recipients"], len(recipients), plan["sms"], plan["email"], recipients)


def sends_in_last_hour(user: User) -> int:
    """Sends (one per confirmation: its announcements share one creation time) in the last hour."""
    since = utcnow() - timedelta(hours=1)
    return (
        db.session.scalar(
            sa.select(sa.func.count(sa.distinct(Announcement.created_at))).where(
                Announcement.author_id == user.id,
                Announcement.urgent.is_(True),
                Announcement.created_at >= since,
            )
        )
        or 0
    )


def limit_per_hour() -> int:
    return int(current_app.config.get("URGENT_NOTICE_LIMIT_PER_HOUR", DEFAULT_LIMIT_PER_HOUR))


def send(
    user: User, audience: Audience, *, title: str, body: str, requires_ack: bool
) -> tuple[list[Announcement], Preview]:
    """Send the confirmed notice: one urgent announcement per school with families, one audit
    entry. Refuses (UrgentError) an empty or oversized text, an audience without families, and a
    sender over the hourly limit — before writing anything."""
    title, body = " ".join((title or "").split()), (body or "").strip()
    if not title or not body:
        raise UrgentError("empty")
    if len(title) > MAX_TITLE or len(body) > MAX_TEXT:
        raise UrgentError("too_long")
    if sends_in_last_hour(user) >= limit_per_hour():
        raise UrgentError("rate")
    p = preview(audience)
    if not p.families:
        raise UrgentError("nobody")
    now = utcnow()
    sent = [
        store_announcement(
            school_id=school_id,
            class_id=classes[0] if classes and len(classes) == 1 else None,
            author=user,
            title=title,
            body=body,
            requires_ack=requires_ack,
            recipients=p.recipients[school_id],
            urgent=True,
            created_at=now,
        )
        for school_id, classes in audience.classes.items()
        if p.recipients.get(school_id)
    ]
    audit(
        "contactbook.urgent_notice",
        sent[0],
        families=p.families,
        sms=p.sms,
        schools=len(sent),
        class_ids=sorted(c for classes in audience.classes.values() if classes for c in classes) or None,
        announcement_ids=[a.id for a in sent],
    )
    return sent, p
