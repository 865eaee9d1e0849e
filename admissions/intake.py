"""The children whose enrolment was confirmed, as the schools receive them: the contact book's
incoming pupils (offered through app.incoming, registered in register(app)) and the pupil code
and guardian phone of the admitted-children export.

The pupil code is the child's personal ID (the roster's, the population registry's number).
The guardians are the parent accounts that added the child and proved their phone; the guardian
phone is the first such account's number, else the roster's guardian phone."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

import sqlalchemy as sa

from app.extensions import db
from app.incoming import IncomingChild
from app.models import Role, User

from .models import (
    AdmissionLevel,
    AdmissionSeason,
    Application,
    ApplicationStatus,
    Child,
    ParentChild,
    RosterEntry,
)

CHUNK = 500


def verified_guardians(child_ids: Iterable[int]) -> dict[int, list[User]]:
    """child id → the parent accounts with a proven phone that added the child (oldest first)."""
    ids = sorted(set(child_ids))
    found: dict[int, list[User]] = defaultdict(list)
    for i in range(0, len(ids), CHUNK):
        rows = db.session.execute(
            sa.select(ParentChild.child_id, User)
            .join(User, User.id == ParentChild.user_id)
            .where(
                ParentChild.child_id.in_(ids[i : i + CHUNK]),
                User.role == Role.PARENT,
                User.phone.is_not(None),
                User.phone_verified_at.is_not(None),
            )
            .order_by(ParentChild.child_id, ParentChild.id)
        )
        for child_id, user in rows:
            found[child_id].append(user)
    return found


def codes_and_phones(child_ids: Iterable[int]) -> dict[int, tuple[str, str]]:
    """child id → (pupil code, guardian phone) for the admitted-children export (two queries)."""
    ids = sorted(set(child_ids))
    guardians = verified_guardians(ids)
    out: dict[int, tuple[str, str]] = {}
    for i in range(0, len(ids), CHUNK):
        rows = db.session.execute(
            sa.select(Child.id, RosterEntry.personal_id, RosterEntry.guardian_phone)
            .join(RosterEntry, RosterEntry.id == Child.roster_entry_id)
            .where(Child.id.in_(ids[i : i + CHUNK]))
        )
        for child_id, personal_id, roster_phone in rows:
            accounts = guardians.get(child_id)
            out[child_id] = (personal_id, accounts[0].phone if accounts else (roster_phone or ""))
    return out


def confirmed_children(school_id: int, academic_year_id: int) -> list[IncomingChild]:
    """The children confirmed at the school in the season of that academic year (trial
    applications excluded), for the contact book (app.incoming)."""
    rows = db.session.execute(
        sa.select(Application.id, AdmissionLevel.level, Child, RosterEntry.personal_id)
        .join(AdmissionLevel, AdmissionLevel.id == Application.admission_level_id)
        .join(AdmissionSeason, AdmissionSeason.id == AdmissionLevel.season_id)
        .join(Child, Child.id == Application.child_id)
        .join(RosterEntry, RosterEntry.id == Child.roster_entry_id)
        .where(
            Application.allocated_school_id == school_id,
            Application.status == ApplicationStatus.CONFIRMED,
            Application.is_trial.is_(False),
            AdmissionSeason.academic_year_id == academic_year_id,
        )
    ).all()
    guardians = verified_guardians(child.id for _, _, child, _ in rows)
    return [
        IncomingChild(
            key=f"admissions:{app_id}",
            school_id=school_id,
            academic_year_id=academic_year_id,
            level=level,
            full_name=child.full_name,
            date_of_birth=child.date_of_birth,
            gender=child.gender,
            pupil_code=personal_id,
            guardian_ids=tuple(u.id for u in guardians.get(child.id, [])),
            guardian_phone=guardians[child.id][0].phone if guardians.get(child.id) else None,
        )
        for app_id, level, child, personal_id in rows
    ]
