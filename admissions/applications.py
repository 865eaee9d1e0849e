"""Children and applications: a family adds a child with its admission code, then applies.

Functions change data and flush only; the boundary (view, CLI, job) commits.
"""

from __future__ import annotations

import functools
import secrets
from dataclasses import dataclass, field
from datetime import date
from typing import NamedTuple

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import joinedload, make_transient_to_detached
from sqlalchemy.orm.attributes import set_committed_value

from app.audit import audit, audit_now
from app.extensions import db
from app.models import User, Ward

from . import counters, rules
from .codes import record_failed_attempt
from .identity import Identity, digits, identity_from_registry
from .models import (
    AdmissionCode,
    AdmissionLevel,
    AdmissionSeason,
    Application,
    ApplicationChoice,
    ApplicationStatus,
    Child,
    LevelState,
    ParentChild,
)
from .places import Place, places_for
from .registry import RegistryUnavailable, client_from_config
from .rules import AdmissionError
from .seasons import current_season, level_window, now

PLACED = (ApplicationStatus.OFFERED, ApplicationStatus.CONFIRMED)  # holding a seat
VALUES_CHUNK = 5000  # rows per bulk UPDATE of applications (PostgreSQL allows 65,535 parameters)


def in_district(district_id: int):
    """WHERE clause on Application: the child lives in the district."""
    return Application.child_id.in_(
        sa.select(Child.id).join(Ward, Ward.id == Child.ward_id).where(Ward.district_id == district_id)
    )


def in_district_table(district_id: int):
    """The same clause on the application table (for bulk UPDATE statements)."""
    t = Application.__table__
    return t.c.child_id.in_(
        sa.select(Child.id).join(Ward, Ward.id == Child.ward_id).where(Ward.district_id == district_id)
    )


def lock_row(obj) -> None:
    """SELECT … FOR UPDATE the object's row (PostgreSQL; SQLite serialises writers anyway), then
    reload it, so that a concurrent change made before the lock is seen."""
    model = type(obj)
    db.session.execute(sa.select(model.id).where(model.id == obj.id).with_for_update())
    db.session.refresh(obj)


class Added(NamedTuple):
    child: Child
    new: bool  # newly linked to the parent
    season: AdmissionSeason  # the code's, loaded with it


def add_child(user: User, raw_code: str, personal_id: str, date_of_birth: date) -> tuple[Child, bool]:
    """`link_child`'s child and whether it was newly linked."""
    added = link_child(user, raw_code, personal_id, date_of_birth)
    return added.child, added.new


# Adding a child writes with statements built once (the ORM's unit of work for the code, the
# child and the link was half of the step's CPU): the same rows, in the same transaction.
_CODE_USED = (
    sa.update(AdmissionCode.__table__)
    .where(AdmissionCode.__table__.c.id == sa.bindparam("code_id"))
    .values(failed_attempts=0, locked_until=None, used_at=sa.bindparam("used_at"))
)
_NEW_CHILD = sa.insert(Child.__table__).returning(Child.__table__.c.id)
_NEW_LINK = sa.insert(ParentChild.__table__)


def _code_used(code: AdmissionCode, at) -> None:
    """The code's attempts reset and its first use kept (no statement when nothing changes);
    the loaded object shows the row as written."""
    used_at = code.used_at or at
    if code.failed_attempts == 0 and code.locked_until is None and code.used_at == used_at:
        return
    db.session.execute(_CODE_USED, {"code_id": code.id, "used_at": used_at})
    for name, value in (("failed_attempts", 0), ("locked_until", None), ("used_at", used_at)):
        set_committed_value(code, name, value)


def _new_child(roster_id: int, trial_season_id: int | None, found: dict, at) -> Child:
    """INSERT … RETURNING id; the row put in the session as written (not selected again)."""
    values = {"roster_entry_id": roster_id, "trial_season_id": trial_season_id, "created_at": at, **found}
    child = Child(id=db.session.scalar(_NEW_CHILD, values), **values)
    make_transient_to_detached(child)
    db.session.add(child)
    return child


def link_child(user: User, raw_code: str, personal_id: str, date_of_birth: date) -> Added:
    """Link the child identified by code + personal ID + date of birth to the parent's account.

    Raises AdmissionError with code:
    bad_code (check symbol wrong: a typo, not counted), unknown_code, locked (until=…),
    mismatch (left=…), registry_down (not counted).
    """
    canonical = rules.normalize_code(raw_code)
    if canonical is None or not rules.code_is_well_formed(canonical):
        raise AdmissionError("bad_code", "code")
    row = db.session.execute(_code_statement(), {"code": canonical, "user_id": user.id}).unique().first()
    if row is None:
        raise AdmissionError("unknown_code", "code")
    code, child, linked = row
    at = now()
    if rules.is_locked(code.locked_until, at):
        raise AdmissionError("locked", "code", until=code.locked_until)
    roster = code.roster_entry
    identity: Identity | None = None
    if digits(personal_id) == roster.personal_id:
        registry = client_from_config(current_app.config)
        if registry is not None:
            try:
                record = registry.lookup(roster.personal_id, date_of_birth)
            except RegistryUnavailable as err:
                raise AdmissionError("registry_down") from err
            if record is not None:
                identity = identity_from_registry(record, roster)
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
    _code_used(code, at)
    season = code.admission_level.season
    found = dict(vars(identity))  # the child's fields: name, birth date, gender, address, source
    if child is None:
        child = _new_child(roster.id, season.id if season.is_trial else None, found, at)
    else:
        for name, value in found.items():
            setattr(child, name, value)  # written with the audit entry's flush if it changed
    if linked is None:
        db.session.execute(_NEW_LINK, {"user_id": user.id, "child_id": child.id, "created_at": at})
    audit_now(
        "child.add",
        child,
        actor_id=user.id,
        code_id=code.id,
        level_id=code.admission_level_id,
        source=identity.source,
        new_link=linked is None,
    )
    return Added(child, linked is None, season)


@functools.cache
def _application_statement() -> sa.Select:
    """The child's application for a level with its choices and their schools, built once."""
    return (
        sa.select(Application)
        .where(
            Application.child_id == sa.bindparam("child_id"),
            Application.admission_level_id == sa.bindparam("level_id"),
        )
        .options(joinedload(Application.choices).joinedload(ApplicationChoice.school))
    )


@functools.cache
def _code_statement() -> sa.Select:
    """The code, its roster entry and season, the child already made from that entry and the
    parent's link to it: one statement, built once."""
    return (
        sa.select(AdmissionCode, Child, ParentChild.id)
        .outerjoin(Child, Child.roster_entry_id == AdmissionCode.roster_entry_id)
        .outerjoin(
            ParentChild,
            sa.and_(ParentChild.child_id == Child.id, ParentChild.user_id == sa.bindparam("user_id")),
        )
        .where(AdmissionCode.code == sa.bindparam("code"))
        .options(
            joinedload(AdmissionCode.roster_entry),
            # the season as the warning after adding reads it (closed_without_application)
            joinedload(AdmissionCode.admission_level)
            .joinedload(AdmissionLevel.season)
            .options(joinedload(AdmissionSeason.academic_year), joinedload(AdmissionSeason.levels)),
        )
    )


@dataclass
class ApplyContext:
    """What a family can do for one child in the current season."""

    child: Child
    season: AdmissionSeason | None
    level: AdmissionLevel | None
    # why applying is not possible now: no_season, not_eligible, not_scheduled, upcoming, closed
    reason: str | None
    window: rules.Window = field(default_factory=lambda: rules.Window(None, None))
    catchment: rules.CatchmentResult = field(default_factory=lambda: rules.CatchmentResult(None, "none"))
    catchment_school: Place | None = None
    options: list[Place] = field(default_factory=list)  # schools that may be ranked
    sibling_options: list[Place] = field(default_factory=list)
    application: Application | None = None

    @property
    def is_open(self) -> bool:
        return self.reason is None

    @property
    def district_id(self) -> int:
        return self.child.ward.district_id


def apply_context(
    child: Child,
    season: AdmissionSeason | None = None,
    *,
    options: bool = True,
    choosable: bool = True,
    loaded: list[Application] | None = None,
) -> ApplyContext:
    """Where `child` stands this season: level, window, application, and (with `options`) the
    catchment school and (with `choosable` too) the schools that may be chosen. `loaded`: the
    child's applications as `family.applications_by_child` loaded them (choices and schools), not
    selected again."""
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
    if loaded is not None:
        ctx.application = next((a for a in loaded if a.admission_level_id == level.id), None)
    else:
        ctx.application = (
            db.session.scalars(_application_statement(), {"child_id": child.id, "level_id": level.id})
            .unique()
            .first()
        )
    at = now()
    if level.state != LevelState.SCHEDULED:
        ctx.reason = "not_scheduled"
    elif not ctx.window.is_open(at):
        ctx.reason = "upcoming" if ctx.window.status(at) in ("upcoming", "unset") else "closed"
    if not options:
        return ctx
    places = places_for(season, level, child.ward.district_id, child.ward_id, child.residential_group_id)
    ctx.catchment, ctx.catchment_school = places.catchment, places.catchment_school
    if not choosable:  # the child's page: the catchment school alone
        return ctx
    ctx.options = [
        s
        for s in places.schools
        if s.id != ctx.catchment.school_id
        and (places.spare.get(s.id, 0) > 0 or s.id in ctx.catchment.candidates)
    ]
    ctx.sibling_options = places.schools
    return ctx


def closed_without_application(child: Child, code_season: AdmissionSeason | None = None) -> bool:
    """After adding a child: this season's registration has closed and the child has no
    application (looked up only then: while the window is open, one statement fewer).
    `code_season`: the season of the code just used, loaded with it; when its year is the current
    one it is the current season (one season per year, one current year) and is not read again."""
    current = code_season if code_season is not None and code_season.academic_year.is_current else None
    ctx = apply_context(child, current, options=False, loaded=[])
    if ctx.reason != "closed":
        return False
    return (
        db.session.scalar(
            sa.select(Application.id).where(
                Application.child_id == child.id, Application.admission_level_id == ctx.level.id
            )
        )
        is None
    )


REFERENCE_PREFIX = {"kindergarten": "MN", "grade1": "L1", "grade6": "L6"}
REFERENCE_ATTEMPTS = 5  # new references tried when one is taken (32^7 of them per level and year)


_NEW_CHOICES = sa.insert(ApplicationChoice.__table__)  # built once


@functools.cache
def _new_application(dialect: str) -> sa.Insert:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id on the table (both databases have it), built
    once per dialect; the row goes as parameters (an ORM insert with its values was built and
    compiled again on every submit)."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(Application.__table__).on_conflict_do_nothing().returning(Application.__table__.c.id)


def _new_reference(level: AdmissionLevel) -> str:
    """A random reference; not checked here: the unique constraint refuses a taken one and
    `submit_application` draws again."""
    year = level.season.intake_year % 100
    return f"{REFERENCE_PREFIX[level.level]}-{year:02d}-" + "".join(
        rules.ALPHABET[secrets.randbelow(32)] for _ in range(7)
    )


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
    problems = rules.choice_problems(others, allowed, catchment_id, level.max_other_choices)
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
    rows = [
        {"rank": r, "school_id": sid, "is_catchment": c}
        for r, sid, c in rules.ranked_choices(others, catchment_id)
    ]
    values = {
        "child_id": ctx.child.id,
        "admission_level_id": level.id,
        "status": ApplicationStatus.SUBMITTED,
        "is_trial": ctx.season.is_trial,
        "catchment_school_id": catchment_id,
        "catchment_status": ctx.catchment.status,
        "residence_type": ctx.child.residence_type,
        "sibling_school_ids": siblings,
        "idempotency_key": token,
        "submitted_by_id": user.id,
        "submitted_at": at,
        "updated_at": at,
    }
    for _attempt in range(REFERENCE_ATTEMPTS):
        values["reference"] = _new_reference(level)
        # INSERT … ON CONFLICT DO NOTHING: no savepoint, and no error to recover from when a
        # unique constraint refuses the row.
        new_id = db.session.scalar(_new_application(db.session.get_bind().dialect.name), values)
        if new_id is not None:
            break
        # A concurrent request (same form twice, two tabs, the other parent) won the race,
        # or (rarely) the reference drawn is taken: draw again.
        existing = db.session.scalar(
            sa.select(Application).where(
                Application.child_id == ctx.child.id, Application.admission_level_id == level.id
            )
        )
        if existing is not None:
            return SubmitResult(existing, "replayed" if existing.idempotency_key == token else "exists")
    else:
        raise RuntimeError("no free application reference")
    if rows:  # the ranked list in one executemany INSERT
        db.session.execute(_NEW_CHOICES, [{"application_id": new_id, **row} for row in rows])
    # The row as written, in the session without selecting it again (what was not written,
    # such as the choices, loads when read).
    app_ = Application(id=new_id, allocated_school_id=None, allocated_rank=None, **values)
    make_transient_to_detached(app_)
    db.session.add(app_)
    audit_now("application.submit", app_, actor_id=user.id, level_id=level.id, choices=len(rows))
    counters.applied(app_, choices=[counters.Choice(**row) for row in rows])
    return SubmitResult(app_, "created")


def _update(
    app_: Application, ctx: ApplyContext, user: User, others: list[int], siblings: list[int], token: str
) -> SubmitResult:
    outcome = "resubmitted" if app_.is_withdrawn else "updated"
    if app_.status not in (ApplicationStatus.SUBMITTED, ApplicationStatus.WITHDRAWN):
        raise AdmissionError("locked_status")
    catchment_id = ctx.catchment.school_id
    before = counters.snapshot(app_)
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
    counters.applied(app_, before)
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
    before = counters.snapshot(app_)
    app_.status = ApplicationStatus.WITHDRAWN
    app_.withdrawn_at = app_.updated_at = now()
    app_.idempotency_key = None
    db.session.flush()
    audit("application.withdraw", app_, actor_id=user.id)
    counters.applied(app_, before)
    return app_
