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
from app.paging import keyset_paginate

from . import counters
from .allocation import nearest
from .applications import PLACED, in_district
from .counter_models import AdmissionCounter
from .eligibility import district_schools
from .models import AdmissionLevel, Application, ApplicationChoice, ApplicationStatus, Child
from .offers import notify_later
from .rounds import latest_official
from .rules import RoundError
from .seasons import now

S = ApplicationStatus
OFFICE_DEADLINE_DAYS = 7  # answer-by time of an office assignment when no later deadline is set


def level_schools(level: AdmissionLevel) -> list[School]:
    """Every school of the level in the city, by code (the nearest school may be across a border)."""
    return list(
        db.session.scalars(sa.select(School).where(School.level == level.level).order_by(School.code))
    )


def seats_left(level: AdmissionLevel, district_id: int | None) -> dict[int, int]:
    """Seats left per school of the level in the district (None: the whole city): capacity minus
    offers and confirmations."""
    t = AdmissionCounter  # the counters (admissions/counters.py): a row per school and status
    taken = dict(
        db.session.execute(
            sa.select(t.scope_id, sa.func.sum(t.placed))
            .where(
                t.admission_level_id == level.id, t.scope == "school", t.status.in_([str(s) for s in PLACED])
            )
            .group_by(t.scope_id)
        ).all()
    )
    schools = level_schools(level) if district_id is None else district_schools(level, district_id)
    return {s.id: s.capacity - taken.get(s.id, 0) for s in schools}


def claimed_schools(level: AdmissionLevel, district_id: int | None) -> set[int]:
    """Schools that some child still in the season ranked above her current seat (or that a waiting
    child listed, or a child whose district's round has not run yet). A seat freed there belongs to
    the next round, not to an office assignment: giving it away by hand would pass over a child with
    a claim to it (and break stability). `district_id` None: claims from the whole city, read from
    the counters (a few hundred rows)."""
    if district_id is None:
        t = AdmissionCounter
        waiting = sa.and_(
            t.status.in_([str(S.UNPLACED), str(S.SUBMITTED), str(S.ALLOCATED)]), t.any_choice > 0
        )
        above = sa.and_(t.status.in_([str(x) for x in PLACED]), t.claims > 0)
        return set(
            db.session.scalars(
                sa.select(t.scope_id)
                .distinct()
                .where(t.admission_level_id == level.id, t.scope == "school", sa.or_(waiting, above))
            )
        )
    c, a = ApplicationChoice, Application
    q = (
        sa.select(c.school_id)
        .distinct()
        .join(a, a.id == c.application_id)
        .where(
            a.admission_level_id == level.id,
            in_district(district_id) if district_id is not None else sa.true(),
            sa.or_(
                a.status.in_([str(S.UNPLACED), str(S.SUBMITTED), str(S.ALLOCATED)]),
                sa.and_(
                    a.status.in_([str(x) for x in PLACED]),
                    a.allocated_school_id != c.school_id,
                    sa.or_(a.allocated_rank.is_(None), c.rank < a.allocated_rank),
                ),
            ),
        )
    )
    return set(db.session.scalars(q))


def without_seat_clause(at: datetime):
    """WHERE clause on Application: the child has no seat (never placed, declined, expired, or an
    offer past its answer-by time not recorded as expired yet)."""
    return sa.or_(
        Application.status.in_([str(S.UNPLACED), str(S.DECLINED), str(S.EXPIRED)]),
        sa.and_(
            Application.status == S.OFFERED,
            Application.offer_deadline.is_not(None),
            Application.offer_deadline <= at,
        ),
    )


def office_offer_clause(at: datetime):
    """WHERE clause on Application: a seat the office offered that the family has not answered yet
    (the office may still move it)."""
    return sa.and_(
        Application.status == S.OFFERED,
        Application.assigned_by_id.is_not(None),
        sa.or_(Application.offer_deadline.is_(None), Application.offer_deadline > at),
    )


def may_assign(app_: Application, at: datetime) -> bool:
    """The office may give this child a seat (she has none) or move the seat it offered her."""
    if app_.status in (S.UNPLACED, S.DECLINED, S.EXPIRED):
        return True
    if app_.status == S.OFFERED:
        past = app_.offer_deadline is not None and app_.offer_deadline <= at
        return past or app_.assigned_by_id is not None
    return False


@dataclass
class PlacementRow:
    application: Application
    child_name: str
    ward_name: str
    catchment_name: str | None
    choices: list[str]
    suggestions: list[tuple[School, float | None, int]]
    standing: str = "unplaced"  # unplaced | declined | expired | office_offer


@dataclass
class PlacementPage:
    rows: list[PlacementRow]
    page: int
    per_page: int
    total: int
    schools: list[School]
    left: dict[int, int]
    kept_for_next_round: int = 0  # free seats at claimed schools
    without_seat: int = 0  # of `total`: children with no seat; the others hold an office offer
    has_next: bool = False
    has_prev: bool = False
    first_id: int | None = None  # application ids for the previous / next links (keyset paging)
    last_id: int | None = None


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


def _standing(app_: Application, at: datetime) -> str:
    if app_.status == S.OFFERED:
        past = app_.offer_deadline is not None and app_.offer_deadline <= at
        return "expired" if past else "office_offer"
    return str(app_.status)


def placement_rows(
    level: AdmissionLevel,
    district_id: int,
    page: int = 1,
    per_page: int = 50,
    *,
    after: int | None = None,
    before: int | None = None,
) -> PlacementPage:
    """Every child of the level in the district without a seat (never placed, declined, expired),
    then the seats the office offered and the family has not answered yet, with the nearest
    schools that have seats, in any district of the city.

    Nearest to her catchment school (else her 1st choice, else the schools of her ward) by
    great-circle distance; her catchment school first when it has a seat. Bounded queries.

    One keyset page after (or before) the application `after` (`before`), app.paging: the few
    children without a seat are found through the status / answer-by and office-offer indexes,
    never by reading the district's placed children; counting them reads the same few rows.
    """
    at = now()
    base = (
        sa.select(Application)
        .join(Child, Child.id == Application.child_id)
        .join(Ward, Ward.id == Child.ward_id)
        .where(
            Application.admission_level_id == level.id,
            Ward.district_id == district_id,
            sa.or_(without_seat_clause(at), office_offer_clause(at)),
        )
    )
    # Both counts in one pass over the district's applications.
    counted = base.with_only_columns(
        sa.func.count(), sa.func.sum(sa.case((without_seat_clause(at), 1), else_=0))
    )
    total, without = db.session.execute(counted).one()
    total, without = int(total or 0), int(without or 0)
    waiting_first = sa.case((office_offer_clause(at), 1), else_=0)
    order = [waiting_first, Child.full_name, Application.id]
    anchor_id = before or after
    anchor = None
    if anchor_id:
        anchor = db.session.execute(
            sa.select(*order)
            .join(Child, Child.id == Application.child_id)
            .where(Application.id == anchor_id, Application.admission_level_id == level.id)
        ).first()
    got = keyset_paginate(
        base.add_columns(Child, Ward.name),
        order,
        tuple(anchor) if anchor else None,
        backwards=bool(before and anchor),
        page=page,
        per_page=per_page,
        id_of=lambda row: row[0].id,
    )
    rows = got.items
    schools = level_schools(level)
    left = seats_left(level, None)
    claimed = claimed_schools(level, None)
    own = {s.id for s in schools if s.district_id == district_id}
    kept = sum(max(left.get(s, 0), 0) for s in claimed if s in own)
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
                _standing(app_, at),
            )
        )
    return PlacementPage(
        out,
        got.page,
        per_page,
        total,
        [s for s in schools if s.id in own],
        left,
        kept,
        without,
        has_next=got.has_next,
        has_prev=got.has_prev,
        first_id=got.first_id,
        last_id=got.last_id,
    )


def assign_seat(
    app_: Application,
    school: School,
    actor: User,
    district_id: int,
    deadline: datetime | None = None,
    *,
    automatic: bool = False,
) -> Application:
    """The office gives a child without a seat (never placed, declined, expired) a seat at a school
    of the level with seats left, in her district or a neighbouring one; or moves the seat it
    offered her before the family answers. Audited (before → after), family told."""
    level = app_.admission_level
    at = now()
    if not may_assign(app_, at):
        raise RoundError("not_unplaced")
    if school.level != level.level:
        raise RoundError("unknown_school")
    if app_.allocated_school_id == school.id and app_.status == S.OFFERED:
        return app_  # the same seat again (double click)
    # Serialise assignments to one school (two officers, one last seat).
    db.session.execute(sa.select(School.id).where(School.id == school.id).with_for_update())
    if seats_left(level, school.district_id).get(school.id, 0) <= 0:
        raise RoundError("school_full")
    if school.id in claimed_schools(level, None):
        raise RoundError("school_claimed")
    before = {"status": str(app_.status), "school_id": app_.allocated_school_id}
    counted = counters.snapshot(app_)
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
    audit(
        "admissions.placement.assign",
        app_,
        actor_id=actor.id,
        school_id=school.id,
        level_id=level.id,
        status=str(S.OFFERED),
        before_status=before["status"],
        before_school_id=before["school_id"],
        automatic=automatic,
    )
    notify_later("assigned", None, [app_.id])
    counters.applied(app_, counted)
    return app_


def offer_nearest(level: AdmissionLevel, district_id: int, actor: User) -> int:
    """Every catchment child of the level in the district left without a seat by a round is offered
    the nearest school with seats (in any district), at once; the office can move it on the
    placement page before the family answers. Returns how many were offered a seat."""
    ids = list(
        db.session.scalars(
            sa.select(Application.id)
            .where(
                Application.admission_level_id == level.id,
                in_district(district_id),
                Application.status == S.UNPLACED,
                Application.catchment_school_id.is_not(None),
            )
            .order_by(Application.id)
        )
    )
    if not ids:
        return 0
    schools = level_schools(level)
    by_id = {s.id: s for s in schools}
    coords = {s.id: (s.latitude, s.longitude) for s in schools}
    left = seats_left(level, None)
    claimed = claimed_schools(level, None)
    n = 0
    for app_ in db.session.scalars(sa.select(Application).where(Application.id.in_(ids))):
        origin = coords.get(app_.catchment_school_id)
        if origin is not None and None in origin:
            origin = None
        candidates = [
            (s.id, s.latitude, s.longitude, left.get(s.id, 0)) for s in schools if s.id not in claimed
        ]
        near = nearest(origin, candidates, limit=1, first=app_.catchment_school_id)
        if not near:
            continue
        assign_seat(app_, by_id[near[0][0]], actor, district_id, automatic=True)
        left[near[0][0]] -= 1
        n += 1
    audit(
        "admissions.placement.offer_nearest",
        ("admission_level", level.id),
        district_id=district_id,
        offered=n,
    )
    return n
