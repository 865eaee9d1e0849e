"""Over-demand: the education office places the children a round left without a seat.

The office assigns seats only at schools nobody still in the season has a claim to
(`claimed_schools`), nearest to the child's home first; docs/allocation.md ("Rounds in the app")
explains why that keeps the whole matching stable.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa

from app.audit import audit
from app.extensions import db
from app.models import School, User, Ward

from .allocation import nearest
from .applications import PLACED, in_district
from .eligibility import district_schools
from .models import AdmissionLevel, Application, ApplicationChoice, ApplicationStatus, Child
from .offers import notify_later
from .rounds import latest_official
from .rules import RoundError
from .seasons import now

S = ApplicationStatus
OFFICE_DEADLINE_DAYS = 7  # answer-by time of an office assignment when no later deadline is set


def seats_left(level: AdmissionLevel, district_id: int) -> dict[int, int]:
    """Seats left per school of the level in the district: capacity minus offers and confirmations."""
    taken = dict(
        db.session.execute(
            sa.select(Application.allocated_school_id, sa.func.count())
            .where(
                Application.admission_level_id == level.id,
                Application.status.in_([str(s) for s in PLACED]),
                Application.allocated_school_id.is_not(None),
            )
            .group_by(Application.allocated_school_id)
        ).all()
    )
    return {s.id: s.capacity - taken.get(s.id, 0) for s in district_schools(level, district_id)}


def claimed_schools(level: AdmissionLevel, district_id: int) -> set[int]:
    """Schools that some child still in the season ranked above her current seat (or that a waiting
    child listed). A seat freed there belongs to the next round, not to an office assignment: giving it
    away by hand would pass over a child with a claim to it (and break stability)."""
    c, a = ApplicationChoice, Application
    q = (
        sa.select(c.school_id)
        .distinct()
        .join(a, a.id == c.application_id)
        .where(
            a.admission_level_id == level.id,
            in_district(district_id),
            sa.or_(
                a.status == S.UNPLACED,
                sa.and_(
                    a.status.in_([str(x) for x in PLACED]),
                    a.allocated_school_id != c.school_id,
                    sa.or_(a.allocated_rank.is_(None), c.rank < a.allocated_rank),
                ),
            ),
        )
    )
    return set(db.session.scalars(q))


@dataclass
class PlacementRow:
    application: Application
    child_name: str
    ward_name: str
    catchment_name: str | None
    choices: list[str]
    suggestions: list[tuple[School, float | None, int]]


@dataclass
class PlacementPage:
    rows: list[PlacementRow]
    page: int
    per_page: int
    total: int
    schools: list[School]
    left: dict[int, int]
    kept_for_next_round: int = 0  # free seats at claimed schools

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total


def _origin(
    app_: Application,
    child: Child,
    coords: dict[int, tuple],
    ward_points: dict[int, tuple],
    first_choice: int | None,
) -> tuple[float, float] | None:
    for sid in (app_.catchment_school_id, first_choice):
        if sid in coords and None not in coords[sid]:
            return coords[sid]
    return ward_points.get(child.ward_id)


def placement_rows(
    level: AdmissionLevel, district_id: int, page: int = 1, per_page: int = 50
) -> PlacementPage:
    """Unplaced children of the level in the district with the nearest schools that have seats.

    Nearest to her catchment school (else her 1st choice, else the schools of her ward) by
    great-circle distance; her catchment school first when it has a seat. Bounded queries.
    """
    base = (
        sa.select(Application)
        .join(Child, Child.id == Application.child_id)
        .join(Ward, Ward.id == Child.ward_id)
        .where(
            Application.admission_level_id == level.id,
            Ward.district_id == district_id,
            Application.status == S.UNPLACED,
        )
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(base.subquery())) or 0
    rows = db.session.execute(
        base.add_columns(Child, Ward.name)
        .order_by(Child.full_name, Application.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    schools = district_schools(level, district_id)
    left = seats_left(level, district_id)
    claimed = claimed_schools(level, district_id)
    kept = sum(max(left.get(s, 0), 0) for s in claimed)
    coords = {s.id: (s.latitude, s.longitude) for s in schools}
    by_id = {s.id: s for s in schools}
    ward_ids = {child.ward_id for _a, child, _w in rows}
    ward_points: dict[int, tuple] = {}
    if ward_ids:
        pts = defaultdict(list)
        for wid, lat, lon in db.session.execute(
            sa.select(School.ward_id, School.latitude, School.longitude).where(
                School.ward_id.in_(ward_ids), School.latitude.is_not(None), School.longitude.is_not(None)
            )
        ):
            pts[wid].append((lat, lon))
        ward_points = {
            w: (sum(p[0] for p in v) / len(v), sum(p[1] for p in v) / len(v)) for w, v in pts.items()
        }
    app_ids = [a.id for a, _c, _w in rows]
    choices: dict[int, list[int]] = defaultdict(list)
    if app_ids:
        for aid, sid in db.session.execute(
            sa.select(ApplicationChoice.application_id, ApplicationChoice.school_id)
            .where(ApplicationChoice.application_id.in_(app_ids))
            .order_by(ApplicationChoice.application_id, ApplicationChoice.rank)
        ):
            choices[aid].append(sid)
    out = []
    candidates = [(s.id, s.latitude, s.longitude, left.get(s.id, 0)) for s in schools if s.id not in claimed]
    for app_, child, ward_name in rows:
        listed = choices.get(app_.id, [])
        origin = _origin(app_, child, coords, ward_points, listed[0] if listed else None)
        near = nearest(origin, candidates, first=app_.catchment_school_id)
        out.append(
            PlacementRow(
                app_,
                child.full_name,
                ward_name,
                by_id[app_.catchment_school_id].name if app_.catchment_school_id in by_id else None,
                [by_id[s].name for s in listed if s in by_id],
                [(by_id[sid], km, n) for sid, km, n in near],
            )
        )
    return PlacementPage(out, page, per_page, total, schools, left, kept)


def assign_seat(
    app_: Application, school: School, actor: User, district_id: int, deadline: datetime | None = None
) -> Application:
    """The office gives an unplaced child a seat at a school with seats left (audited, family told)."""
    level = app_.admission_level
    if app_.status != S.UNPLACED:
        raise RoundError("not_unplaced")
    if school.level != level.level or school.district_id != district_id:
        raise RoundError("unknown_school")
    # Serialise assignments to one school (two officers, one last seat).
    db.session.execute(sa.select(School.id).where(School.id == school.id).with_for_update())
    if seats_left(level, district_id).get(school.id, 0) <= 0:
        raise RoundError("school_full")
    if school.id in claimed_schools(level, district_id):
        raise RoundError("school_claimed")
    at = now()
    if deadline is None:
        latest = latest_official(level.id, district_id)
        deadline = latest.confirm_by if latest is not None and latest.confirm_by else None
        floor = at + timedelta(days=OFFICE_DEADLINE_DAYS)
        deadline = max(deadline, floor) if deadline else floor
    listed = [c.school_id for c in app_.choices]
    app_.status = S.OFFERED
    app_.allocated_school_id = school.id
    app_.allocated_rank = listed.index(school.id) + 1 if school.id in listed else None
    app_.allocated_at = app_.offered_at = app_.updated_at = at
    app_.offer_deadline = deadline
    app_.assigned_by_id = actor.id
    db.session.flush()
    audit("admissions.placement.assign", app_, actor_id=actor.id, school_id=school.id, level_id=level.id)
    notify_later("assigned", None, [app_.id])
    return app_
