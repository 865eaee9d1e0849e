"""The district's schools as the families' pages use them: which may be chosen (spare seats),
the catchment school of an address and its name, cached in the process per season and version.

The version (`AdmissionSeason.places_version`) is kept by the database: triggers bump it on
every write to a school or a catchment line and whenever an import job changes status (a roster
upload changes the demand behind the spare seats). It comes with the season row every page
loads anyway, so a cached entry is valid exactly as long as nothing it was read from changed:
a capacity or a line changed by the office reaches the choice lists and the submit's check on
the next request, in every process. A roster imported from the command line (not a job) is seen
when the entry expires (`TTL`), as before.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import NamedTuple

import sqlalchemy as sa
from cachetools import TTLCache
from flask import current_app

from app.extensions import db
from app.models import School

from . import rules
from .eligibility import catchment_demand, district_ward_ids
from .models import AdmissionLevel, AdmissionSeason, Catchment


class Place(NamedTuple):
    """A school as a family's pages show it and a choice list offers it."""

    id: int
    name: str


@dataclass(frozen=True)
class DistrictPlaces:
    """One level's schools of a district (by name), the names of every school a line of its
    wards points to, those lines, and the schools' spare seats."""

    schools: tuple[Place, ...]
    names: dict[int, str]
    lines: rules.CatchmentMap
    spare: dict[int, int]


@dataclass
class Places:
    """What the pages offer one child: the catchment result and school, the district's schools
    of the level and their spare seats."""

    catchment: rules.CatchmentResult
    catchment_school: Place | None
    schools: list[Place]
    spare: dict[int, int]


TTL = 300.0  # seconds: a roster imported from the command line (not a job) is seen after this
MAX_ENTRIES = 4096  # (season, version, level, district): a city's, many times over
_lock = threading.Lock()


def _cache() -> TTLCache:
    """This app's cache (one per app object: tests and processes never share it)."""
    with _lock:
        cache = current_app.extensions.get("admissions_places_cache")
        if cache is None:
            cache = current_app.extensions["admissions_places_cache"] = TTLCache(MAX_ENTRIES, TTL)
        return cache


def district_places(season: AdmissionSeason, level: AdmissionLevel, district_id: int) -> DistrictPlaces:
    """From the cache when the season's version is the one it was read at; else read (four
    statements: the schools, the lines, and the catchment demand's two)."""
    key = (season.id, season.places_version, level.id, district_id)
    cache = _cache()
    with _lock:
        found = cache.get(key)
    if found is None:
        found = _read(level, district_id)
        with _lock:
            cache[key] = found
    return found


def _read(level: AdmissionLevel, district_id: int) -> DistrictPlaces:
    schools = db.session.execute(
        sa.select(School.id, School.name, School.capacity)
        .where(School.level == level.level, School.district_id == district_id)
        .order_by(School.name, School.id)
    ).all()
    lines = db.session.execute(
        sa.select(Catchment.school_id, Catchment.ward_id, Catchment.residential_group_id, School.name)
        .join(School, School.id == Catchment.school_id)
        .where(School.level == level.level, Catchment.ward_id.in_(district_ward_ids(district_id)))
    ).all()
    demand, _ = catchment_demand(level, district_id) if schools else ({}, 0)
    names = {sid: name for sid, _w, _g, name in lines}
    names.update((sid, name) for sid, name, _cap in schools)
    return DistrictPlaces(
        tuple(Place(sid, name) for sid, name, _cap in schools),
        names,
        rules.CatchmentMap((sid, wid, gid) for sid, wid, gid, _name in lines),
        {sid: rules.spare_seats(cap, demand.get(sid, 0)) for sid, _name, cap in schools},
    )


def places_for(
    season: AdmissionSeason, level: AdmissionLevel, district_id: int, ward_id: int, group_id: int | None
) -> Places:
    """The child's catchment (from her address) and the district's places: no statement while
    the cached entry is valid."""
    found = district_places(season, level, district_id)
    result = found.lines.derive(ward_id, group_id)
    name = found.names.get(result.school_id) if result.school_id is not None else None
    return Places(
        result,
        Place(result.school_id, name) if name is not None else None,
        list(found.schools),
        found.spare,
    )
