"""Allocation rounds: from the database to the exchange format, the allocator, published offers.

One round = one run of student-proposing deferred acceptance (admissions.allocation) for one
level in one district. The flow, and the decisions behind it:

**Seed and lottery.** Creating official round 1 draws a secret seed (allocation.new_seed) and
stores its SHA-256, which officers and the public page show from that moment on; the seed itself
is shown only once round 1 is published. Round 1's lottery is draw_lottery(seed, ids) over its
students' ids (``A<application id>``, pseudonymous). Later rounds and what-if runs use the *same*
seed and the *same* numbers (round 1's draw), so a child keeps one lottery number for the season
and priorities never change between rounds — the stability argument below needs that.

**Instance (DESIGN §4).** Schools: the district's schools of the level (id = school code,
capacity = School.capacity, or the what-if override). Students, round 1: every live application
(submitted) of a child living in the district; ``choices`` = the ranked choices, the catchment
school (already stored as the last choice) appended if missing; ``catchment``; ``sibling_schools``;
residence (permanent or temporary) places a child in the catchment of the address she lives at
and gives no other class. Choices outside the district's schools are dropped (counted in the
summary). The instance is stored as ``input_snapshot`` and the allocator's output as ``result``:
``admissions allocate-file input.json out.json`` reproduces the result exactly.

**Later rounds (the reduction).** After declines and expiries, round N ≥ 2 runs deferred
acceptance again over everyone still in the season (round 1's students minus the declined,
expired and withdrawn):

* a child holding a seat from a round (offered or confirmed) keeps her list only down to that
  school — she can move *up*, never down: ``choices`` is truncated after her current school;
* a child waiting (unplaced) keeps her whole list;
* a child holding a seat assigned by the office keeps it outside the market: the seat is taken
  out of that school's capacity, and she takes part with her listed schools only (if she gets one
  she moves up and the office seat is freed for the next round);
* capacity = max(seats − office-held seats, round-held seats), so a held seat never disappears
  even if a school's capacity was lowered meanwhile.

The office assigns seats only at schools nobody still in the season has a claim to (no waiting
child listed it, no placed child ranked it above her seat: ``claimed_schools``); a seat freed at
a claimed school waits for the next round. So nobody ever envies an office seat, and the whole
matching (round seats and office seats) stays stable.

Why a held seat is guaranteed: the held matching, restricted to the children still in, has no
justified envy (it came from deferred acceptance with the same priorities; removing children and
office seats creates empty seats, never envy). The student-optimal stable matching is the
student-best of all envy-free matchings (Wu & Roth, "The lattice of envy-free matchings", 2018),
so deferred acceptance on the truncated lists gives every child her held school or one she ranks
higher, and nobody is worse off than before the round. The new matching is stable for the true
lists too: a school below a child's held seat can never block. Each round checks the guarantee
(``lost_guarantees``) and fails loudly rather than publish a result that breaks it.

**Statuses.** A finished official round 1 marks its applications "allocated" (families see that
the allocation ran; edits are closed). Publishing is one audited transaction: placed children are
offered their school with an answer-by time, the others become "unplaced" (the office assigns
them a seat near home, see ``placement_rows``/``assign_seat``), the seed is revealed, and the
notifications go out after the commit. In later rounds only children whose seat changed are
touched: a waiting child gets an offer; a child moving up keeps her answer (a confirmed place
stays confirmed at the better school — it is the school she ranked higher). Families confirm
before the deadline or decline (the seat is freed); an unanswered offer expires after the
deadline (``expire_offers``: a job/CLI, and lazily whenever an application is read).

A round is published only if the applications are still as the round saw them (a fingerprint of
statuses and seats); otherwise the officer runs it again.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from flask import current_app, url_for
from flask_babel import force_locale, format_datetime, gettext
from flask_babel import lazy_gettext as _l

from app import jobs
from app.audit import audit
from app.extensions import db
from app.models import School, User, Ward, utcnow

from . import allocation
from .allocation import (
    CATCHMENT,
    INSTANCE_FORMAT,
    OTHER,
    SIBLING,
    application_id_of,
    later_round_instance,
    lost_guarantees,
    nearest,
    priority_class,
    student_key,
    summarize,
)
from .models import (
    AdmissionLevel,
    AllocationOutcome,
    AllocationRound,
    Application,
    ApplicationChoice,
    ApplicationStatus,
    Child,
    ParentChild,
    RoundKind,
    RoundStatus,
)

log = logging.getLogger(__name__)


# ----------------------------------------------------------------------------------------------
# Database part
# ----------------------------------------------------------------------------------------------

S = ApplicationStatus
PLACED = (S.OFFERED, S.CONFIRMED)
ROUND_ONE_STATUSES = (S.SUBMITTED, S.ALLOCATED)
LATER_STATUSES = (S.OFFERED, S.CONFIRMED, S.UNPLACED)
OFFICE_DEADLINE_DAYS = 7  # answer-by time of an office assignment when no later deadline is set
NOTIFY_CHUNK = 500
VALUES_CHUNK = 5000  # rows per UPDATE … FROM (VALUES …) (PostgreSQL allows 65,535 parameters)


class RoundError(Exception):
    """A rule refused the operation; ``code`` names it for the view to translate."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = params


def now() -> datetime:
    return utcnow()


# ---- queries ------------------------------------------------------------------------------


def in_district(district_id: int):
    """WHERE clause on Application: the child lives in the district."""
    return Application.child_id.in_(
        sa.select(Child.id).join(Ward, Ward.id == Child.ward_id).where(Ward.district_id == district_id)
    )


def district_schools(level: AdmissionLevel, district_id: int) -> list[School]:
    return list(
        db.session.scalars(
            sa.select(School)
            .where(School.level == level.level, School.district_id == district_id)
            .order_by(School.code)
        )
    )


def rounds_of(level_id: int, district_id: int) -> list[AllocationRound]:
    return list(
        db.session.scalars(
            sa.select(AllocationRound)
            .where(AllocationRound.admission_level_id == level_id, AllocationRound.district_id == district_id)
            .order_by(AllocationRound.number.desc(), AllocationRound.kind, AllocationRound.id.desc())
        )
    )


def official_round(level_id: int, district_id: int, number: int) -> AllocationRound | None:
    return db.session.scalar(
        sa.select(AllocationRound).where(
            AllocationRound.admission_level_id == level_id,
            AllocationRound.district_id == district_id,
            AllocationRound.kind == RoundKind.OFFICIAL,
            AllocationRound.number == number,
        )
    )


def latest_official(level_id: int, district_id: int) -> AllocationRound | None:
    return db.session.scalar(
        sa.select(AllocationRound)
        .where(
            AllocationRound.admission_level_id == level_id,
            AllocationRound.district_id == district_id,
            AllocationRound.kind == RoundKind.OFFICIAL,
        )
        .order_by(AllocationRound.number.desc())
        .limit(1)
    )


def fingerprint(level_id: int, district_id: int) -> str:
    """SHA-256 over every application's (id, status, seat, office flag) of the level in the district."""
    q = (
        sa.select(
            Application.id,
            Application.status,
            Application.allocated_school_id,
            Application.assigned_by_id.is_not(None),
        )
        .join(Child, Child.id == Application.child_id)
        .join(Ward, Ward.id == Child.ward_id)
        .where(Application.admission_level_id == level_id, Ward.district_id == district_id)
        .order_by(Application.id)
    )
    h = hashlib.sha256()
    for aid, status, school, office in db.session.execute(q):
        h.update(f"{aid}:{status}:{school or 0}:{int(bool(office))};".encode())
    return h.hexdigest()


def _lock(obj) -> None:
    """SELECT … FOR UPDATE the object's row (PostgreSQL; SQLite serialises writers anyway), then
    reload it, so that a concurrent change made before the lock is seen."""
    model = type(obj)
    db.session.execute(sa.select(model.id).where(model.id == obj.id).with_for_update())
    db.session.refresh(obj)


# ---- creating and queueing rounds -----------------------------------------------------------


def create_official_round(level: AdmissionLevel, district_id: int, actor: User) -> AllocationRound:
    """Round 1 draws the seed (its SHA-256 is public at once); round N+1 needs round N published."""
    last = latest_official(level.id, district_id)
    if last is None:
        seed = allocation.new_seed()
        number = 1
    else:
        if not last.is_published:
            raise RoundError("previous_not_published", number=last.number)
        first = official_round(level.id, district_id, 1)
        seed = first.seed
        number = last.number + 1
    rnd = AllocationRound(
        admission_level_id=level.id,
        district_id=district_id,
        number=number,
        kind=RoundKind.OFFICIAL,
        status=RoundStatus.DRAFT,
        seed=seed,
        seed_sha256=allocation.seed_commitment(seed),
        capacities={},
        is_trial=level.season.is_trial,
        created_by_id=actor.id,
        summary={},
    )
    db.session.add(rnd)
    db.session.flush()
    audit(
        "admissions.round.create",
        rnd,
        level_id=level.id,
        district_id=district_id,
        number=number,
        seed_sha256=rnd.seed_sha256,
    )
    return rnd


def _check_runnable(rnd: AllocationRound) -> None:
    if rnd.status in (RoundStatus.QUEUED, RoundStatus.RUNNING):
        raise RoundError("running")
    if rnd.status == RoundStatus.PUBLISHED:
        raise RoundError("published")
    if rnd.number == 1:
        from .seasons import level_window

        window = level_window(rnd.admission_level)
        if rnd.is_official and window.status(now()) != "closed":
            raise RoundError("window_not_closed")


def queue_round(rnd: AllocationRound, actor: User) -> None:
    """Queue the run (an RQ job after the commit; in-process without Redis)."""
    _lock(rnd)  # two clicks, two officers: one run
    _check_runnable(rnd)
    if rnd.number > 1 and rnd.is_official:
        expire_offers(rnd.admission_level_id, rnd.district_id)
    rnd.status = RoundStatus.QUEUED
    rnd.progress = 0
    rnd.error = None
    rnd.queued_at = now()
    db.session.flush()
    audit("admissions.round.queue", rnd, actor_id=actor.id, kind=rnd.kind, number=rnd.number)
    jobs.enqueue_after_commit(run_round, rnd.id)


def create_what_if(base: AllocationRound, capacities: dict[int, int], actor: User) -> AllocationRound:
    """A what-if run of ``base`` (an official round not yet published) with other capacities."""
    if not base.is_official or base.is_published:
        raise RoundError("what_if_base")
    schools = {s.id: s for s in district_schools(base.admission_level, base.district_id)}
    overrides = {}
    for sid, cap in capacities.items():
        if sid not in schools:
            raise RoundError("unknown_school")
        if cap is None or cap < 0:
            raise RoundError("bad_capacity")
        if cap != schools[sid].capacity:
            overrides[schools[sid].code] = int(cap)
    rnd = AllocationRound(
        admission_level_id=base.admission_level_id,
        district_id=base.district_id,
        number=base.number,
        kind=RoundKind.WHAT_IF,
        status=RoundStatus.DRAFT,
        base_round_id=base.id,
        seed=base.seed,
        seed_sha256=base.seed_sha256,
        capacities=overrides,
        is_trial=base.is_trial,
        created_by_id=actor.id,
        summary={},
    )
    db.session.add(rnd)
    db.session.flush()
    audit("admissions.round.what_if", rnd, base_round_id=base.id, changed=len(overrides))
    rnd.status = RoundStatus.QUEUED
    rnd.queued_at = now()
    db.session.flush()
    jobs.enqueue_after_commit(run_round, rnd.id)
    return rnd


# ---- building the instance ----------------------------------------------------------------


@dataclass
class Built:
    instance: dict
    school_ids: dict[str, int]  # code -> id
    previous: dict[str, int | None] = field(default_factory=dict)  # student key -> school held before
    dropped_choices: int = 0
    seconds: float = 0.0


def _choices_by_app(level_id: int, district_id: int) -> dict[int, list[int]]:
    q = (
        sa.select(ApplicationChoice.application_id, ApplicationChoice.school_id)
        .join(Application, Application.id == ApplicationChoice.application_id)
        .where(Application.admission_level_id == level_id, in_district(district_id))
        .order_by(ApplicationChoice.application_id, ApplicationChoice.rank)
    )
    out: dict[int, list[int]] = defaultdict(list)
    for aid, sid in db.session.execute(q):
        out[aid].append(sid)
    return out


def round_one_lottery(level_id: int, district_id: int) -> dict[int, int]:
    """Application id → lottery number of the season (round 1's draw)."""
    first = official_round(level_id, district_id, 1)
    if first is None:
        return {}
    return dict(
        db.session.execute(
            sa.select(AllocationOutcome.application_id, AllocationOutcome.lottery).where(
                AllocationOutcome.round_id == first.id
            )
        ).all()
    )


@dataclass
class Market:
    """Applications of a level in a district as exchange-format records, plus where each sits now."""

    capacity: dict[str, int]  # school code -> seats
    code: dict[int, str]  # school id -> code
    students: list[dict]
    seats: dict[str, int]  # student key -> school id of the seat she holds (offered/confirmed)
    office: set[str]  # student keys whose seat was assigned by the office
    dropped: int


def load_market(
    level: AdmissionLevel, district_id: int, statuses, numbers: dict[str, int] | None, seed: str | None = None
) -> Market:
    """Schools, applications and ranked choices in four queries (plain rows, no ORM objects).

    Lottery numbers come from ``numbers`` (key -> number; others are left out), else are drawn
    from ``seed`` over the keys loaded."""
    schools = db.session.execute(
        sa.select(School.id, School.code, School.capacity)
        .where(School.level == level.level, School.district_id == district_id)
        .order_by(School.code)
    ).all()
    code = {sid: c for sid, c, _cap in schools}
    rows = db.session.execute(
        sa.select(
            Application.id,
            Application.catchment_school_id,
            Application.sibling_school_ids,
            Application.allocated_school_id,
            Application.assigned_by_id.is_not(None),
            Application.status,
        )
        .join(Child, Child.id == Application.child_id)
        .join(Ward, Ward.id == Child.ward_id)
        .where(
            Application.admission_level_id == level.id,
            Ward.district_id == district_id,
            Application.status.in_([str(s) for s in statuses]),
        )
        .order_by(Application.id)
    ).all()
    choice_map = _choices_by_app(level.id, district_id)
    if numbers is None:
        numbers = allocation.draw_lottery(seed, [student_key(r[0]) for r in rows])
    dropped = 0
    students, seats, office = [], {}, set()
    for aid, catchment_id, siblings, seat, by_office, status in rows:
        key = student_key(aid)
        if key not in numbers:  # not in round 1 (cannot happen after a closed window): the office places it
            continue
        listed = choice_map.get(aid, [])
        choices = [code[s] for s in listed if s in code]
        dropped += len(listed) - len(choices)
        catchment = code.get(catchment_id)
        if catchment is not None and catchment not in choices:
            choices.append(catchment)  # the guaranteed last choice
        students.append(
            {
                "id": key,
                "choices": choices,
                "catchment": catchment,
                "sibling_schools": [code[s] for s in (siblings or []) if s in code],
                "lottery": numbers[key],
            }
        )
        if status in PLACED and seat in code:
            seats[key] = seat
            if by_office:
                office.add(key)
    return Market({c: cap for _sid, c, cap in schools}, code, students, seats, office, dropped)


def build_instance(rnd: AllocationRound) -> Built:
    """The exchange-format instance of ``rnd`` from the database (bounded queries, no ORM rows)."""
    t0 = time.perf_counter()
    level = rnd.admission_level
    if rnd.number == 1:
        market = load_market(level, rnd.district_id, ROUND_ONE_STATUSES, None, rnd.seed)
    else:
        numbers = {student_key(aid): n for aid, n in round_one_lottery(level.id, rnd.district_id).items()}
        market = load_market(level, rnd.district_id, LATER_STATUSES, numbers)
    capacity = dict(market.capacity)
    for c, cap in (rnd.capacities or {}).items():
        if c in capacity:
            capacity[c] = int(cap)
    meta = {
        "level": level.level,
        "district_id": rnd.district_id,
        "round": rnd.number,
        "kind": rnd.kind,
        "lottery": allocation.LOTTERY_METHOD,
        "seed_sha256": rnd.seed_sha256,
        "lottery_ids": "round 1" if rnd.number > 1 else "this file",
    }
    previous: dict[str, int | None] = {}
    if rnd.number == 1:
        instance = {
            "format": INSTANCE_FORMAT,
            "meta": meta,
            "schools": [{"id": c, "capacity": cap} for c, cap in capacity.items()],
            "students": market.students,
        }
    else:
        held = {k: market.code[s] for k, s in market.seats.items() if k not in market.office}
        office = {k: market.code[s] for k, s in market.seats.items() if k in market.office}
        previous = dict(market.seats)
        instance = later_round_instance(capacity, market.students, held, office, meta)
    return Built(
        instance,
        {c: sid for sid, c in market.code.items()},
        previous,
        market.dropped,
        time.perf_counter() - t0,
    )


def current_matching(level: AdmissionLevel, district_id: int) -> tuple[dict, dict[str, str | None]]:
    """The season's matching as it stands, for a stability check: everyone still in (offered,
    confirmed, unplaced) with her whole list (an office seat appended as her last, least wanted
    choice), full capacities, round 1's lottery. ``blocking_pairs(*current_matching(...))`` must be []."""
    numbers = {student_key(aid): n for aid, n in round_one_lottery(level.id, district_id).items()}
    market = load_market(level, district_id, LATER_STATUSES, numbers)
    assignment: dict[str, str | None] = {}
    for st in market.students:
        seat = market.code.get(market.seats.get(st["id"]))
        if seat is not None and seat not in st["choices"]:
            st["choices"].append(seat)
        assignment[st["id"]] = seat
    instance = {
        "format": INSTANCE_FORMAT,
        "schools": [{"id": c, "capacity": cap} for c, cap in market.capacity.items()],
        "students": market.students,
    }
    return instance, assignment


# ---- running ------------------------------------------------------------------------------


def _set_status(row_id: int, **values) -> None:
    jobs.record_progress(AllocationRound, row_id, **values)


def run_round(round_id: int) -> None:
    """The RQ job: build, allocate, store. Idempotent: a finished round is left alone."""
    rnd = db.session.get(AllocationRound, round_id)
    if rnd is None or rnd.status in (RoundStatus.DONE, RoundStatus.PUBLISHED, RoundStatus.DRAFT):
        return
    started = now()
    _set_status(round_id, status=RoundStatus.RUNNING, progress=5, started_at=started, error=None)
    try:
        built = build_instance(rnd)
        _set_status(round_id, progress=40)
        t1 = time.perf_counter()
        result = allocation.allocate_instance(built.instance)
        allocate_seconds = time.perf_counter() - t1
        if rnd.number > 1:
            lost = lost_guarantees(built.instance, result)
            if lost:
                raise RoundError("guarantee", n=len(lost))
        _set_status(round_id, progress=70)
        store_result(rnd, built, result, allocate_seconds)
    except (RoundError, allocation.InstanceError) as err:
        # A problem with the data, not with the machine: record it, do not retry.
        db.session.rollback()
        rnd = db.session.get(AllocationRound, round_id)
        rnd.status = RoundStatus.FAILED
        rnd.progress = 0
        rnd.error = err.code if isinstance(err, RoundError) else str(err)
        rnd.finished_at = now()
        audit("admissions.round.failed", rnd, actor_id=rnd.created_by_id, error=rnd.error[:200])
        return
    except Exception:
        db.session.rollback()
        _set_status(round_id, status=RoundStatus.FAILED, progress=0, error="internal", finished_at=now())
        log.exception("allocation round %s failed", round_id)
        raise
    rnd.started_at = started


def store_result(rnd: AllocationRound, built: Built, result: dict, allocate_seconds: float) -> dict:
    """Store the snapshot, result, summary and one outcome row per application; round 1 marks its
    applications "allocated". Returns the timings."""
    t0 = time.perf_counter()
    instance = built.instance
    ids = built.school_ids
    assignment, ranks = result["assignment"], result["ranks"]
    db.session.execute(sa.delete(AllocationOutcome).where(AllocationOutcome.round_id == rnd.id))
    rows = []
    for st in instance["students"]:
        key = st["id"]
        school = assignment.get(key)
        rows.append(
            {
                "round_id": rnd.id,
                "application_id": application_id_of(key),
                "school_id": ids[school] if school else None,
                "rank": ranks.get(key),
                "priority_class": priority_class(st, school) if school else None,
                "lottery": st["lottery"],
                "previous_school_id": built.previous.get(key),
            }
        )
    if rows:
        db.session.execute(sa.insert(AllocationOutcome.__table__), rows)
    if rnd.is_official and rnd.number == 1:
        at = now()
        db.session.execute(
            sa.update(Application.__table__)
            .where(
                Application.__table__.c.admission_level_id == rnd.admission_level_id,
                Application.__table__.c.status == S.SUBMITTED,
                _in_district_core(rnd.district_id),
            )
            .values(status=S.ALLOCATED, allocated_at=at)
        )
    summary = summarize(instance, result)
    summary["dropped_choices"] = built.dropped_choices
    moved = newly = 0
    for st in instance["students"]:
        got, before = assignment.get(st["id"]), built.previous.get(st["id"])
        if got is not None and before is None:
            newly += 1
        elif got is not None and ids[got] != before:
            moved += 1
    summary["moved"], summary["newly_placed"] = moved, newly
    timings = {"load": round(built.seconds, 3), "allocate": round(allocate_seconds, 3)}
    rnd.input_snapshot = instance
    rnd.result = result
    rnd.status = RoundStatus.DONE
    rnd.progress = 100
    rnd.finished_at = now()
    db.session.flush()
    rnd.fingerprint = fingerprint(rnd.admission_level_id, rnd.district_id) if rnd.is_official else None
    timings["store"] = round(time.perf_counter() - t0, 3)
    summary["seconds"] = timings
    rnd.summary = summary
    db.session.flush()
    audit(
        "admissions.round.done",
        rnd,
        actor_id=rnd.created_by_id,
        kind=rnd.kind,
        number=rnd.number,
        students=summary["students"],
        assigned=summary["assigned"],
    )
    return timings


def _in_district_core(district_id: int):
    t = Application.__table__
    return t.c.child_id.in_(
        sa.select(Child.id).join(Ward, Ward.id == Child.ward_id).where(Ward.district_id == district_id)
    )


# ---- bulk updates ---------------------------------------------------------------------------


def bulk_update_applications(rows: list[dict], columns: list[str], constants: dict | None = None) -> None:
    """UPDATE application SET <columns> per row, <constants> for all, WHERE id = row["id"].

    PostgreSQL: ``UPDATE … FROM (VALUES …)`` in chunks; elsewhere one executemany.
    """
    if not rows:
        return
    t = Application.__table__
    constants = constants or {}
    if db.session.get_bind().dialect.name == "postgresql":
        cols = [sa.column("id", sa.Integer), *[sa.column(c, t.c[c].type) for c in columns]]
        for start in range(0, len(rows), VALUES_CHUNK):
            part = rows[start : start + VALUES_CHUNK]
            v = sa.values(*cols, name="v").data([tuple(r[c] for c in ("id", *columns)) for r in part])
            db.session.execute(
                sa.update(t).where(t.c.id == v.c.id).values({**{c: v.c[c] for c in columns}, **constants})
            )
        return
    stmt = (
        sa.update(t)
        .where(t.c.id == sa.bindparam("b_id"))
        .values({**{c: sa.bindparam(f"b_{c}") for c in columns}, **constants})
    )
    db.session.execute(stmt, [{f"b_{k}": r[k] for k in ("id", *columns)} for r in rows])


# ---- publishing -----------------------------------------------------------------------------


def default_confirm_by(rnd: AllocationRound) -> datetime | None:
    deadline = rnd.admission_level.confirm_by
    if rnd.number == 1 and deadline is not None and deadline > now():
        return deadline
    return None


def publish_round(rnd: AllocationRound, actor: User, confirm_by: datetime | None) -> dict[str, int]:
    """One transaction: offers (or "unplaced"), the round published, the seed revealed, audited;
    notifications after the commit. Returns counts."""
    actor_id = actor.id
    _lock(rnd)  # two officers publishing at once: one publication
    if not rnd.is_official:
        raise RoundError("what_if_publish")
    if rnd.status != RoundStatus.DONE:
        raise RoundError("not_done")
    confirm_by = confirm_by or default_confirm_by(rnd)
    at = now()
    if confirm_by is None or confirm_by <= at:
        raise RoundError("confirm_by")
    expire_offers(rnd.admission_level_id, rnd.district_id, at=at)
    if fingerprint(rnd.admission_level_id, rnd.district_id) != rnd.fingerprint:
        raise RoundError("stale")
    outcomes = db.session.execute(
        sa.select(
            AllocationOutcome.application_id,
            AllocationOutcome.school_id,
            AllocationOutcome.rank,
            AllocationOutcome.previous_school_id,
            Application.status,
        )
        .join(Application, Application.id == AllocationOutcome.application_id)
        .where(AllocationOutcome.round_id == rnd.id)
    ).all()
    offered, unplaced, moved = [], [], []  # moved: confirmed places moving up (they stay confirmed)
    n_up = 0
    for aid, school, rank, previous, status in outcomes:
        if rnd.number == 1:
            if school is None:
                unplaced.append({"id": aid})
            else:
                offered.append({"id": aid, "allocated_school_id": school, "allocated_rank": rank})
        elif school is not None and school != previous:
            row = {"id": aid, "allocated_school_id": school, "allocated_rank": rank}
            n_up += previous is not None
            if status == S.CONFIRMED:
                moved.append(row)
            else:
                offered.append(row)
    common = {"placed_by_round_id": rnd.id, "assigned_by_id": None, "allocated_at": at}
    bulk_update_applications(
        offered,
        ["allocated_school_id", "allocated_rank"],
        {**common, "status": S.OFFERED, "offered_at": at, "offer_deadline": confirm_by},
    )
    bulk_update_applications(moved, ["allocated_school_id", "allocated_rank"], common)
    if unplaced:
        bulk_update_applications(
            unplaced,
            [],
            {
                "status": S.UNPLACED,
                "offered_at": None,
                "offer_deadline": None,
                "allocated_school_id": None,
                "allocated_rank": None,
                "placed_by_round_id": rnd.id,
            },
        )
    changed = [r["id"] for r in offered] + [r["id"] for r in moved] + [r["id"] for r in unplaced]
    rnd.status = RoundStatus.PUBLISHED
    rnd.published_at = at
    rnd.published_by_id = actor_id
    rnd.confirm_by = confirm_by
    db.session.flush()
    db.session.expire_all()
    # offered: children who had no seat and have one now; moved: children moving up to a school they
    # ranked higher (a new offer, or their confirmed place carried over); unplaced: still waiting.
    counts = {"offered": len(offered) + len(moved) - n_up, "moved": n_up, "unplaced": len(unplaced)}
    audit(
        "admissions.round.publish",
        ("allocation_round", rnd.id),
        actor_id=actor_id,
        level_id=rnd.admission_level_id,
        district_id=rnd.district_id,
        number=rnd.number,
        seed_sha256=rnd.seed_sha256,
        **counts,
    )
    notify_later("result", rnd.id, changed)
    return counts


# ---- notifications ------------------------------------------------------------------------


def notify_later(event: str, round_id: int | None, application_ids: list[int]) -> None:
    """Tell the families once the current transaction commits (chunks of NOTIFY_CHUNK)."""
    ids = sorted(set(application_ids))
    if ids:
        jobs.enqueue_many_after_commit(
            notify_families,
            [[event, round_id, ids[i : i + NOTIFY_CHUNK]] for i in range(0, len(ids), NOTIFY_CHUNK)],
        )


def _child_url(child_id: int) -> str:
    try:
        return url_for("admissions_parent.child", child_id=child_id, _external=True)
    except RuntimeError:
        return (current_app.config.get("PUBLIC_URL") or "").rstrip("/") + f"/children/{child_id}"


def notify_families(event: str, round_id: int | None, application_ids: list[int]) -> int:
    """Job: one notification per child and language to the child's parents (every text names the
    child). Events: result (a round's offer, move or no seat), assigned, expired, confirmed, declined."""
    from app.notifications import notify_many

    apps = db.session.scalars(sa.select(Application).where(Application.id.in_(application_ids))).all()
    if not apps:
        return 0
    views = offer_views(apps)
    guardians = db.session.execute(
        sa.select(ParentChild.child_id, User.id, User.locale)
        .join(User, User.id == ParentChild.user_id)
        .where(ParentChild.child_id.in_({a.child_id for a in apps}), User.active.is_(True))
    ).all()
    by_child: dict[int, dict[str, list[int]]] = defaultdict(lambda: defaultdict(list))
    for child_id, uid, locale in guardians:
        by_child[child_id][locale or current_app.config.get("BABEL_DEFAULT_LOCALE", "vi")].append(uid)
    messages = []
    for app_ in apps:
        view = views[app_.id]
        for locale, users in by_child.get(app_.child_id, {}).items():
            with force_locale(locale):
                title = view.title(event)
                body = "\n".join(view.lines())
            messages.append(
                (
                    users,
                    {
                        "title": title,
                        "body": body,
                        "child_name": view.child_name,
                        "url": _child_url(app_.child_id),
                    },
                )
            )
    return len(notify_many("admission", messages))


# ---- families: offers, answers, expiry ------------------------------------------------------

CLASS_LABELS = {
    CATCHMENT: _l("lives in the school's catchment"),
    SIBLING: _l("has a brother or sister there"),
    OTHER: _l("other applicants"),
}
ORDINALS = {1: _l("1st choice"), 2: _l("2nd choice"), 3: _l("3rd choice"), 4: _l("4th choice")}


def ordinal(n: int) -> str:
    return str(ORDINALS[n]) if n in ORDINALS else gettext("choice no. %(n)d", n=n)


@dataclass
class OfferView:
    """What a family is told about one application's result (texts in the current language)."""

    application: Application
    child_name: str
    school_name: str | None
    choices: list[tuple[int, str, str]]  # (school id, name, code) in rank order
    my_classes: dict[str, int]  # school code -> her priority class there
    lottery: int | None
    cutoffs: dict[str, list | None]  # school code -> [class, lottery] of the last admitted
    round_number: int | None
    seed_sha256: str | None

    @property
    def status(self) -> str:
        return self.application.status

    @property
    def deadline(self) -> datetime | None:
        return self.application.offer_deadline

    @property
    def can_confirm(self) -> bool:
        return self.status == S.OFFERED and (self.deadline is None or self.deadline > now())

    @property
    def can_decline(self) -> bool:
        return self.status in PLACED

    def title(self, event: str) -> str:
        if event == "expired":
            return gettext(
                "Offer expired: the place at %(school)s was not confirmed in time", school=self.school_name
            )
        if event == "confirmed":
            return gettext("Place confirmed at %(school)s", school=self.school_name)
        if event == "declined":
            return gettext("Place declined at %(school)s", school=self.school_name)
        if event == "assigned":
            return gettext("The education office has found a place at %(school)s", school=self.school_name)
        if self.status == S.UNPLACED:
            return gettext("Admission result: no seat yet at the schools you listed")
        if self.status == S.CONFIRMED:
            return gettext("Moved up to %(school)s (place confirmed)", school=self.school_name)
        return gettext("Admission result: a place is offered at %(school)s", school=self.school_name)

    def _full_line(self, k: int, school_id: int, name: str, code: str) -> str:
        cutoff = self.cutoffs.get(code)
        mine = self.my_classes.get(code, OTHER)
        if cutoff:
            return gettext(
                "Your %(choice)s, %(school)s, was full: it admitted children down to priority "
                "“%(cls)s”, lottery number %(lot)d; your priority there was “%(mine)s”, lottery "
                "number %(my_lot)d.",
                choice=ordinal(k),
                school=name,
                cls=CLASS_LABELS[cutoff[0]],
                lot=cutoff[1],
                mine=CLASS_LABELS[mine],
                my_lot=self.lottery or 0,
            )
        return gettext(
            "Your %(choice)s, %(school)s, had no seat left for you.", choice=ordinal(k), school=name
        )

    def lines(self) -> list[str]:
        """The why, in plain words, derived from the round's cutoffs."""
        app_ = self.application
        out = []
        if app_.status in (S.SUBMITTED, S.ALLOCATED, S.WITHDRAWN):
            return out
        school = app_.allocated_school_id
        rank = app_.allocated_rank
        if app_.status in (S.OFFERED, S.CONFIRMED):
            if app_.assigned_by_id is not None or rank is None:
                out.append(
                    gettext(
                        "The education office assigned this school: the schools you listed had no "
                        "seat left for %(name)s.",
                        name=self.child_name,
                    )
                )
                above = self.choices
            else:
                is_catchment = (
                    self.choices
                    and rank == len(self.choices)
                    and self.my_classes.get(self.choices[rank - 1][2]) == CATCHMENT
                )
                if rank == 1:
                    out.append(gettext("Admitted at your 1st choice, %(school)s.", school=self.school_name))
                elif is_catchment:
                    out.append(
                        gettext(
                            "Admitted at your catchment school, %(school)s, where a place is "
                            "guaranteed (your %(choice)s).",
                            school=self.school_name,
                            choice=ordinal(rank),
                        )
                    )
                else:
                    out.append(
                        gettext(
                            "Admitted at your %(choice)s, %(school)s.",
                            choice=ordinal(rank),
                            school=self.school_name,
                        )
                    )
                above = self.choices[: rank - 1]
            out += [
                self._full_line(k, sid, name, code)
                for k, (sid, name, code) in enumerate(above, start=1)
                if sid != school
            ]
            if app_.status == S.OFFERED and self.deadline:
                out.append(
                    gettext(
                        "Confirm or decline by %(when)s (Vietnam time); an offer not confirmed by then "
                        "expires and the seat goes to another child.",
                        when=_local(self.deadline),
                    )
                )
        elif app_.status == S.UNPLACED:
            out.append(gettext("No seat yet for %(name)s at the schools you listed.", name=self.child_name))
            out += [
                self._full_line(k, sid, name, code)
                for k, (sid, name, code) in enumerate(self.choices, start=1)
            ]
            out.append(
                gettext(
                    "The education office will assign a school near you with seats left; you will be "
                    "notified."
                )
            )
        elif app_.status == S.DECLINED:
            out.append(gettext("You declined the place; the seat has been given back."))
        elif app_.status == S.EXPIRED:
            out.append(
                gettext(
                    "The offer was not confirmed by the deadline, so the seat has been given to another "
                    "child. Contact the education office if you still need a place."
                )
            )
        if self.lottery and app_.status != S.DECLINED:
            out.append(
                gettext(
                    "Lottery number of %(name)s for the season: %(n)d (lower wins ties between children "
                    "of the same priority).",
                    name=self.child_name,
                    n=self.lottery,
                )
            )
        return out


def _local(dt: datetime) -> str:
    """A naive-UTC time in the user's time zone (Asia/Ho_Chi_Minh)."""
    return format_datetime(dt.replace(tzinfo=UTC), "HH:mm dd/MM/yyyy")


def offer_views(apps: list[Application]) -> dict[int, OfferView]:
    """Explanations for many applications in a bounded number of queries."""
    if not apps:
        return {}
    ids = [a.id for a in apps]
    choices: dict[int, list[int]] = defaultdict(list)
    for aid, sid in db.session.execute(
        sa.select(ApplicationChoice.application_id, ApplicationChoice.school_id)
        .where(ApplicationChoice.application_id.in_(ids))
        .order_by(ApplicationChoice.application_id, ApplicationChoice.rank)
    ):
        choices[aid].append(sid)
    # The round whose figures explain the result: the one that placed her, else her latest published round.
    outcome_rows = db.session.execute(
        sa.select(
            AllocationOutcome.application_id,
            AllocationOutcome.round_id,
            AllocationOutcome.lottery,
            AllocationRound.number,
        )
        .join(AllocationRound, AllocationRound.id == AllocationOutcome.round_id)
        .where(
            AllocationOutcome.application_id.in_(ids),
            AllocationRound.status == RoundStatus.PUBLISHED,
            AllocationRound.kind == RoundKind.OFFICIAL,
        )
    ).all()
    latest: dict[int, tuple[int, int]] = {}  # application -> (round id, round number)
    lot: dict[int, int] = {}
    for aid, rid, lottery_no, number in outcome_rows:
        lot.setdefault(aid, lottery_no)  # the same number in every round of the season
        if aid not in latest or number > latest[aid][1]:
            latest[aid] = (rid, number)
    explain_round = {}
    for a in apps:
        rid = a.placed_by_round_id if a.placed_by_round_id and a.status != S.UNPLACED else None
        explain_round[a.id] = rid or (latest[a.id][0] if a.id in latest else None)
    rounds = {
        r.id: r
        for r in db.session.scalars(
            sa.select(AllocationRound).where(AllocationRound.id.in_({r for r in explain_round.values() if r}))
        )
    }
    school_ids = {s for lst in choices.values() for s in lst} | {
        a.allocated_school_id for a in apps if a.allocated_school_id
    }
    schools = (
        {
            sid: (name, code)
            for sid, name, code in db.session.execute(
                sa.select(School.id, School.name, School.code).where(School.id.in_(school_ids))
            )
        }
        if school_ids
        else {}
    )
    names = dict(
        db.session.execute(
            sa.select(Child.id, Child.full_name).where(Child.id.in_({a.child_id for a in apps}))
        ).all()
    )
    out = {}
    for a in apps:
        listed = [(sid, *schools.get(sid, ("?", "?"))) for sid in choices.get(a.id, [])]
        catchment_code = (
            schools.get(a.catchment_school_id, (None, None))[1] if a.catchment_school_id else None
        )
        sibling_codes = {schools[s][1] for s in (a.sibling_school_ids or []) if s in schools}
        student = {"catchment": catchment_code, "sibling_schools": sibling_codes}
        my_classes = {code: priority_class(student, code) for _sid, _n, code in listed}
        rnd = rounds.get(explain_round[a.id])
        out[a.id] = OfferView(
            a,
            names.get(a.child_id, ""),
            schools.get(a.allocated_school_id, (None,))[0],
            listed,
            my_classes,
            lot.get(a.id),
            {c: v.get("cutoff") for c, v in (rnd.summary.get("schools", {}) if rnd else {}).items()},
            rnd.number if rnd else None,
            rnd.seed_sha256 if rnd else None,
        )
    return out


def expire_offers(
    level_id: int | None = None,
    district_id: int | None = None,
    *,
    at: datetime | None = None,
    application_ids: list[int] | None = None,
) -> int:
    """Offers past their answer-by time become "expired" (the seat is freed); families are told.

    Bulk (one SELECT, one UPDATE); audited as one entry per call. Returns how many expired.
    """
    at = at or now()
    q = sa.select(Application.id).where(
        Application.status == S.OFFERED,
        Application.offer_deadline.is_not(None),
        Application.offer_deadline <= at,
    )
    if level_id is not None:
        q = q.where(Application.admission_level_id == level_id)
    if district_id is not None:
        q = q.where(in_district(district_id))
    if application_ids is not None:
        if not application_ids:
            return 0
        q = q.where(Application.id.in_(application_ids))
    ids = list(db.session.scalars(q))
    if not ids:
        return 0
    for start in range(0, len(ids), VALUES_CHUNK):
        part = ids[start : start + VALUES_CHUNK]
        db.session.execute(
            sa.update(Application.__table__)
            .where(Application.__table__.c.id.in_(part), Application.__table__.c.status == S.OFFERED)
            .values(status=S.EXPIRED, expired_at=at)
        )
    db.session.expire_all()
    audit(
        "admissions.offers.expire",
        ("admission_level", level_id) if level_id else None,
        expired=len(ids),
        district_id=district_id,
    )
    notify_later("expired", None, ids)
    return len(ids)


def expire_due(apps: Iterable[Application]) -> int:
    """Lazy expiry when applications are read (a family opening the page after the deadline)."""
    at = now()
    due = [
        a.id
        for a in apps
        if a.status == S.OFFERED and a.offer_deadline is not None and a.offer_deadline <= at
    ]
    if not due:
        return 0
    return expire_offers(application_ids=due, at=at)


def expire_offers_job() -> int:
    """RQ/cron entry point: expire every overdue offer (committed by run_job)."""
    return expire_offers()


def respond_to_offer(app_: Application, user: User, accept: bool) -> Application:
    """A parent confirms (before the deadline) or declines (frees the seat). Audited; both parents told."""
    _lock(app_)  # both parents answering at once: one answer wins
    if expire_due([app_]):
        db.session.refresh(app_)
    at = now()
    if accept:
        if app_.status == S.CONFIRMED:
            return app_  # idempotent (double click)
        if app_.status == S.EXPIRED:
            raise RoundError("expired")
        if app_.status != S.OFFERED:
            raise RoundError("no_offer")
        app_.status = S.CONFIRMED
        app_.confirmed_at = at
        event = "confirmed"
    else:
        if app_.status == S.DECLINED:
            return app_
        if app_.status not in PLACED:
            raise RoundError("expired" if app_.status == S.EXPIRED else "no_offer")
        app_.status = S.DECLINED
        app_.declined_at = at
        event = "declined"
    app_.updated_at = at
    db.session.flush()
    audit(f"application.{event}", app_, actor_id=user.id, school_id=app_.allocated_school_id)
    notify_later(event, None, [app_.id])
    return app_


# ---- over-demand: the office places the unplaced --------------------------------------------


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


# ---- reading rounds (office pages) ----------------------------------------------------------


def outcome_page(
    rnd: AllocationRound,
    *,
    school_id: int | None = None,
    unplaced: bool = False,
    page: int = 1,
    per_page: int = 100,
):
    """Children of a round at one school (priority order) or left without a seat; (rows, total)."""
    q = (
        sa.select(AllocationOutcome, Application.reference, Child.full_name)
        .join(Application, Application.id == AllocationOutcome.application_id)
        .join(Child, Child.id == Application.child_id)
        .where(AllocationOutcome.round_id == rnd.id)
    )
    if unplaced:
        q = q.where(AllocationOutcome.school_id.is_(None)).order_by(Child.full_name, Application.id)
    else:
        q = q.where(AllocationOutcome.school_id == school_id).order_by(
            AllocationOutcome.priority_class, AllocationOutcome.lottery
        )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.subquery())) or 0
    rows = db.session.execute(q.limit(per_page).offset((page - 1) * per_page)).all()
    return rows, total


@dataclass
class CompareRow:
    school: School
    official: dict
    what_if: dict

    @property
    def change(self) -> int:
        return self.what_if.get("admitted", 0) - self.official.get("admitted", 0)


def compare(what_if: AllocationRound, limit: int = 200):
    """Side by side: per school (admitted, cutoff) and the children whose school differs."""
    base = what_if.base_round
    schools = district_schools(what_if.admission_level, what_if.district_id)
    a = base.summary.get("schools", {})
    b = what_if.summary.get("schools", {})
    rows = [CompareRow(s, a.get(s.code, {}), b.get(s.code, {})) for s in schools]
    o1, o2 = sa.orm.aliased(AllocationOutcome), sa.orm.aliased(AllocationOutcome)
    differs = sa.or_(
        o1.school_id != o2.school_id,
        sa.and_(o1.school_id.is_(None), o2.school_id.is_not(None)),
        sa.and_(o1.school_id.is_not(None), o2.school_id.is_(None)),
    )
    q = (
        sa.select(Application.reference, Child.full_name, o1.school_id, o2.school_id)
        .select_from(o1)
        .join(o2, sa.and_(o2.application_id == o1.application_id, o2.round_id == what_if.id))
        .join(Application, Application.id == o1.application_id)
        .join(Child, Child.id == Application.child_id)
        .where(o1.round_id == base.id, differs)
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(q.subquery())) or 0
    moved = db.session.execute(q.order_by(Child.full_name, Application.id).limit(limit)).all()
    return rows, moved, total


def public_rounds(level_id: int | None = None) -> list[AllocationRound]:
    """Official rounds with what the public may see: the commitment always; seed and files once published."""
    q = sa.select(AllocationRound).where(AllocationRound.kind == RoundKind.OFFICIAL)
    if level_id is not None:
        q = q.where(AllocationRound.admission_level_id == level_id)
    return list(db.session.scalars(q.order_by(AllocationRound.created_at.desc()).limit(200)))


def job_progress_payload(rnd: AllocationRound, labels: dict) -> dict:
    return {
        "status": rnd.status,
        "progress": rnd.progress,
        "final": rnd.is_final,
        "status_label": str(labels.get(rnd.status, rnd.status)),
        "error": rnd.error,
    }
