"""The admissions calendar: seasons, their levels' registration windows, the trial and its wipe.

Functions change data and flush only; the boundary (view, CLI, job) commits.

- **Seasons are city-wide.** The city sets one calendar per academic year (the three staggered
  windows, the trial); city administrators create and edit it. District officers run their part:
  the eligible list, admission codes and code exports for *their* district.
- **Trial**: while a season is in the trial phase, the trial window (season-wide) is the one
  that counts and everything created is marked as trial; "end the trial" wipes it and switches
  the season to official, allowed only before any official window has opened.
"""

from __future__ import annotations

import functools
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import aliased, joinedload, selectinload

from app.audit import audit, audit_time
from app.extensions import db
from app.models import AcademicYear, User, utcnow

from . import counters, rules
from .freeze_models import EntryFreeze, RoundAttempt, RoundCommitment
from .models import (
    AdmissionCode,
    AdmissionLevel,
    AdmissionSeason,
    AllocationOutcome,
    AllocationRound,
    Application,
    ApplicationChoice,
    Child,
    LevelState,
    ParentChild,
    SeasonPhase,
)
from .rules import AdmissionError


def now() -> datetime:
    """Server time (naive UTC), the only clock windows are checked against."""
    return utcnow()


def timezone() -> str:
    return current_app.config.get("BABEL_DEFAULT_TIMEZONE", "Asia/Ho_Chi_Minh")


def academic_years() -> list[AcademicYear]:
    """The years a season can be created for, latest first."""
    return list(db.session.scalars(sa.select(AcademicYear).order_by(AcademicYear.starts_on.desc())))


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
    return db.session.scalars(_current_season_statement()).unique().first()


@functools.cache
def _current_season_statement() -> sa.Select:
    """Built once: every parent's page of the journey asks."""
    return (
        sa.select(AdmissionSeason)
        .join(AcademicYear)
        # one statement (the levels joined, not selected after)
        .options(joinedload(AdmissionSeason.academic_year), joinedload(AdmissionSeason.levels))
        .order_by(AcademicYear.is_current.desc(), AcademicYear.starts_on.desc())
        .limit(1)
    )


def current_season_id() -> sa.ScalarSelect:
    """The current season's id (as `current_season` chooses it) as a scalar subquery, for the
    family's pages to join the season to what they load (its own aliases, never correlated)."""
    season, year = aliased(AdmissionSeason), aliased(AcademicYear)
    return (
        sa.select(season.id)
        .join(year, year.id == season.academic_year_id)
        .order_by(year.is_current.desc(), year.starts_on.desc())
        .limit(1)
        .correlate(None)
        .scalar_subquery()
    )


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


def update_schedule(
    season: AdmissionSeason, settings: dict[str, rules.LevelSetting], trial_window: rules.Window | None
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
    changes = [
        {"field": f"{lvl}.{name}", "before": _logged(getattr(by_level[lvl], name)), "after": _logged(value)}
        for lvl, s in settings.items()
        for name, value in (
            ("opens_at", s.opens_at),
            ("closes_at", s.closes_at),
            ("confirm_by", s.confirm_by),
            ("state", s.state),
        )
        if getattr(by_level[lvl], name) != value
    ]
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
        changes=changes,
        phase=season.phase,
    )


def _logged(value):
    return audit_time(value) if isinstance(value, datetime) else (str(value) if value is not None else None)


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
    db.session.execute(sa.delete(RoundAttempt).where(RoundAttempt.round_id.in_(trial_rounds)))
    for model in (EntryFreeze, RoundCommitment):  # the trial's public record goes with it
        db.session.execute(
            sa.delete(model).where(model.admission_level_id.in_(level_ids), model.is_trial.is_(True))
        )
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
    for level_id in level_ids:
        counters.recompute_for_season(level_id)
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


def set_choice_limit(level: AdmissionLevel, limit: int, actor: User) -> AdmissionLevel:
    """How many schools besides the catchment school a family may rank for this level. Refused once
    its window has opened ("window_opened"): families already ranked under the old limit."""
    if not 0 <= limit <= rules.MAX_CHOICE_LIMIT:
        raise AdmissionError("bad_limit")
    opens = level_window(level).opens_at
    if opens is not None and opens <= now():
        raise AdmissionError("window_opened")
    before = level.max_other_choices
    if before != limit:
        level.max_other_choices = limit
        db.session.flush()
        audit("admissions.level.choice_limit", level, actor_id=actor.id, before=before, after=limit)
    return level
