"""Who may register and where: age-eligible children of the roster, catchments, spare seats.

- **Catchment**: for a level, a residential-group line wins over a whole-ward line. No line →
  status "none"; several lines at the same precision → "ambiguous" (see rules.CatchmentResult).
  Either way the child may still apply; the application carries no guaranteed school and the
  office assigns one. Eligible lists flag these children.
- **Spare capacity** of a school: capacity minus the eligible children of its own catchment
  (from the roster, known before the window). Families may rank schools of their district and
  level with spare seats; the catchment school itself is never ranked (it is appended last).
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from cachetools import TTLCache
from flask import current_app

from app.extensions import db
from app.models import ImportJob, ImportStatus, ResidentialGroup, School, Ward
from app.paging import KeysetPage, keyset_paginate

from . import rules
from .counter_models import AdmissionCounter, RosterRegistration
from .models import (
    AdmissionCode,
    AdmissionLevel,
    ApplicationStatus,
    Catchment,
    RosterEntry,
)


def district_ward_ids(district_id: int) -> sa.Select:
    return sa.select(Ward.id).where(Ward.district_id == district_id)


def district_schools(level: AdmissionLevel, district_id: int) -> list[School]:
    """The district's schools of the level, by code."""
    return list(
        db.session.scalars(
            sa.select(School)
            .where(School.level == level.level, School.district_id == district_id)
            .order_by(School.code)
        )
    )


def catchment_map(level: str, district_id: int | None = None) -> rules.CatchmentMap:
    """All catchment lines of one level (optionally of schools in one district): one query."""
    q = (
        sa.select(Catchment.school_id, Catchment.ward_id, Catchment.residential_group_id)
        .join(School, School.id == Catchment.school_id)
        .where(School.level == level)
    )
    if district_id is not None:
        q = q.where(Catchment.ward_id.in_(district_ward_ids(district_id)))
    return rules.CatchmentMap(db.session.execute(q).all())


def _lines(level, ward_id, group_id) -> sa.Select:
    """The catchment lines that may apply to an address (its ward's, its group's)."""
    return (
        sa.select(Catchment.school_id, Catchment.ward_id, Catchment.residential_group_id)
        .join(School, School.id == Catchment.school_id)
        .where(
            School.level == level,
            Catchment.ward_id == ward_id,
            sa.or_(Catchment.residential_group_id.is_(None), Catchment.residential_group_id == group_id),
        )
    )


def catchment_for(level: str, ward_id: int, group_id: int | None) -> rules.CatchmentResult:
    return rules.CatchmentMap(db.session.execute(_lines(level, ward_id, group_id)).all()).derive(
        ward_id, group_id
    )


def eligible_roster_query(
    level: AdmissionLevel, district_id: int | None, ward_ids: list[int] | None = None
) -> sa.Select:
    """SELECT of the roster entries age-eligible for `level` (living in the district if given;
    `ward_ids`: the district's wards, when the caller has them, as a list the planner reads the
    roster's area index with)."""
    lo, hi = rules.birth_range(level.level, level.season.intake_year)
    q = sa.select(RosterEntry).where(RosterEntry.date_of_birth.between(lo, hi))
    if ward_ids is not None:
        q = q.where(RosterEntry.ward_id.in_(sorted(ward_ids)))
    elif district_id is not None:
        q = q.where(RosterEntry.ward_id.in_(district_ward_ids(district_id)))
    return q


def _groups_by_ward(ward_ids) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    if not ward_ids:
        return out
    for gid, wid in db.session.execute(
        sa.select(ResidentialGroup.id, ResidentialGroup.ward_id).where(ResidentialGroup.ward_id.in_(ward_ids))
    ):
        out.setdefault(wid, []).append(gid)
    return out


def school_area_filter(cmap: rules.CatchmentMap, school_id: int):
    """A WHERE clause on RosterEntry selecting the addresses whose catchment is `school_id`."""
    wards = {w for w, s in cmap.by_ward.items() if school_id in s} | {
        w for (w, _g), s in cmap.by_group.items() if school_id in s
    }
    group_ids, bare_wards = cmap.areas_of(school_id, _groups_by_ward(wards))
    clauses = []
    if group_ids:
        clauses.append(RosterEntry.residential_group_id.in_(sorted(group_ids)))
    if bare_wards:
        clauses.append(
            sa.and_(RosterEntry.residential_group_id.is_(None), RosterEntry.ward_id.in_(sorted(bare_wards)))
        )
    return sa.or_(*clauses) if clauses else sa.false()


def no_catchment_filter(cmap: rules.CatchmentMap, district_id: int):
    """A WHERE clause on RosterEntry selecting the district's addresses with no single catchment school."""
    ward_ids = list(db.session.scalars(district_ward_ids(district_id)))
    groups = _groups_by_ward(ward_ids)
    bad_groups, bad_wards = [], []
    for wid in ward_ids:
        if cmap.derive(wid, None).school_id is None:
            bad_wards.append(wid)
        bad_groups += [g for g in groups.get(wid, ()) if cmap.derive(wid, g).school_id is None]
    clauses = []
    if bad_groups:
        clauses.append(RosterEntry.residential_group_id.in_(bad_groups))
    if bad_wards:
        clauses.append(
            sa.and_(RosterEntry.residential_group_id.is_(None), RosterEntry.ward_id.in_(bad_wards))
        )
    return sa.or_(*clauses) if clauses else sa.false()


def _registered(level: AdmissionLevel):
    """EXISTS: the roster entry's child has a live (not withdrawn) application for the level (the
    database keeps these marks with the applications: counter_models.RosterRegistration)."""
    return (
        sa.select(RosterRegistration.roster_entry_id)
        .where(
            RosterRegistration.admission_level_id == level.id,
            RosterRegistration.roster_entry_id == RosterEntry.id,
        )
        .exists()
    )


@dataclass
class EligibleRow:
    roster_id: int
    personal_id_masked: str
    full_name: str
    date_of_birth: date
    ward: str
    group: str | None
    residence_type: str
    code: str | None
    catchment: rules.CatchmentResult
    catchment_name: str | None


def eligible_filters(
    level: AdmissionLevel, district_id: int, school_id: int | None, ward_id: int | None
) -> tuple[list[School], list[Ward], int | None, int | None]:
    """The eligible list's filters: the district's schools of the level and its wards (by name),
    and the requested school and ward if they are among them (else None)."""
    schools = list(
        db.session.scalars(
            sa.select(School)
            .where(School.district_id == district_id, School.level == level.level)
            .order_by(School.name)
        )
    )
    wards = list(
        db.session.scalars(sa.select(Ward).where(Ward.district_id == district_id).order_by(Ward.name))
    )
    if school_id not in {s.id for s in schools}:
        school_id = None
    if ward_id not in {w.id for w in wards}:
        ward_id = None
    return schools, wards, school_id, ward_id


def eligible_not_registered(
    level: AdmissionLevel,
    district_id: int,
    *,
    school_id: int | None = None,
    ward_id: int | None = None,
    unassigned: bool = False,
    ward_ids: list[int] | None = None,
    after: int | None = None,
    before: int | None = None,
    page: int = 1,
    per_page: int = 50,
) -> KeysetPage:
    """Eligible children of the district without a live application for the level, by name, one
    keyset page after (or before) the roster entry `after` (`before`): the page is read along the
    roster's name index, never counted nor skipped to with OFFSET (app.paging).

    `ward_ids`: the district's wards when the caller has them (the filters did): the roster is
    then read through its area index for those wards alone, instead of being joined to the
    district's wards after the registered children were ruled out across the city.

    Queries: catchment lines, (school filter: groups), (the anchor's name), rows, school names —
    bounded whatever the page size and the page number.
    """
    cmap = catchment_map(level.level)
    q = eligible_roster_query(level, district_id, ward_ids).where(~_registered(level))
    if ward_id:
        q = q.where(RosterEntry.ward_id == ward_id)
    if school_id:
        q = q.where(school_area_filter(cmap, school_id))
    elif unassigned:
        q = q.where(no_catchment_filter(cmap, district_id))
    rows_q = (
        q.add_columns(Ward.name, ResidentialGroup.name, AdmissionCode.code)
        .join(Ward, Ward.id == RosterEntry.ward_id)
        .outerjoin(ResidentialGroup, ResidentialGroup.id == RosterEntry.residential_group_id)
        .outerjoin(
            AdmissionCode,
            sa.and_(
                AdmissionCode.roster_entry_id == RosterEntry.id, AdmissionCode.admission_level_id == level.id
            ),
        )
    )
    anchor_id = before or after
    anchor = None
    if anchor_id:
        anchor = db.session.execute(
            sa.select(RosterEntry.full_name, RosterEntry.id).where(RosterEntry.id == anchor_id)
        ).first()
    result = keyset_paginate(
        rows_q,
        [RosterEntry.full_name, RosterEntry.id],
        tuple(anchor) if anchor else None,
        backwards=bool(before and anchor),
        page=page,
        per_page=per_page,
        id_of=lambda row: row[0].id,
    )
    raw = [tuple(r) for r in result.items]
    results = [cmap.derive(r.ward_id, r.residential_group_id) for r, *_ in raw]
    names = school_names({c.school_id for c in results if c.school_id})
    result.items = [
        EligibleRow(
            r.id,
            rules.mask_personal_id(r.personal_id),
            r.full_name,
            r.date_of_birth,
            wname,
            gname,
            r.residence_type,
            code,
            c,
            names.get(c.school_id),
        )
        for (r, wname, gname, code), c in zip(raw, results, strict=True)
    ]
    return result


def school_names(ids) -> dict[int, str]:
    if not ids:
        return {}
    return dict(db.session.execute(sa.select(School.id, School.name).where(School.id.in_(sorted(ids)))).all())


def _area_counts(q: sa.Select) -> list[tuple[int, int | None, int]]:
    """(ward_id, group_id, n) for a SELECT over RosterEntry."""
    sub = q.subquery()
    return db.session.execute(
        sa.select(sub.c.ward_id, sub.c.residential_group_id, sa.func.count()).group_by(
            sub.c.ward_id, sub.c.residential_group_id
        )
    ).all()


def catchment_demand(level: AdmissionLevel, district_id: int | None) -> tuple[Counter, int]:
    """Eligible children per catchment school (and the number with no single school)."""
    cmap = catchment_map(level.level)
    demand: Counter = Counter()
    unassigned = 0
    for ward_id, group_id, n in _area_counts(eligible_roster_query(level, district_id)):
        sid = cmap.derive(ward_id, group_id).school_id
        if sid is None:
            unassigned += n
        else:
            demand[sid] += n
    return demand, unassigned


_SPARE_TTL = 300.0  # seconds: catchment demand changes only with a roster or catchment import
_SPARE_MAX = 4096  # (level, district, import) keys: a city's, many times over
_spare_lock = threading.Lock()


def _spare_cache() -> TTLCache:
    """This app's cache of catchment demand (one per app object: tests and processes never
    share it)."""
    with _spare_lock:
        cache = current_app.extensions.get("admissions_spare_cache")
        if cache is None:
            cache = current_app.extensions["admissions_spare_cache"] = TTLCache(_SPARE_MAX, _SPARE_TTL)
        return cache


def _latest_import() -> sa.ScalarSelect:
    """When the latest import job finished: a roster or catchment upload changes the demand."""
    return (
        sa.select(sa.func.max(ImportJob.finished_at))
        .where(ImportJob.status == ImportStatus.DONE)
        .scalar_subquery()
    )


def spare_seats_by_school(level: AdmissionLevel, district_id: int) -> dict[int, int]:
    """Spare seats (rules.spare_seats) of the district's schools of the level.

    On the first morning of a window tens of thousands of families open the form: the demand is
    an aggregate over the roster, so it is cached per level and district. The capacities are
    read fresh on every call (one query, which also reads when the latest import finished): a
    changed capacity or a new school reaches the choice lists at once, and an upload of the
    roster or the catchments (a new import time, a new cache key) at once in every process. A
    command-line import, which is not a job, is seen when the cached demand expires (_SPARE_TTL).
    """
    schools = db.session.execute(
        sa.select(School.id, School.capacity, _latest_import()).where(
            School.level == level.level, School.district_id == district_id
        )
    ).all()
    if not schools:
        return {}
    return _spare_seats(level, district_id, {sid: cap for sid, cap, _ in schools}, schools[0][2])


def _spare_seats(
    level: AdmissionLevel, district_id: int, capacities: dict[int, int], latest
) -> dict[int, int]:
    """Spare seats from capacities just read and the cached demand (`latest`: when the latest
    import finished, part of the cache key)."""
    key = (level.id, district_id, latest)
    cache = _spare_cache()
    with _spare_lock:
        demand = cache.get(key)
    if demand is None:
        demand, _ = catchment_demand(level, district_id)
        with _spare_lock:
            cache[key] = demand
    return {sid: rules.spare_seats(cap, demand.get(sid, 0)) for sid, cap in capacities.items()}


@dataclass
class SchoolSummary:
    school: School
    demand: int
    spare: int
    codes: int
    applications: int


def level_overview(level: AdmissionLevel, district_id: int) -> tuple[list[SchoolSummary], dict[str, int]]:
    """Per school of the district: catchment demand, spare seats, codes issued, live applications."""
    cmap = catchment_map(level.level)
    # The district's eligible children and those with a code, per area, in one pass over the
    # roster (read through its area index for the district's wards).
    wards = list(db.session.scalars(district_ward_ids(district_id)))
    sub = (
        eligible_roster_query(level, district_id, wards)
        .outerjoin(
            AdmissionCode,
            sa.and_(
                AdmissionCode.roster_entry_id == RosterEntry.id, AdmissionCode.admission_level_id == level.id
            ),
        )
        .with_only_columns(RosterEntry.ward_id, RosterEntry.residential_group_id, AdmissionCode.id)
        .subquery()
    )
    demand, codes, unassigned, codes_unassigned = Counter(), Counter(), 0, 0
    for ward_id, group_id, n, with_code in db.session.execute(
        sa.select(
            sub.c.ward_id, sub.c.residential_group_id, sa.func.count(), sa.func.count(sub.c.id)
        ).group_by(sub.c.ward_id, sub.c.residential_group_id)
    ):
        sid = cmap.derive(ward_id, group_id).school_id
        if sid is None:
            unassigned += n
            codes_unassigned += with_code
        else:
            demand[sid] += n
            codes[sid] += with_code
    schools = db.session.scalars(
        sa.select(School)
        .where(School.level == level.level, School.district_id == district_id)
        .order_by(School.name)
    ).all()
    # Live applications by catchment school, and of the district's children (by the ward they
    # live in), from the counters (admissions/counters.py): the catchment choice is the
    # application's catchment school.
    t, live = AdmissionCounter, AdmissionCounter.status != ApplicationStatus.WITHDRAWN
    apps: Counter = Counter()
    live_total = 0
    for scope, sid, catch, n in db.session.execute(
        sa.select(t.scope, t.scope_id, sa.func.sum(t.catchment), sa.func.sum(t.applications))
        .where(
            t.admission_level_id == level.id,
            live,
            sa.or_(
                sa.and_(t.scope == "school", t.scope_id.in_([s.id for s in schools])),
                sa.and_(t.scope == "ward", t.scope_id.in_(wards)),
            ),
        )
        .group_by(t.scope, t.scope_id)
    ):
        if scope == "school":
            apps[sid] += int(catch or 0)
        else:
            live_total += int(n or 0)
    rows = [
        SchoolSummary(
            s,
            demand.get(s.id, 0),
            rules.spare_seats(s.capacity, demand.get(s.id, 0)),
            codes.get(s.id, 0),
            apps.get(s.id, 0),
        )
        for s in schools
    ]
    totals = {
        "eligible": sum(demand.values()) + unassigned,
        "unassigned": unassigned,
        "codes": sum(codes.values()) + codes_unassigned,
        "codes_unassigned": codes_unassigned,
        "applications": live_total,
    }
    return rows, totals
