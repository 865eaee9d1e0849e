"""Admissions figures: applications against capacity, registrations per hour, the public figures.

Read-only queries; the office dashboard (views/dashboard.py), the public pages (views/public.py)
and the exports reuse them.

**Who sees what** (the views enforce it, 404 outside the scope):

- a city administrator: the whole city, one row per district, and any district or school;
- a district officer: their district, one row per school of the level;
- school staff: their own school's row (and its registrations per hour);
- teachers and parents: nothing (403).

**Definitions** (shown on the page too):

- *applications*: the level's applications that are not withdrawn. During a trial phase these are
  the trial's (wiped with it); the public page counts official applications only.
- per school: *1st choice* = applications ranking the school first (the demand the allocation
  must meet), *catchment* = applications whose guaranteed catchment school it is, *any choice* =
  applications listing it at any rank; *placed* = children allocated, offered or confirmed there.
- per district: applications of children *living* in the district (what the district's rounds
  allocate) against the seats of the district's schools of the level.
- registrations per hour: applications by the hour of their first submission
  (`Application.submitted_at`), in Asia/Ho_Chi_Minh, over the registration window (later hours
  too, e.g. the in-person window, when there were submissions then); on a school's page, the
  applications listing that school. Bucketed in SQL (strftime on SQLite, to_char on PostgreSQL)
  with the zone's offset at the window's opening: Vietnam has no daylight saving time.

**Freshness**: nothing is cached for officers; every figure is read per request from the counters
that the writes keep in their own transaction (admissions/counters.py: a few dozen rows per
page, whatever the number of applications; `flask --app app admissions counters` checks them
against a count from scratch). The public figures are
cached for ADMISSIONS_PUBLIC_CACHE_SECONDS (default 60 s), and the pages say how fresh they are.
"""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from cachetools import TTLCache
from flask import current_app

from app.extensions import db
from app.models import District, School, Ward

from .counter_models import AdmissionCounter
from .models import (
    AdmissionLevel,
    AllocationRound,
    ApplicationStatus,
    RoundKind,
)

PLACED = (ApplicationStatus.ALLOCATED, ApplicationStatus.OFFERED, ApplicationStatus.CONFIRMED)
PUBLISHED_PLACED = (ApplicationStatus.OFFERED, ApplicationStatus.CONFIRMED)  # results the public may see
MAX_HOURS = 24 * 21  # the chart covers at most three weeks of hours (a window is ~3 days)


# ---------------------------------------------------------------------------------------------
# Rows
# ---------------------------------------------------------------------------------------------


@dataclass
class SchoolRow:
    school_id: int
    code: str
    name: str
    district_id: int
    capacity: int
    first_choice: int = 0
    catchment: int = 0
    any_choice: int = 0
    placed: int = 0
    confirmed: int = 0

    @property
    def percent(self) -> int | None:
        """1st-choice applications as a percentage of the seats (None without seats)."""
        return round(100 * self.first_choice / self.capacity) if self.capacity else None

    @property
    def over(self) -> bool:
        return self.first_choice > self.capacity


@dataclass
class DistrictRow:
    district_id: int
    name: str
    schools: int = 0
    capacity: int = 0
    applications: int = 0
    placed: int = 0
    confirmed: int = 0

    @property
    def percent(self) -> int | None:
        return round(100 * self.applications / self.capacity) if self.capacity else None

    @property
    def over(self) -> bool:
        return self.applications > self.capacity


def _trial(official_only: bool) -> list:
    """Counter rows of official applications only (the public pages), or all."""
    return [AdmissionCounter.is_trial.is_(False)] if official_only else []


def school_rows(
    level: AdmissionLevel,
    *,
    district_id: int | None = None,
    school_id: int | None = None,
    official_only: bool = False,
    placed_statuses=PLACED,
) -> list[SchoolRow]:
    """One row per school of the level (in a district, or one school): three queries.

    `placed_statuses`: what counts as placed (the public page counts published results only)."""
    where = [School.level == level.level]
    if district_id is not None:
        where.append(School.district_id == district_id)
    if school_id is not None:
        where.append(School.id == school_id)
    q = sa.select(School.id, School.code, School.name, School.district_id, School.capacity).where(*where)
    rows = {
        sid: SchoolRow(sid, code, name, did, cap or 0)
        for sid, code, name, did, cap in db.session.execute(q.order_by(School.name, School.id))
    }
    if not rows:
        return []
    # From the counters (admissions/counters.py): one row per school, status and trial flag.
    t = AdmissionCounter
    live = t.status != ApplicationStatus.WITHDRAWN
    placed = t.status.in_([str(s) for s in placed_statuses])

    def when(cond, col):
        return sa.func.sum(sa.case((cond, col), else_=0))

    counts = (
        sa.select(
            t.scope_id,
            when(live, t.first_choice),
            when(live, t.catchment),
            when(live, t.any_choice),
            when(placed, t.placed),
            when(t.status == ApplicationStatus.CONFIRMED, t.placed),
        )
        .where(t.admission_level_id == level.id, t.scope == "school", *_trial(official_only))
        .group_by(t.scope_id)
    )
    if district_id is not None or school_id is not None:
        counts = counts.where(t.scope_id.in_(list(rows)))
    for sid, first, catch, anyc, n, conf in db.session.execute(counts):
        row = rows.get(sid)
        if row is not None:
            row.first_choice, row.catchment, row.any_choice = int(first or 0), int(catch or 0), int(anyc or 0)
            row.placed, row.confirmed = int(n or 0), int(conf or 0)
    return list(rows.values())


def district_rows(
    level: AdmissionLevel, *, official_only: bool = False, placed_statuses=PLACED
) -> list[DistrictRow]:
    """One row per district (city view): three queries whatever the number of districts."""
    rows = {
        did: DistrictRow(did, name)
        for did, name in db.session.execute(sa.select(District.id, District.name).order_by(District.name))
    }
    for did, n, cap in db.session.execute(
        sa.select(School.district_id, sa.func.count(), sa.func.sum(School.capacity))
        .where(School.level == level.level)
        .group_by(School.district_id)
    ):
        if did in rows:
            rows[did].schools, rows[did].capacity = int(n), int(cap or 0)
    t = AdmissionCounter
    live = t.status != ApplicationStatus.WITHDRAWN
    placed = t.status.in_([str(s) for s in placed_statuses])
    for did, n, pl, conf in db.session.execute(
        sa.select(
            Ward.district_id,
            sa.func.sum(sa.case((live, t.applications), else_=0)),
            sa.func.sum(sa.case((placed, t.applications), else_=0)),
            sa.func.sum(sa.case((t.status == ApplicationStatus.CONFIRMED, t.applications), else_=0)),
        )
        .join(Ward, Ward.id == t.scope_id)
        .where(t.admission_level_id == level.id, t.scope == "ward", *_trial(official_only))
        .group_by(Ward.district_id)
    ):
        if did in rows:
            rows[did].applications, rows[did].placed, rows[did].confirmed = (
                int(n or 0),
                int(pl or 0),
                int(conf or 0),
            )
    # Districts without a school of this level and without applicants are left out.
    return [r for r in rows.values() if r.schools or r.applications]


def totals(rows) -> dict[str, int]:
    keys = (
        "capacity",
        "first_choice",
        "catchment",
        "any_choice",
        "placed",
        "confirmed",
        "applications",
        "schools",
    )
    return {k: sum(getattr(r, k, 0) for r in rows) for k in keys}


# ---------------------------------------------------------------------------------------------
# Published rounds (cutoffs and seeds)
# ---------------------------------------------------------------------------------------------


def official_rounds(level: AdmissionLevel, district_id: int | None = None) -> list[AllocationRound]:
    """Official rounds of the level (optionally of one district), by district and number: one query.

    The input and result documents are deferred columns: not loaded here."""
    q = sa.select(AllocationRound).where(
        AllocationRound.admission_level_id == level.id, AllocationRound.kind == RoundKind.OFFICIAL
    )
    if district_id is not None:
        q = q.where(AllocationRound.district_id == district_id)
    return list(db.session.scalars(q.order_by(AllocationRound.district_id, AllocationRound.number)))


def latest_published_rounds(
    level: AdmissionLevel, district_id: int | None = None, rounds: list | None = None
) -> dict[int, AllocationRound]:
    """District id -> its latest published official round (whose cutoffs are the current ones)."""
    out: dict[int, AllocationRound] = {}
    for rnd in rounds if rounds is not None else official_rounds(level, district_id):
        if rnd.is_published and (district_id is None or rnd.district_id == district_id):
            out[rnd.district_id] = rnd  # ordered by number: the last one wins
    return out


def round_cutoffs(rnd) -> dict[str, list | None]:
    """School code -> [priority class, lottery] of the last child admitted by a full school."""
    if rnd is None:
        return {}
    return {code: v.get("cutoff") for code, v in ((rnd.summary or {}).get("schools") or {}).items()}


# ---------------------------------------------------------------------------------------------
# Public figures (the /tuyen-sinh pages): counts, seats, cutoffs and seeds, no personal data
# ---------------------------------------------------------------------------------------------

PUBLIC_CACHE_MAX = 2048  # (level, district) pages: a city's, many times over
_public_lock = threading.Lock()


@dataclass(frozen=True)
class PublicRound:
    """What the public may know of an official round: the seed only once it is published."""

    id: int
    number: int
    status: str
    seed_sha256: str
    seed: str | None
    published_at: datetime | None

    @classmethod
    def of(cls, rnd: AllocationRound) -> PublicRound:
        published = rnd.is_published
        return cls(
            rnd.id,
            rnd.number,
            rnd.status,
            rnd.seed_sha256,
            rnd.seed if published else None,
            rnd.published_at if published else None,
        )


@dataclass(frozen=True)
class PublicFigures:
    rows: list
    totals: dict[str, int]
    as_of: datetime  # naive UTC: when they were computed
    rounds: tuple[PublicRound, ...] = ()
    latest_number: int | None = None  # of the latest published round, whose cutoffs are shown
    cutoffs: dict = field(default_factory=dict)


def _public_cached(key: tuple, compute):
    """Figures cached for ADMISSIONS_PUBLIC_CACHE_SECONDS (0: not cached) in this app's own
    bounded cache: during the first hours of a window thousands of families reload these pages."""
    ttl = float(current_app.config.get("ADMISSIONS_PUBLIC_CACHE_SECONDS", 60))
    if ttl <= 0:
        return compute()
    with _public_lock:
        cache = current_app.extensions.get("admissions_public_cache")
        if cache is None or cache.ttl != ttl:
            cache = current_app.extensions["admissions_public_cache"] = TTLCache(PUBLIC_CACHE_MAX, ttl)
        value = cache.get(key)
    if value is None:
        value = compute()
        with _public_lock:
            cache[key] = value
    return value


def public_level(level: AdmissionLevel, now: datetime) -> PublicFigures:
    """Each district's official registrations against its seats, and published results."""

    def compute():
        rows = district_rows(level, official_only=True, placed_statuses=PUBLISHED_PLACED)
        return PublicFigures(rows, totals(rows), now)

    return _public_cached(("level", level.id), compute)


def public_district(level: AdmissionLevel, district_id: int, now: datetime) -> PublicFigures:
    """Per school of the district: registrations, seats, published results, the latest cutoffs,
    and every official round's seed commitment (the seed once published)."""

    def compute():
        rows = school_rows(
            level, district_id=district_id, official_only=True, placed_statuses=PUBLISHED_PLACED
        )
        rounds = official_rounds(level, district_id)
        latest = latest_published_rounds(level, district_id, rounds).get(district_id)
        return PublicFigures(
            rows,
            totals(rows),
            now,
            tuple(PublicRound.of(r) for r in rounds),
            latest.number if latest is not None else None,
            round_cutoffs(latest),
        )

    return _public_cached(("district", level.id, district_id), compute)


# ---------------------------------------------------------------------------------------------
# Registrations per hour
# ---------------------------------------------------------------------------------------------


@dataclass
class HourlySeries:
    tz: str
    hours: list[tuple[datetime, int]] = field(default_factory=list)  # (local hour start, count)

    @property
    def total(self) -> int:
        return sum(n for _h, n in self.hours)

    @property
    def peak(self) -> tuple[datetime, int] | None:
        return max(self.hours, key=lambda hn: (hn[1], -hn[0].timestamp())) if self.total else None

    def by_day(self) -> list[tuple[datetime, list[tuple[datetime, int]]]]:
        days: dict = {}
        for h, n in self.hours:
            days.setdefault(h.date(), []).append((h, n))
        return [(hours[0][0], hours) for _d, hours in days.items()]


def utc_offset_minutes(tz: str, at: datetime) -> int:
    """The zone's offset from UTC at `at` (naive UTC), in minutes. Asia/Ho_Chi_Minh: +420, no DST."""
    off = at.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).utcoffset() or timedelta(0)
    return int(off.total_seconds() // 60)


def hourly(
    level: AdmissionLevel,
    tz: str,
    *,
    window=None,
    now: datetime | None = None,
    district_id: int | None = None,
    school_id: int | None = None,
    official_only: bool = False,
) -> HourlySeries:
    """Applications per local hour of first submission: one aggregate query (≤ a few hundred rows).

    `window` (rules.Window, naive UTC) sets the hours shown even when nothing was submitted;
    hours after `now` are not shown.
    """
    ref = (window.opens_at if window is not None and window.opens_at else None) or now or datetime(2000, 1, 1)
    offset = utc_offset_minutes(tz, ref)
    # From the hourly counters (UTC hours; the zone's offset is whole hours: Vietnam's is +7).
    t = AdmissionCounter
    q = sa.select(t.hour, sa.func.sum(t.applications)).where(
        t.admission_level_id == level.id, *_trial(official_only)
    )
    if school_id is not None:
        q = q.where(t.scope == "school_hour", t.scope_id == school_id)
    else:
        q = q.where(t.scope == "ward_hour")
        if district_id is not None:
            q = q.where(t.scope_id.in_(sa.select(Ward.id).where(Ward.district_id == district_id)))
    # Withdrawn applications still registered at that hour: they count (the load the portal carried).
    shift = timedelta(minutes=offset)
    counts: Counter = Counter()
    for text, n in db.session.execute(q.group_by(t.hour)):
        if text and n:
            counts[(datetime.strptime(text, "%Y-%m-%d %H") + shift).replace(minute=0)] += int(n)
    return HourlySeries(tz, _fill(counts, window, now, offset))


def _fill(counts: Counter, window, now: datetime | None, offset: int) -> list[tuple[datetime, int]]:
    """Every hour from the window's opening (or the first submission) to its closing (or now, or the
    last submission), zeros included; at most MAX_HOURS, the latest ones."""
    shift = timedelta(minutes=offset)

    def local_hour(utc: datetime) -> datetime:
        return (utc + shift).replace(minute=0, second=0, microsecond=0)

    starts, ends = list(counts), list(counts)
    if window is not None and window.opens_at and window.closes_at:
        starts.append(local_hour(window.opens_at))
        end = window.closes_at - timedelta(microseconds=1)
        if now is not None:
            end = min(end, now)
        if end >= window.opens_at:
            ends.append(local_hour(end))
    if not starts or not ends:
        return []
    first, last = min(starts), max(ends)
    if (last - first) > timedelta(hours=MAX_HOURS - 1):
        first = last - timedelta(hours=MAX_HOURS - 1)
    out, h = [], first
    while h <= last:
        out.append((h, counts.get(h, 0)))
        h += timedelta(hours=1)
    return out
