"""Loading records for the area's pages: a missing or out-of-scope record is a 404 (never say
that it exists). Every view loads what its URL names through one of these.

Scope: seasons are city-wide (city administrators); a district's pages are for its officers and
city administrators; a school's for its staff and the officers above it; a child, her
applications and receipts for her own guardians; an application's documents for the council of
the school it is placed at (before any placement, its 1st choice) and the officers above it.
"""

from __future__ import annotations

import functools

import sqlalchemy as sa
from flask import abort
from flask_login import current_user
from sqlalchemy.orm import joinedload

from app.authz import can_manage_district, can_manage_school, school_or_404
from app.extensions import db
from app.imports import kinds_of
from app.models import District, ImportJob, Role, School, Ward

from .models import (
    AdmissionLevel,
    AdmissionSeason,
    AllocationRound,
    Application,
    ApplicationChoice,
    ApplicationStatus,
    Child,
    LevelState,
    ParentChild,
)

# Withdrawn, declined and expired applications leave every council's queue.
OUT_OF_QUEUE = (ApplicationStatus.WITHDRAWN, ApplicationStatus.DECLINED, ApplicationStatus.EXPIRED)


def _found(obj):
    if obj is None:
        abort(404)
    return obj


# ---- the office ---------------------------------------------------------------------------------


def level_or_404(level_id: int) -> AdmissionLevel:
    return _found(db.session.get(AdmissionLevel, level_id))


def season_or_404(season_id: int) -> AdmissionSeason:
    return _found(db.session.get(AdmissionSeason, season_id))


def district_or_404(district_id: int) -> District:
    """A district the current user may manage."""
    district = db.session.get(District, district_id)
    if district is None or not can_manage_district(current_user, district.id):
        abort(404)
    return district


def districts_of_user() -> list[District]:
    """The districts the current officer works on (every district for a city administrator)."""
    q = sa.select(District).order_by(District.name)
    if current_user.role != Role.CITY_ADMIN:
        q = q.where(District.id == current_user.district_id)
    return list(db.session.scalars(q))


def level_school_or_404(school_id: int, level: AdmissionLevel) -> School:
    """A school of `level` that the current user may manage."""
    school = school_or_404(school_id)
    if school.level != level.level:
        abort(404)
    return school


def round_or_404(round_id: int) -> AllocationRound:
    """An allocation round of a district the current user may manage."""
    rnd = db.session.get(AllocationRound, round_id)
    if rnd is None or not can_manage_district(current_user, rnd.district_id):
        abort(404)
    return rnd


def what_if_or_404(round_id: int) -> AllocationRound:
    """A what-if run (a round compared with its base round) of a district the user may manage."""
    rnd = round_or_404(round_id)
    if rnd.base_round_id is None:
        abort(404)
    return rnd


def round_school_or_404(rnd: AllocationRound, school_id: int) -> School:
    """A school the round allocated (its district's, of its level)."""
    school = db.session.get(School, school_id)
    if school is None or school.district_id != rnd.district_id or school.level != rnd.admission_level.level:
        abort(404)
    return school


def unplaced_or_404(application_id: int, level: AdmissionLevel, district_id: int) -> Application:
    """An application of the level by a child living in the district (the placement page's)."""
    return _found(
        db.session.scalar(
            sa.select(Application).where(
                Application.id == application_id,
                Application.admission_level_id == level.id,
                Application.child_id.in_(
                    sa.select(Child.id)
                    .join(Ward, Ward.id == Child.ward_id)
                    .where(Ward.district_id == district_id)
                ),
            )
        )
    )


# ---- the public ---------------------------------------------------------------------------------


def public_level_or_404(level_id: int) -> AdmissionLevel:
    """A level the office has published (draft levels are still being set up: not public yet)."""
    level = db.session.get(AdmissionLevel, level_id)
    if level is None or level.state == LevelState.DRAFT:
        abort(404)
    return level


def public_district_or_404(district_id: int) -> District:
    return _found(db.session.get(District, district_id))


def public_round_or_404(round_id: int, *, published: bool = False) -> AllocationRound:
    """An official round (what-if runs are the office's); `published`: its files are out."""
    rnd = db.session.get(AllocationRound, round_id)
    if rnd is None or not rnd.is_official or (published and not rnd.is_published):
        abort(404)
    return rnd


# ---- families -----------------------------------------------------------------------------------


def child_among_or_404(children: list[Child], child_id: int) -> Child:
    """A child of the current parent, picked from her children as `family.children_of`
    loaded them for the page (one statement for both): 404 for any other id."""
    return _found(next((c for c in children if c.id == child_id), None))


def own_application_or_404(application_id: int) -> Application:
    """An application of one of the current parent's children."""
    return _found(
        db.session.scalars(_own_application(), {"user_id": current_user.id, "application_id": application_id})
        .unique()
        .first()
    )


@functools.cache
def _own_application() -> sa.Select:
    """Built once (every receipt asks)."""
    return (
        sa.select(Application)
        .join(ParentChild, ParentChild.child_id == Application.child_id)
        .where(
            ParentChild.user_id == sa.bindparam("user_id"),
            Application.id == sa.bindparam("application_id"),
        )
        .options(
            # what the receipt shows, in the same statement: the child's address, the season,
            # the choices and their schools
            joinedload(Application.child).options(
                joinedload(Child.ward), joinedload(Child.residential_group)
            ),
            joinedload(Application.admission_level)
            .joinedload(AdmissionLevel.season)
            .joinedload(AdmissionSeason.academic_year),
            joinedload(Application.choices).joinedload(ApplicationChoice.school),
        )
    )


# ---- the school's admission council --------------------------------------------------------------


def council_school_id(app_: Application) -> int | None:
    """The school whose council checks the application: where it is placed, else its 1st choice."""
    if app_.allocated_school_id is not None:
        return app_.allocated_school_id
    return db.session.scalar(
        sa.select(ApplicationChoice.school_id).where(
            ApplicationChoice.application_id == app_.id, ApplicationChoice.rank == 1
        )
    )


def reviewable_or_404(application_id: int) -> tuple[Application, School]:
    """The application and its council's school, when the current user may review it."""
    app_ = db.session.get(Application, application_id)
    if app_ is None or app_.status in OUT_OF_QUEUE:
        abort(404)
    sid = council_school_id(app_)
    school = db.session.get(School, sid) if sid is not None else None
    if school is None or not can_manage_school(current_user, school):
        abort(404)
    return app_, school


def council_schools(district_id: int | None) -> tuple[list[District], int | None, list[School]]:
    """The council index's choices: (districts to pick from, the district shown, its schools).

    School staff see their own school; a district officer the schools of their district; a city
    administrator picks a district (an unknown or hostile value shows no list)."""
    if current_user.role == Role.SCHOOL_STAFF:
        return [], None, [current_user.school] if current_user.school else []
    districts = []
    if current_user.role == Role.DISTRICT_OFFICER:
        district_id = current_user.district_id
    else:
        districts = list(db.session.scalars(sa.select(District).order_by(District.name)))
        if district_id not in {d.id for d in districts}:
            district_id = None
    schools = []
    if district_id:
        schools = list(
            db.session.scalars(
                sa.select(School).where(School.district_id == district_id).order_by(School.level, School.name)
            )
        )
    return districts, district_id, schools


# ---- Excel imports --------------------------------------------------------------------------------


def import_scope() -> int | None:
    """The district an importer is limited to (None: the whole city, a city administrator)."""
    if current_user.role == Role.CITY_ADMIN:
        return None
    if current_user.district_id is None:
        abort(403)
    return current_user.district_id


def visible_import_jobs() -> sa.Select:
    q = sa.select(ImportJob).where(ImportJob.kind.in_(kinds_of("admissions")))
    district = import_scope()
    if district is not None:
        q = q.where(ImportJob.district_id == district)
    return q


def import_job_or_404(job_id: int) -> ImportJob:
    return _found(db.session.scalar(visible_import_jobs().where(ImportJob.id == job_id)))
