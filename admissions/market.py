"""A level's applications in a district as an exchange-format market: the instance a round runs on.

Round 1 takes every live application and draws the lottery from the round's seed; later rounds
take everyone still in the season with round 1's numbers and apply the reduction
(docs/allocation.md, "Rounds in the app"). Bounded queries, plain rows, no ORM objects.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass, field

import sqlalchemy as sa

from app.extensions import db
from app.models import School, Ward

from . import allocation
from .allocation import INSTANCE_FORMAT, later_round_instance, student_key
from .applications import PLACED, in_district
from .models import (
    AdmissionLevel,
    AllocationOutcome,
    AllocationRound,
    Application,
    ApplicationChoice,
    ApplicationStatus,
    Child,
    RoundKind,
)

S = ApplicationStatus
ROUND_ONE_STATUSES = (S.SUBMITTED, S.ALLOCATED)
LATER_STATUSES = (S.OFFERED, S.CONFIRMED, S.UNPLACED)


def official_round(level_id: int, district_id: int, number: int) -> AllocationRound | None:
    return db.session.scalar(
        sa.select(AllocationRound).where(
            AllocationRound.admission_level_id == level_id,
            AllocationRound.district_id == district_id,
            AllocationRound.kind == RoundKind.OFFICIAL,
            AllocationRound.number == number,
        )
    )


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


def build_instance(rnd: AllocationRound, numbers: dict[str, int] | None = None) -> Built:
    """The exchange-format instance of ``rnd`` from the database (bounded queries, no ORM rows).
    Round 1 takes ``numbers`` (the official draw over the frozen entry codes) when given, else
    draws a private preview from the round's seed (what-if runs before any official attempt)."""
    t0 = time.perf_counter()
    level = rnd.admission_level
    if rnd.number == 1:
        market = load_market(level, rnd.district_id, ROUND_ONE_STATUSES, numbers, rnd.seed)
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
