"""What admissions tells the platform's personal-data pages (app.privacy): for the parent's
download, each child registered by the family, their applications and results, and who among
the staff viewed or exported the child's application; for account deletion, that admission
records are kept; for the retention command, their removal once their period is over."""

from __future__ import annotations

from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app

from app.extensions import db
from app.i18n import N_
from app.models import AcademicYear, School, Ward
from app.privacy import Child as PrivacyChild
from app.privacy import Item as PrivacyItem
from app.privacy import Removal, access_log, section

from . import notify
from .models import AdmissionLevel, AdmissionSeason, Application, Child, ParentChild, RosterEntry

# The readable document's words for the sections below (app.privacy.register_reading).
READING = {
    "fields": {
        "residence_type": N_("Residence"),
        "ward": N_("Ward"),
        "registered_at": N_("Registered on"),
        "reference": N_("Reference"),
        "submitted_at": N_("Submitted on"),
        "allocated_school": N_("School allocated"),
        "offered_at": N_("Offered on"),
        "confirmed_at": N_("Confirmed on"),
        "declined_at": N_("Declined on"),
    },
    "values": {"residence_type": {"permanent": N_("Permanent"), "temporary": N_("Temporary")}},
    "words": {("Applications and results", "status"): lambda v: notify.status_labels().get(v, v)},
}


def sections(user) -> list[dict]:
    out = []
    kids = db.session.scalars(
        sa.select(Child)
        .join(ParentChild, ParentChild.child_id == Child.id)
        .where(ParentChild.user_id == user.id)
    ).all()
    for c in kids:
        name = c.full_name
        out.append(
            section(
                N_("Child (admissions)"),
                [
                    {
                        "full_name": name,
                        "date_of_birth": c.date_of_birth,
                        "gender": c.gender,
                        "residence_type": c.residence_type,
                        "ward": c.ward.name,
                        "registered_at": c.created_at,
                    }
                ],
                name,
            )
        )
        allocated = sa.orm.aliased(School)
        apps = db.session.execute(
            sa.select(
                Application.id,
                Application.reference,
                Application.status,
                Application.submitted_at,
                Application.withdrawn_at,
                allocated.name.label("allocated_school"),
                Application.offered_at,
                Application.confirmed_at,
                Application.declined_at,
            )
            .outerjoin(allocated, allocated.id == Application.allocated_school_id)
            .where(Application.child_id == c.id)
            .order_by(Application.submitted_at)
        ).all()
        rows = [{k: v for k, v in r._mapping.items() if k != "id"} for r in apps]
        out.append(section(N_("Applications and results"), rows, name))
        out.append(access_log([("child", c.id)] + [("application", r.id) for r in apps], name))
    return out


def children(user) -> list[PrivacyChild]:
    """The family's children as admissions holds them (from the residency roster): a correction
    of their roster facts goes to the office of the district of their ward."""
    q = (
        sa.select(Child.id, Child.full_name, Child.date_of_birth, Ward.district_id)
        .join(ParentChild, ParentChild.child_id == Child.id)
        .join(Ward, Ward.id == Child.ward_id)
        .where(ParentChild.user_id == user.id)
        .order_by(Child.full_name, Child.id)
    )
    return [
        PrivacyChild(f"child:{cid}", name, born, "admissions", district)
        for cid, name, born, district in db.session.execute(q)
    ]


def erase(user, execute: bool) -> list[PrivacyItem]:
    """Admission records are kept for their retention period (they prove who was admitted where);
    nothing of admissions is removed with the account."""
    n = (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Application)
            .join(ParentChild, ParentChild.child_id == Application.child_id)
            .where(ParentChild.user_id == user.id)
        )
        or 0
    )
    years = int(current_app.config["PRIVACY_ADMISSION_RECORD_YEARS"])
    return [
        PrivacyItem(
            N_("Your children's admission records (children, applications and results)"),
            True,
            N_("Required by law: admission records are kept for %(years)d years."),
            n,
            years,
        )
    ]


def years_before(when: datetime, years: int) -> date:
    """The same day `years` earlier (28 February for a 29th with no twin)."""
    day = when.date()
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def retention(now: datetime, dry_run: bool) -> list[Removal]:
    """Admission records are kept PRIVACY_ADMISSION_RECORD_YEARS years from the start of the
    school year they were for; then the child goes with its applications, choices, results,
    council checks and links to parent accounts (the database cascades them), and so do the
    residency roster's entries imported before then that no child is registered from. A round's
    published summary (counts per school) stays: it names nobody."""
    years = int(current_app.config["PRIVACY_ADMISSION_RECORD_YEARS"])
    cutoff = years_before(now, years)
    recent = (
        sa.select(Application.id)
        .join(AdmissionLevel, AdmissionLevel.id == Application.admission_level_id)
        .join(AdmissionSeason, AdmissionSeason.id == AdmissionLevel.season_id)
        .join(AcademicYear, AcademicYear.id == AdmissionSeason.academic_year_id)
        .where(Application.child_id == Child.id, AcademicYear.starts_on >= cutoff)
    )
    old_children = sa.select(Child.id).where(
        Child.created_at < datetime.combine(cutoff, datetime.min.time()), ~recent.exists()
    )
    child_ids = db.session.scalars(old_children).all()
    n_apps = (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Application).where(Application.child_id.in_(child_ids))
        )
        if child_ids
        else 0
    )
    roster_ids = sa.select(Child.roster_entry_id).where(Child.id.not_in(child_ids))
    old_roster = sa.and_(
        RosterEntry.imported_at < datetime.combine(cutoff, datetime.min.time()),
        RosterEntry.id.not_in(roster_ids),
    )
    n_roster = db.session.scalar(sa.select(sa.func.count()).select_from(RosterEntry).where(old_roster)) or 0
    if not dry_run:
        for i in range(0, len(child_ids), 500):
            db.session.execute(sa.delete(Child).where(Child.id.in_(child_ids[i : i + 500])))
        if n_roster:
            db.session.execute(sa.delete(RosterEntry).where(old_roster))
    why = f"for school years that started more than {years} years ago (PRIVACY_ADMISSION_RECORD_YEARS)"
    return [
        Removal("admission records: children", len(child_ids), why),
        Removal("admission records: applications and their results", n_apps, why),
        Removal(
            "residency roster entries", n_roster, f"imported more than {years} years ago, no child registered"
        ),
    ]
