"""Allocation rounds: create, queue and run them, store the result, publish the offers.

One round is one run of student-proposing deferred acceptance (admissions.allocation) for one
level in one district. The seed and lottery, the instance, the later-round reduction, the
guarantee and the statuses are explained in docs/allocation.md ("Rounds in the app"); the
instance is built by market.py, offers and answers are offers.py, the office's placement of the
unplaced is placement.py.

A round is published only if the applications are still as the round saw them (a fingerprint of
statuses and seats); otherwise the officer runs it again.
"""

from __future__ import annotations

import logging
import time
from datetime import datetime

import sqlalchemy as sa

from app import jobs
from app.audit import audit
from app.extensions import db
from app.models import User

from . import allocation, counters, freeze
from .allocation import application_id_of, lost_guarantees, priority_class, summarize
from .applications import in_district_table, lock_row
from .eligibility import district_schools
from .market import Built, build_instance, official_round
from .models import (
    AdmissionLevel,
    AllocationOutcome,
    AllocationRound,
    Application,
    ApplicationStatus,
    RoundKind,
    RoundStatus,
)
from .offers import expire_offers, notify_later
from .offers import notify_families as notify_families  # job path of notices queued before the split
from .round_checks import (  # noqa: F401 - fingerprint and inputs_digest are part of this module's API
    check_inputs_unchanged,
    fingerprint,
    fingerprint_and_digest,
    inputs_digest,
    is_postgresql,
)
from .rules import RoundError
from .seasons import level_window, now

S = ApplicationStatus

log = logging.getLogger(__name__)


# ---- queries ----------------------------------------------------------------------------------


def rounds_of(level_id: int, district_id: int) -> list[AllocationRound]:
    return list(
        db.session.scalars(
            sa.select(AllocationRound)
            .where(AllocationRound.admission_level_id == level_id, AllocationRound.district_id == district_id)
            .order_by(AllocationRound.number.desc(), AllocationRound.kind, AllocationRound.id.desc())
        )
    )


def what_ifs_of(rnd: AllocationRound) -> list[AllocationRound]:
    """The what-if runs compared with an official round, newest first."""
    if not rnd.is_official:
        return []
    return list(
        db.session.scalars(
            sa.select(AllocationRound)
            .where(AllocationRound.base_round_id == rnd.id)
            .order_by(AllocationRound.id.desc())
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


# ---- creating and queueing ---------------------------------------------------------------------


def create_official_round(level: AdmissionLevel, district_id: int, actor: User) -> AllocationRound:
    """Round 1 takes the office's committed seed (drawn now if the scheduled commitment has not
    run yet: the public page then shows it came late); round N+1 needs round N published."""
    last = latest_official(level.id, district_id)
    if last is None:
        seed = freeze.ensure_commitment(level, district_id).secret  # its SHA-256 is public already
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
        window = level_window(rnd.admission_level)
        if rnd.is_official and window.status(now()) != "closed":
            raise RoundError("window_not_closed")


def queue_round(rnd: AllocationRound, actor: User, reason: str = "") -> None:
    """Queue the run (an RQ job after the commit; in-process without Redis). An official run is a
    public attempt on the latest entry version (freeze.begin_attempt: a re-run needs a reason;
    round 1 waits for the beacon)."""
    lock_row(rnd)  # two clicks, two officers: one run
    _check_runnable(rnd)
    if rnd.number > 1 and rnd.is_official:
        expire_offers(rnd.admission_level_id, rnd.district_id)
    if rnd.is_official:
        digest = inputs_digest(rnd.admission_level, rnd.district_id)  # before the freeze reads
        freeze.begin_attempt(rnd, actor, reason)
        rnd.summary = {**(rnd.summary or {}), "inputs_digest": digest}
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


# ---- running and storing -----------------------------------------------------------------------


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
        numbers, lottery_meta = freeze.lottery_numbers(rnd)
        if numbers is None and rnd.is_official and rnd.number == 1:
            raise RoundError("beacon_wait")
        built = build_instance(rnd, numbers)
        built.instance["meta"].update(lottery_meta)
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
        freeze.finish_attempt(rnd, result)
    except (RoundError, allocation.InstanceError) as err:
        # A problem with the data, not with the machine: record it, do not retry.
        db.session.rollback()
        rnd = db.session.get(AllocationRound, round_id)
        rnd.status = RoundStatus.FAILED
        rnd.progress = 0
        rnd.error = err.code if isinstance(err, RoundError) else str(err)
        rnd.finished_at = now()
        freeze.finish_attempt(rnd, None)
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
                in_district_table(rnd.district_id),
            )
            .values(status=S.ALLOCATED, allocated_at=at)
        )
        counters.recompute_for_season(rnd.admission_level_id, rnd.district_id, statuses_only=True)
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
    summary["inputs_digest"] = (rnd.summary or {}).get("inputs_digest")  # taken when queued
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


# ---- publishing -------------------------------------------------------------------------------


def default_confirm_by(rnd: AllocationRound) -> datetime | None:
    deadline = rnd.admission_level.confirm_by
    if rnd.number == 1 and deadline is not None and deadline > now():
        return deadline
    return None


def apply_outcomes(
    rnd: AllocationRound, at: datetime, confirm_by: datetime
) -> tuple[list[int], list[int], list[int], int]:
    """The round's outcomes onto its applications, set-based (UPDATE … FROM allocation_outcome: no
    row travels through Python). Returns the ids (offered, moved, unplaced) and how many of the
    offered or moved held a seat before (children moving up).

    Round 1: every child with a seat is offered it, the others are "unplaced". A later round: a
    child whose seat changed (or who had none) gets it; a confirmed place moving up stays
    confirmed (moved), any other becomes a new offer."""
    t, o = Application.__table__, AllocationOutcome.__table__
    mine = (o.c.round_id == rnd.id, o.c.application_id == t.c.id)
    seat = {"allocated_school_id": o.c.school_id, "allocated_rank": o.c.rank}
    common = {"placed_by_round_id": rnd.id, "assigned_by_id": None, "allocated_at": at}
    offer = {**seat, **common, "status": S.OFFERED, "offered_at": at, "offer_deadline": confirm_by}

    def update(*where, **values) -> list[int]:
        return list(db.session.scalars(sa.update(t).where(*mine, *where).values(**values).returning(t.c.id)))

    if rnd.number == 1:
        offered = update(o.c.school_id.is_not(None), **offer)
        unplaced = update(
            o.c.school_id.is_(None),
            status=S.UNPLACED,
            offered_at=None,
            offer_deadline=None,
            allocated_school_id=None,
            allocated_rank=None,
            placed_by_round_id=rnd.id,
        )
        return offered, [], unplaced, 0
    moving = (o.c.school_id.is_not(None), o.c.school_id.is_distinct_from(o.c.previous_school_id))
    # Who moves up (held a seat before): read first, the few changed rows only (SQLite's RETURNING
    # cannot name the joined table).
    n_up = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(o)
        .where(*mine[:1], *moving, o.c.previous_school_id.is_not(None))
    )
    moved = update(*moving, t.c.status == S.CONFIRMED, **seat, **common)
    offered = update(*moving, t.c.status != S.CONFIRMED, **offer)
    return offered, moved, [], int(n_up or 0)


def publish_round(rnd: AllocationRound, actor: User, confirm_by: datetime | None) -> dict[str, int]:
    """One transaction: offers (or "unplaced"), the round published, the seed revealed, audited;
    notifications after the commit. Returns counts."""
    actor_id = actor.id
    lock_row(rnd)  # two officers publishing at once: one publication
    if not rnd.is_official:
        raise RoundError("what_if_publish")
    if rnd.status != RoundStatus.DONE:
        raise RoundError("not_done")
    confirm_by = confirm_by or default_confirm_by(rnd)
    at = now()
    if confirm_by is None or confirm_by <= at:
        raise RoundError("confirm_by")
    if is_postgresql():
        # Sorts and hashes of a whole district (the checks below, the join of the outcomes) in
        # memory rather than in temporary files; for this transaction only.
        db.session.execute(sa.text("SET LOCAL work_mem = '64MB'"))
    expire_offers(rnd.admission_level_id, rnd.district_id, at=at)
    current, digest = fingerprint_and_digest(rnd.admission_level, rnd.district_id)
    if current != rnd.fingerprint:
        raise RoundError("stale")
    check_inputs_unchanged(rnd, digest)
    offered, moved, unplaced, n_up = apply_outcomes(rnd, at, confirm_by)
    changed = offered + moved + unplaced
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
    counters.recompute_for_season(rnd.admission_level_id, rnd.district_id, statuses_only=True)
    return counts
