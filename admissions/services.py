"""Admissions season services: setup, eligibility, admission codes, children and applications.

Functions change data and `flush` only; the boundary (view, CLI, job) commits. Rules that need
no database live in `admissions.rules`.

Scope decisions (documented here because views and tests rely on them):

- **Seasons are city-wide.** The city sets one calendar per academic year (the three staggered
  windows, the trial); city administrators create and edit it. District officers run their part:
  the eligible list, admission codes and code exports for *their* district. Office URLs therefore
  name the district (`/districts/<district_id>/levels/<level_id>/…`) or a school, and scope
  checks apply to those.
- **Catchment**: for a level, a residential-group line wins over a whole-ward line. No line →
  status "none"; several lines at the same precision → "ambiguous" (see rules.CatchmentResult).
  Either way the child may still apply; the application carries no guaranteed school and the
  office assigns one. Eligible lists flag these children.
- **Spare capacity** of a school: capacity minus the eligible children of its own catchment
  (from the roster, known before the window). Families may rank schools of their district and
  level with spare seats; the catchment school itself is never ranked (it is appended last).
- **Trial**: while a season is in the trial phase, the trial window (season-wide) is the one
  that counts and everything created is marked as trial; "end the trial" wipes it and switches
  the season to official, allowed only before any official window has opened.
"""

from __future__ import annotations

import io
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import joinedload, selectinload

from app.audit import audit
from app.extensions import db
from app.models import AcademicYear, District, ResidentialGroup, School, User, Ward, utcnow

from . import rules
from .models import (
    AdmissionCode,
    AdmissionLevel,
    AdmissionSeason,
    AllocationOutcome,
    AllocationRound,
    Application,
    ApplicationChoice,
    ApplicationStatus,
    Catchment,
    Child,
    LevelState,
    ParentChild,
    RosterEntry,
    SeasonPhase,
)
from .registry import RegistryUnavailable, client_from_config


class AdmissionError(Exception):
    """A business rule refused the operation; `code` names it for the view to translate."""

    def __init__(self, code: str, field: str | None = None, **params):
        super().__init__(code)
        self.code = code
        self.field = field
        self.params = params


def now() -> datetime:
    """Server time (naive UTC), the only clock windows are checked against."""
    return utcnow()


def timezone() -> str:
    return current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Ho_Chi_Minh")


# =============================================================================================
# Seasons
# =============================================================================================


def seasons() -> list[AdmissionSeason]:
    q = (
        sa.select(AdmissionSeason)
        .join(AcademicYear)
        .options(joinedload(AdmissionSeason.academic_year), selectinload(AdmissionSeason.levels))
        .order_by(AcademicYear.starts_on.desc())
    )
    return list(db.session.scalars(q))


def current_season() -> AdmissionSeason | None:
    """The season of the current academic year, else the most recent one."""
    q = (
        sa.select(AdmissionSeason)
        .join(AcademicYear)
        .options(joinedload(AdmissionSeason.academic_year), selectinload(AdmissionSeason.levels))
        .order_by(AcademicYear.is_current.desc(), AcademicYear.starts_on.desc())
        .limit(1)
    )
    return db.session.scalar(q)


def create_season(academic_year_id: int, trial: bool, actor: User) -> AdmissionSeason:
    year = db.session.get(AcademicYear, academic_year_id)
    if year is None:
        raise AdmissionError("no_year", "academic_year_id")
    if db.session.scalar(sa.select(AdmissionSeason.id).where(AdmissionSeason.academic_year_id == year.id)):
        raise AdmissionError("season_exists", "academic_year_id")
    season = AdmissionSeason(
        academic_year_id=year.id,
        created_by_id=actor.id,
        phase=SeasonPhase.TRIAL if trial else SeasonPhase.OFFICIAL,
    )
    db.session.add(season)
    db.session.flush()
    for level in rules.LEVELS:
        db.session.add(AdmissionLevel(season_id=season.id, level=level, state=LevelState.DRAFT))
    db.session.flush()
    audit("admissions.season.create", season, academic_year_id=year.id, phase=season.phase)
    return season


@dataclass
class LevelSetting:
    opens_at: datetime | None  # naive UTC
    closes_at: datetime | None
    confirm_by: datetime | None
    state: str


def update_schedule(
    season: AdmissionSeason, settings: dict[str, LevelSetting], trial_window: rules.Window | None
) -> None:
    """Set the windows of a season's levels (UTC) after validating the whole calendar.

    Raises AdmissionError("schedule", problems=[(field, code), ...]).
    """
    schedules = [
        rules.LevelSchedule(lvl, rules.Window(s.opens_at, s.closes_at), s.confirm_by)
        for lvl, s in settings.items()
    ]
    problems = rules.schedule_problems(
        schedules, trial_window if season.is_trial else None, season.intake_year
    )
    for lvl, s in settings.items():
        if s.state != LevelState.DRAFT and (s.opens_at is None or s.closes_at is None):
            problems.append((f"{lvl}.opens_at", "window_required"))
    if problems:
        raise AdmissionError("schedule", problems=problems)
    by_level = {lv.level: lv for lv in season.levels}
    for lvl, s in settings.items():
        level = by_level[lvl]
        level.opens_at, level.closes_at, level.confirm_by, level.state = (
            s.opens_at,
            s.closes_at,
            s.confirm_by,
            s.state,
        )
    if season.is_trial and trial_window is not None:
        season.trial_opens_at, season.trial_closes_at = trial_window.opens_at, trial_window.closes_at
    db.session.flush()
    audit(
        "admissions.season.schedule",
        season,
        levels={lvl: s.state for lvl, s in settings.items()},
        phase=season.phase,
    )


def official_window_opened(season: AdmissionSeason, at: datetime) -> bool:
    return any(lv.opens_at is not None and lv.opens_at <= at for lv in season.levels)


def wipe_trial(season: AdmissionSeason) -> dict[str, int]:
    """End the trial: delete everything created during it and switch the season to official.

    Allowed only while the season is in trial and no official window has opened yet.
    """
    if not season.is_trial:
        raise AdmissionError("not_trial")
    at = now()
    if official_window_opened(season, at):
        raise AdmissionError("official_open")
    level_ids = [lv.id for lv in season.levels]
    trial_apps = sa.select(Application.id).where(
        Application.admission_level_id.in_(level_ids), Application.is_trial.is_(True)
    )
    counts = {}
    # Trial allocation rounds go with the trial applications they were run on.
    trial_rounds = sa.select(AllocationRound.id).where(
        AllocationRound.admission_level_id.in_(level_ids), AllocationRound.is_trial.is_(True)
    )
    db.session.execute(sa.delete(AllocationOutcome).where(AllocationOutcome.round_id.in_(trial_rounds)))
    db.session.execute(
        sa.update(Application)
        .where(Application.placed_by_round_id.in_(trial_rounds))
        .values(placed_by_round_id=None)
    )
    db.session.execute(
        sa.delete(AllocationRound).where(
            AllocationRound.id.in_(trial_rounds.where(AllocationRound.base_round_id.is_not(None)))
        )
    )
    db.session.execute(
        sa.delete(AllocationRound).where(
            AllocationRound.admission_level_id.in_(level_ids), AllocationRound.is_trial.is_(True)
        )
    )
    db.session.execute(sa.delete(ApplicationChoice).where(ApplicationChoice.application_id.in_(trial_apps)))
    counts["applications"] = db.session.execute(
        sa.delete(Application).where(
            Application.admission_level_id.in_(level_ids), Application.is_trial.is_(True)
        )
    ).rowcount
    trial_children = sa.select(Child.id).where(Child.trial_season_id == season.id)
    # Applications of trial children to other seasons cannot exist (a child is added in one
    # season), but delete defensively so that no foreign key is left dangling.
    db.session.execute(
        sa.delete(ApplicationChoice).where(
            ApplicationChoice.application_id.in_(
                sa.select(Application.id).where(Application.child_id.in_(trial_children))
            )
        )
    )
    db.session.execute(sa.delete(Application).where(Application.child_id.in_(trial_children)))
    db.session.execute(sa.delete(ParentChild).where(ParentChild.child_id.in_(trial_children)))
    counts["children"] = db.session.execute(
        sa.delete(Child).where(Child.trial_season_id == season.id)
    ).rowcount
    counts["codes"] = db.session.execute(
        sa.delete(AdmissionCode).where(
            AdmissionCode.admission_level_id.in_(level_ids), AdmissionCode.is_trial.is_(True)
        )
    ).rowcount
    season.phase = SeasonPhase.OFFICIAL
    season.trial_wiped_at = at
    db.session.flush()
    db.session.expire_all()
    audit("admissions.season.wipe_trial", ("admission_season", season.id), **counts)
    return counts


def level_window(level: AdmissionLevel) -> rules.Window:
    """The window that counts now: the season's trial window during the trial, else the level's."""
    season = level.season
    if season.is_trial:
        return rules.Window(season.trial_opens_at, season.trial_closes_at)
    return rules.Window(level.opens_at, level.closes_at)


def registration_open(level: AdmissionLevel, at: datetime | None = None) -> bool:
    return level.state == LevelState.SCHEDULED and level_window(level).is_open(at or now())


# =============================================================================================
# Eligibility and catchments
# =============================================================================================


def district_ward_ids(district_id: int) -> sa.Select:
    return sa.select(Ward.id).where(Ward.district_id == district_id)


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


def catchment_for(level: str, ward_id: int, group_id: int | None) -> rules.CatchmentResult:
    q = (
        sa.select(Catchment.school_id, Catchment.ward_id, Catchment.residential_group_id)
        .join(School, School.id == Catchment.school_id)
        .where(
            School.level == level,
            Catchment.ward_id == ward_id,
            sa.or_(Catchment.residential_group_id.is_(None), Catchment.residential_group_id == group_id),
        )
    )
    return rules.CatchmentMap(db.session.execute(q).all()).derive(ward_id, group_id)


def eligible_roster_query(level: AdmissionLevel, district_id: int | None) -> sa.Select:
    """SELECT of the roster entries age-eligible for `level` (living in the district if given)."""
    lo, hi = rules.birth_range(level.level, level.season.intake_year)
    q = sa.select(RosterEntry).where(RosterEntry.date_of_birth.between(lo, hi))
    if district_id is not None:
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
    """EXISTS: the roster entry's child has a live (not withdrawn) application for the level."""
    return (
        sa.select(Application.id)
        .join(Child, Child.id == Application.child_id)
        .where(
            Child.roster_entry_id == RosterEntry.id,
            Application.admission_level_id == level.id,
            Application.status != ApplicationStatus.WITHDRAWN,
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


@dataclass
class Page:
    rows: list
    page: int
    per_page: int
    total: int

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total


def eligible_not_registered(
    level: AdmissionLevel,
    district_id: int,
    *,
    school_id: int | None = None,
    ward_id: int | None = None,
    unassigned: bool = False,
    page: int = 1,
    per_page: int = 50,
) -> Page:
    """Eligible children of the district without a live application for the level (paginated).

    Queries: catchment lines, (school filter: groups), count, rows, school names — bounded
    whatever the page size.
    """
    cmap = catchment_map(level.level)
    q = eligible_roster_query(level, district_id).where(~_registered(level))
    if ward_id:
        q = q.where(RosterEntry.ward_id == ward_id)
    if school_id:
        q = q.where(school_area_filter(cmap, school_id))
    elif unassigned:
        q = q.where(no_catchment_filter(cmap, district_id))
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.subquery()))
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
        .order_by(RosterEntry.full_name, RosterEntry.id)
        .limit(per_page)
        .offset((page - 1) * per_page)
    )
    raw = db.session.execute(rows_q).all()
    results = [cmap.derive(r.ward_id, r.residential_group_id) for r, *_ in raw]
    names = school_names({c.school_id for c in results if c.school_id})
    rows = [
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
    return Page(rows, page, per_page, total or 0)


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


_SPARE_TTL = 300.0  # seconds: catchment demand changes only with a roster import


def spare_seats_by_school(level: AdmissionLevel, district_id: int) -> dict[int, int]:
    """Spare seats (rules.spare_seats) of the district's schools of the level, cached briefly.

    On the first morning of a window tens of thousands of families open the form: the demand is
    an aggregate over the roster, so it is computed once per level and district every few minutes.
    """
    cache = current_app.extensions.setdefault("admissions_spare_cache", {})
    key = (level.id, district_id)
    hit = cache.get(key)
    if hit and hit[0] > time.monotonic():
        return hit[1]
    demand, _ = catchment_demand(level, district_id)
    schools = db.session.execute(
        sa.select(School.id, School.capacity).where(
            School.level == level.level, School.district_id == district_id
        )
    ).all()
    spare = {sid: rules.spare_seats(cap, demand.get(sid, 0)) for sid, cap in schools}
    cache[key] = (time.monotonic() + _SPARE_TTL, spare)
    return spare


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
    eligible = eligible_roster_query(level, district_id)
    demand, unassigned = Counter(), 0
    for ward_id, group_id, n in _area_counts(eligible):
        sid = cmap.derive(ward_id, group_id).school_id
        if sid is None:
            unassigned += n
        else:
            demand[sid] += n
    with_code = eligible.where(
        sa.exists().where(
            AdmissionCode.roster_entry_id == RosterEntry.id, AdmissionCode.admission_level_id == level.id
        )
    )
    codes, codes_unassigned = Counter(), 0
    for ward_id, group_id, n in _area_counts(with_code):
        sid = cmap.derive(ward_id, group_id).school_id
        if sid is None:
            codes_unassigned += n
        else:
            codes[sid] += n
    apps = dict(
        db.session.execute(
            sa.select(Application.catchment_school_id, sa.func.count())
            .where(
                Application.admission_level_id == level.id, Application.status != ApplicationStatus.WITHDRAWN
            )
            .group_by(Application.catchment_school_id)
        ).all()
    )
    schools = db.session.scalars(
        sa.select(School)
        .where(School.level == level.level, School.district_id == district_id)
        .order_by(School.name)
    ).all()
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
        "applications": sum(apps.values()),
    }
    return rows, totals


# =============================================================================================
# Admission codes
# =============================================================================================

CODE_BATCH = 1000


def generate_codes(level: AdmissionLevel, district_id: int | None, *, record: bool = True) -> int:
    """Give every eligible child of the level (in the district) a code; idempotent.

    Children who already have one keep it. Returns how many codes were created.
    """
    missing = list(
        db.session.scalars(
            eligible_roster_query(level, district_id)
            .where(
                ~sa.exists().where(
                    AdmissionCode.roster_entry_id == RosterEntry.id,
                    AdmissionCode.admission_level_id == level.id,
                )
            )
            .with_only_columns(RosterEntry.id)
            .order_by(RosterEntry.id)
        )
    )
    created = 0
    trial = level.season.is_trial
    at = now()
    for start in range(0, len(missing), CODE_BATCH):
        batch = missing[start : start + CODE_BATCH]
        for attempt in range(3):
            codes = _fresh_codes(len(batch))
            try:
                with db.session.begin_nested():
                    db.session.execute(
                        sa.insert(AdmissionCode),
                        [
                            {
                                "code": c,
                                "admission_level_id": level.id,
                                "roster_entry_id": rid,
                                "is_trial": trial,
                                "created_at": at,
                                "failed_attempts": 0,
                            }
                            for c, rid in zip(codes, batch, strict=True)
                        ],
                    )
            except IntegrityError:
                # Another officer generated some of these at the same moment (or, once in a
                # blue moon, a code collided): keep what exists, retry the rest.
                if attempt == 2:
                    raise
                taken = set(
                    db.session.scalars(
                        sa.select(AdmissionCode.roster_entry_id).where(
                            AdmissionCode.admission_level_id == level.id,
                            AdmissionCode.roster_entry_id.in_(batch),
                        )
                    )
                )
                batch = [rid for rid in batch if rid not in taken]
                if not batch:
                    break
                continue
            created += len(batch)
            break
    if record:
        audit(
            "admissions.codes.generate",
            ("admission_level", level.id),
            district_id=district_id,
            created=created,
        )
    return created


def _fresh_codes(n: int) -> list[str]:
    """n new codes, unique among themselves and against the table (40 random bits each)."""
    codes: set[str] = set()
    while len(codes) < n:
        wanted = {rules.new_code() for _ in range(n - len(codes))} - codes
        clash = set(db.session.scalars(sa.select(AdmissionCode.code).where(AdmissionCode.code.in_(wanted))))
        codes |= wanted - clash
    return list(codes)


EXPORT_HEADERS = (
    "admission_code",
    "full_name",
    "date_of_birth",
    "gender",
    "ward",
    "residential_group",
    "residence_type",
    "catchment_school",
)


def export_codes(
    level: AdmissionLevel, district_id: int, school: School | None, labels: dict
) -> tuple[bytes, int]:
    """The codes of the children in a school's catchment (or with no single school) as .xlsx.

    Every cell is a string cell (codes and dates keep their exact form; the header row is also
    formatted as text) and formula-like text is escaped.
    `labels` translates headers and values (the view passes the current language's labels).
    Audited by the caller's action name; returns (file bytes, rows).
    """
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    cmap = catchment_map(level.level)
    area = school_area_filter(cmap, school.id) if school else no_catchment_filter(cmap, district_id)
    q = (
        eligible_roster_query(level, district_id)
        .where(area)
        .add_columns(AdmissionCode.code, Ward.name, ResidentialGroup.name)
        .join(
            AdmissionCode,
            sa.and_(
                AdmissionCode.roster_entry_id == RosterEntry.id, AdmissionCode.admission_level_id == level.id
            ),
        )
        .join(Ward, Ward.id == RosterEntry.ward_id)
        .outerjoin(ResidentialGroup, ResidentialGroup.id == RosterEntry.residential_group_id)
        .order_by(Ward.name, ResidentialGroup.name, RosterEntry.full_name, RosterEntry.id)
    )
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title="codes")
    ws.column_dimensions["A"].width = 14
    ws.column_dimensions["B"].width = 30
    bold = Font(bold=True)

    def text(value):
        cell = WriteOnlyCell(ws, value=rules.excel_text(value))
        cell.data_type = "s"
        cell.number_format = "@"
        return cell

    header = []
    for h in EXPORT_HEADERS:
        c = text(labels["headers"][h])
        c.font = bold
        header.append(c)
    ws.append(header)
    n = 0
    school_name = school.name if school else labels["no_catchment"]
    safe = rules.excel_text
    for r, code, ward_name, group_name in db.session.execute(q).yield_per(2000):
        # Plain str values are written as string cells (escaped text never starts with "="):
        # half the time of styled cells on big catchments.
        ws.append(
            [
                rules.format_code(code),
                safe(r.full_name),
                r.date_of_birth.strftime("%d/%m/%Y"),
                safe(labels["gender"][r.gender]),
                safe(ward_name),
                safe(group_name or ""),
                safe(labels["residence"][r.residence_type]),
                safe(school_name),
            ]
        )
        n += 1
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue(), n


# =============================================================================================
# Children (parents)
# =============================================================================================


@dataclass
class Identity:
    full_name: str
    date_of_birth: date
    gender: str
    ward_id: int
    residential_group_id: int | None
    residence_type: str
    source: str


def _digits(text: str | None) -> str:
    return "".join(ch for ch in (text or "") if ch.isdigit())


def record_failed_attempt(code: AdmissionCode, at: datetime) -> None:
    """Count a failure on a code (atomic increment); the 5th within a lock period locks it."""
    db.session.execute(
        sa.update(AdmissionCode)
        .where(AdmissionCode.id == code.id)
        .values(failed_attempts=AdmissionCode.failed_attempts + 1)
    )
    db.session.refresh(code, ["failed_attempts"])
    if code.failed_attempts >= rules.MAX_FAILED_ATTEMPTS:
        code.locked_until = at + rules.LOCK_DURATION
        code.failed_attempts = 0
    db.session.flush()


def _identity_from_registry(record, roster: RosterEntry) -> Identity:
    """Residence from the registry, mapped to our wards; falls back to the roster's address."""
    ward_id, group_id = roster.ward_id, roster.residential_group_id
    q = sa.select(Ward).join(District).where(Ward.name == record.ward)
    if record.district:
        q = q.where(sa.or_(District.name == record.district, District.code == record.district))
    ward = db.session.scalars(q).first()
    if ward is not None:
        ward_id, group_id = ward.id, None
        if record.residential_group:
            group_id = db.session.scalar(
                sa.select(ResidentialGroup.id).where(
                    ResidentialGroup.ward_id == ward.id, ResidentialGroup.name == record.residential_group
                )
            )
    return Identity(
        record.full_name,
        record.date_of_birth,
        record.gender,
        ward_id,
        group_id,
        record.residence_type,
        "registry",
    )


def add_child(user: User, raw_code: str, personal_id: str, date_of_birth: date) -> tuple[Child, bool]:
    """Link the child identified by code + personal ID + date of birth to the parent's account.

    Returns (child, newly_linked). Raises AdmissionError with code:
    bad_code (check symbol wrong: a typo, not counted), unknown_code, locked (until=…),
    mismatch (left=…), registry_down (not counted).
    """
    canonical = rules.normalize_code(raw_code)
    if canonical is None or not rules.code_is_well_formed(canonical):
        raise AdmissionError("bad_code", "code")
    code = db.session.scalar(
        sa.select(AdmissionCode)
        .where(AdmissionCode.code == canonical)
        .options(
            joinedload(AdmissionCode.roster_entry),
            joinedload(AdmissionCode.admission_level).joinedload(AdmissionLevel.season),
        )
    )
    if code is None:
        raise AdmissionError("unknown_code", "code")
    at = now()
    if rules.is_locked(code.locked_until, at):
        raise AdmissionError("locked", "code", until=code.locked_until)
    roster = code.roster_entry
    identity: Identity | None = None
    if _digits(personal_id) == roster.personal_id:
        registry = client_from_config(current_app.config)
        if registry is not None:
            try:
                record = registry.lookup(roster.personal_id, date_of_birth)
            except RegistryUnavailable as err:
                raise AdmissionError("registry_down") from err
            if record is not None:
                identity = _identity_from_registry(record, roster)
        elif roster.date_of_birth == date_of_birth:
            identity = Identity(
                roster.full_name,
                roster.date_of_birth,
                roster.gender,
                roster.ward_id,
                roster.residential_group_id,
                roster.residence_type,
                "roster",
            )
    if identity is None:
        record_failed_attempt(code, at)
        audit("child.add_failed", ("admission_code", code.id), actor_id=user.id)
        if rules.is_locked(code.locked_until, at):
            raise AdmissionError("locked", "code", until=code.locked_until)
        raise AdmissionError("mismatch", "code", left=rules.MAX_FAILED_ATTEMPTS - code.failed_attempts)
    code.failed_attempts = 0
    code.locked_until = None
    code.used_at = code.used_at or at
    season = code.admission_level.season
    child = db.session.scalar(sa.select(Child).where(Child.roster_entry_id == roster.id))
    if child is None:
        child = Child(roster_entry_id=roster.id, trial_season_id=season.id if season.is_trial else None)
        db.session.add(child)
    for name in (
        "full_name",
        "date_of_birth",
        "gender",
        "ward_id",
        "residential_group_id",
        "residence_type",
        "source",
    ):
        setattr(child, name, getattr(identity, name))
    db.session.flush()
    linked = db.session.scalar(
        sa.select(ParentChild.id).where(ParentChild.user_id == user.id, ParentChild.child_id == child.id)
    )
    if linked is None:
        db.session.add(ParentChild(user_id=user.id, child_id=child.id))
        db.session.flush()
    audit(
        "child.add",
        child,
        actor_id=user.id,
        code_id=code.id,
        level_id=code.admission_level_id,
        source=identity.source,
        new_link=linked is None,
    )
    return child, linked is None


def children_of(user: User) -> list[Child]:
    q = (
        sa.select(Child)
        .join(ParentChild, ParentChild.child_id == Child.id)
        .where(ParentChild.user_id == user.id)
        .options(joinedload(Child.ward), joinedload(Child.residential_group))
        .order_by(Child.date_of_birth.desc(), Child.id)
    )
    return list(db.session.scalars(q))


def child_of(user: User, child_id: int) -> Child | None:
    """The child if `user` is one of its parents, else None (the view answers 404)."""
    return db.session.scalar(
        sa.select(Child)
        .join(ParentChild, ParentChild.child_id == Child.id)
        .where(ParentChild.user_id == user.id, Child.id == child_id)
        .options(joinedload(Child.ward), joinedload(Child.residential_group))
    )


def application_of(user: User, application_id: int) -> Application | None:
    return db.session.scalar(
        sa.select(Application)
        .join(ParentChild, ParentChild.child_id == Application.child_id)
        .where(ParentChild.user_id == user.id, Application.id == application_id)
        .options(
            joinedload(Application.child),
            joinedload(Application.admission_level).joinedload(AdmissionLevel.season),
            selectinload(Application.choices).joinedload(ApplicationChoice.school),
        )
    )


def applications_by_child(child_ids: list[int]) -> dict[int, list[Application]]:
    """Every application of these children (newest season first), choices and schools loaded."""
    out: dict[int, list[Application]] = {cid: [] for cid in child_ids}
    if not child_ids:
        return out
    q = (
        sa.select(Application)
        .where(Application.child_id.in_(child_ids))
        .options(
            joinedload(Application.admission_level)
            .joinedload(AdmissionLevel.season)
            .joinedload(AdmissionSeason.academic_year),
            joinedload(Application.allocated_school),
            selectinload(Application.choices).joinedload(ApplicationChoice.school),
        )
        .order_by(Application.submitted_at.desc())
    )
    for app_ in db.session.scalars(q).unique():
        out[app_.child_id].append(app_)
    return out


# =============================================================================================
# Applications
# =============================================================================================


@dataclass
class ApplyContext:
    """What a family can do for one child in the current season."""

    child: Child
    season: AdmissionSeason | None
    level: AdmissionLevel | None
    reason: (
        str | None
    )  # why applying is not possible now: no_season, not_eligible, not_scheduled, upcoming, closed
    window: rules.Window = field(default_factory=lambda: rules.Window(None, None))
    catchment: rules.CatchmentResult = field(default_factory=lambda: rules.CatchmentResult(None, "none"))
    catchment_school: School | None = None
    options: list[School] = field(default_factory=list)  # schools that may be ranked
    sibling_options: list[School] = field(default_factory=list)
    application: Application | None = None

    @property
    def is_open(self) -> bool:
        return self.reason is None

    @property
    def district_id(self) -> int:
        return self.child.ward.district_id


def apply_context(child: Child, season: AdmissionSeason | None = None) -> ApplyContext:
    season = season or current_season()
    if season is None:
        return ApplyContext(child, None, None, "no_season")
    level = next(
        (
            lv
            for lv in season.levels
            if rules.is_age_eligible(lv.level, season.intake_year, child.date_of_birth)
        ),
        None,
    )
    if level is None:
        return ApplyContext(child, season, None, "not_eligible")
    ctx = ApplyContext(child, season, level, None, window=level_window(level))
    ctx.application = db.session.scalar(
        sa.select(Application)
        .where(Application.child_id == child.id, Application.admission_level_id == level.id)
        .options(selectinload(Application.choices).joinedload(ApplicationChoice.school))
    )
    at = now()
    if level.state != LevelState.SCHEDULED:
        ctx.reason = "not_scheduled"
    elif not ctx.window.is_open(at):
        ctx.reason = "upcoming" if ctx.window.status(at) in ("upcoming", "unset") else "closed"
    ctx.catchment = catchment_for(level.level, child.ward_id, child.residential_group_id)
    district_id = child.ward.district_id
    schools = db.session.scalars(
        sa.select(School)
        .where(School.level == level.level, School.district_id == district_id)
        .order_by(School.name)
    ).all()
    by_id = {s.id: s for s in schools}
    if ctx.catchment.school_id is not None:
        ctx.catchment_school = by_id.get(ctx.catchment.school_id) or db.session.get(
            School, ctx.catchment.school_id
        )
    spare = spare_seats_by_school(level, district_id)
    ctx.options = [
        s
        for s in schools
        if s.id != ctx.catchment.school_id and (spare.get(s.id, 0) > 0 or s.id in ctx.catchment.candidates)
    ]
    ctx.sibling_options = list(schools)
    return ctx


REFERENCE_PREFIX = {"kindergarten": "MN", "grade1": "L1", "grade6": "L6"}


def _new_reference(level: AdmissionLevel) -> str:
    year = level.season.intake_year % 100
    while True:
        ref = f"{REFERENCE_PREFIX[level.level]}-{year:02d}-" + "".join(
            rules.ALPHABET[secrets.randbelow(32)] for _ in range(7)
        )
        if db.session.scalar(sa.select(Application.id).where(Application.reference == ref)) is None:
            return ref


@dataclass
class SubmitResult:
    application: Application
    outcome: str  # created | updated | resubmitted | replayed | exists


def submit_application(
    ctx: ApplyContext,
    user: User,
    others: list[int],
    sibling_school_id: int | None,
    token: str,
    expected_application_id: int | None,
) -> SubmitResult:
    """Create or change the child's application (idempotent per form token).

    - Same token as the application's last one → nothing changes ("replayed": a double click,
      a retry after a timeout).
    - A "new application" form (expected_application_id None) that finds an application created
      meanwhile (another tab, another parent, a concurrent request) changes nothing ("exists").
    - Otherwise the application's choices are replaced ("updated"; "resubmitted" after a withdrawal).
    """
    if not ctx.is_open:
        raise AdmissionError(ctx.reason or "closed")
    level = ctx.level
    assert level is not None
    catchment_id = ctx.catchment.school_id
    allowed = {s.id for s in ctx.options}
    problems = rules.choice_problems(others, allowed, catchment_id)
    if problems:
        raise AdmissionError(problems[0], "choices")
    siblings = []
    if sibling_school_id:
        if sibling_school_id not in {s.id for s in ctx.sibling_options}:
            raise AdmissionError("not_allowed", "sibling_school")
        siblings = [sibling_school_id]
    existing = ctx.application
    if existing is not None:
        if existing.idempotency_key == token:
            return SubmitResult(existing, "replayed")
        if expected_application_id != existing.id:
            return SubmitResult(existing, "exists")
        return _update(existing, ctx, user, others, siblings, token)
    at = now()
    app_ = Application(
        reference=_new_reference(level),
        child_id=ctx.child.id,
        admission_level_id=level.id,
        status=ApplicationStatus.SUBMITTED,
        is_trial=ctx.season.is_trial,
        catchment_school_id=catchment_id,
        catchment_status=ctx.catchment.status,
        residence_type=ctx.child.residence_type,
        sibling_school_ids=siblings,
        idempotency_key=token,
        submitted_by_id=user.id,
        submitted_at=at,
        updated_at=at,
    )
    app_.choices = [
        ApplicationChoice(rank=r, school_id=sid, is_catchment=c)
        for r, sid, c in rules.ranked_choices(others, catchment_id)
    ]
    try:
        with db.session.begin_nested():
            db.session.add(app_)
            db.session.flush()
    except IntegrityError:
        # A concurrent request (same form twice, two tabs, the other parent) won the race.
        existing = db.session.scalar(
            sa.select(Application).where(
                Application.child_id == ctx.child.id, Application.admission_level_id == level.id
            )
        )
        if existing is None:
            raise
        return SubmitResult(existing, "replayed" if existing.idempotency_key == token else "exists")
    audit("application.submit", app_, actor_id=user.id, level_id=level.id, choices=len(app_.choices))
    return SubmitResult(app_, "created")


def _update(
    app_: Application, ctx: ApplyContext, user: User, others: list[int], siblings: list[int], token: str
) -> SubmitResult:
    outcome = "resubmitted" if app_.is_withdrawn else "updated"
    if app_.status not in (ApplicationStatus.SUBMITTED, ApplicationStatus.WITHDRAWN):
        raise AdmissionError("locked_status")
    catchment_id = ctx.catchment.school_id
    # Replace the ranked list: delete first so that (application, rank) stays unique.
    app_.choices.clear()
    db.session.flush()
    app_.choices = [
        ApplicationChoice(rank=r, school_id=sid, is_catchment=c)
        for r, sid, c in rules.ranked_choices(others, catchment_id)
    ]
    app_.catchment_school_id = catchment_id
    app_.catchment_status = ctx.catchment.status
    app_.residence_type = ctx.child.residence_type
    app_.sibling_school_ids = siblings
    app_.status = ApplicationStatus.SUBMITTED
    app_.withdrawn_at = None
    app_.idempotency_key = token
    app_.updated_at = now()
    db.session.flush()
    audit(
        f"application.{'resubmit' if outcome == 'resubmitted' else 'edit'}",
        app_,
        actor_id=user.id,
        choices=len(app_.choices),
    )
    return SubmitResult(app_, outcome)


def withdraw_application(ctx: ApplyContext, user: User) -> Application:
    app_ = ctx.application
    if app_ is None:
        raise AdmissionError("no_application")
    if app_.is_withdrawn:
        return app_  # idempotent
    if not ctx.is_open:
        raise AdmissionError(ctx.reason or "closed")
    if app_.status != ApplicationStatus.SUBMITTED:
        raise AdmissionError("locked_status")
    app_.status = ApplicationStatus.WITHDRAWN
    app_.withdrawn_at = app_.updated_at = now()
    app_.idempotency_key = None
    db.session.flush()
    audit("application.withdraw", app_, actor_id=user.id)
    return app_
