"""The app's side of the exchange format, as pure functions (no Flask, no database).

Pseudonymous student ids, priority classes, the later-round reduction, the stability and
guarantee checks, the per-school summary stored with a round, and the distances the office's
placement page sorts by. Why the reduction keeps every held seat: docs/allocation.md, "Rounds in
the app".
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable

from .instance import CATCHMENT, INSTANCE_FORMAT, OTHER, SIBLING


def student_key(application_id: int) -> str:
    """The pseudonymous id of an application in the exchange files."""
    return f"A{application_id}"


def application_id_of(key: str) -> int:
    return int(key[1:])


def priority_class(student: dict, school: str) -> int:
    if student.get("catchment") == school:
        return CATCHMENT
    if school in (student.get("sibling_schools") or ()):
        return SIBLING
    return OTHER


def later_round_instance(
    schools: dict[str, int],
    students: list[dict],
    held: dict[str, str],
    office: dict[str, str],
    meta: dict | None = None,
) -> dict:
    """Round N ≥ 2 as an exchange-format instance (docs/allocation.md, "Later rounds").

    ``schools``: code → seats; ``students``: exchange records with their *full* lists and round 1's
    lottery numbers (the declined, expired and withdrawn left out); ``held``: id → school a round
    gave her; ``office``: id → school the office assigned. Each student record also carries
    ``held`` or ``office_seat`` (unknown keys: the allocator ignores them) for the record.
    """
    held_count = Counter(held.values())
    office_count = Counter(office.values())
    out_schools = [
        {"id": code, "capacity": max(cap - office_count.get(code, 0), held_count.get(code, 0), 0)}
        for code, cap in schools.items()
    ]
    out_students = []
    for st in students:
        rec = dict(st)
        sid = st["id"]
        choices = list(st["choices"])
        if sid in held:
            seat = held[sid]
            choices = choices[: choices.index(seat) + 1] if seat in choices else [*choices, seat]
            rec["held"] = seat
        elif sid in office:
            seat = office[sid]
            if seat in choices:
                choices = choices[: choices.index(seat)]
            rec["office_seat"] = seat
        rec["choices"] = choices
        out_students.append(rec)
    instance = {"format": INSTANCE_FORMAT, "schools": out_schools, "students": out_students}
    if meta:
        instance["meta"] = meta
    return instance


def lost_guarantees(instance: dict, result: dict) -> list[str]:
    """Ids of children who held a seat from a round and are left without one (must be empty)."""
    assignment = result["assignment"]
    return [st["id"] for st in instance["students"] if st.get("held") and assignment.get(st["id"]) is None]


def blocking_pairs(instance: dict, assignment: dict[str, str | None]) -> list[tuple[str, str]]:
    """Pairs (student, school) that block ``assignment`` under the instance's lists and priorities.

    A pair blocks when the student ranks the school above what she got (or got nothing) and the
    school has a free seat or holds someone of worse priority ``(class, lottery)``. Empty = stable.
    """
    capacity = {s["id"]: s["capacity"] for s in instance["schools"]}
    by_id = {st["id"]: st for st in instance["students"]}
    worst: dict[str, tuple[int, int]] = {}
    held: Counter = Counter()
    for sid, school in assignment.items():
        if school is None:
            continue
        held[school] += 1
        key = (priority_class(by_id[sid], school), by_id[sid]["lottery"])
        if school not in worst or key > worst[school]:
            worst[school] = key
    pairs = []
    for st in instance["students"]:
        got = assignment.get(st["id"])
        for school in st["choices"]:
            if school == got:
                break
            key = (priority_class(st, school), st["lottery"])
            if held[school] < capacity.get(school, 0) or (school in worst and key < worst[school]):
                pairs.append((st["id"], school))
    return pairs


def summarize(instance: dict, result: dict) -> dict:
    """Per-school figures and totals of a run (stored with the round; small)."""
    assignment = result["assignment"]
    admitted = Counter(s for s in assignment.values() if s is not None)
    catchment = Counter(st.get("catchment") for st in instance["students"] if st.get("catchment"))
    first = Counter(st["choices"][0] for st in instance["students"] if st["choices"])
    ranks = Counter(r for r in result["ranks"].values() if r is not None)
    schools = {}
    for s in instance["schools"]:
        code = s["id"]
        schools[code] = {
            "capacity": s["capacity"],
            "admitted": admitted.get(code, 0),
            "cutoff": result["cutoffs"].get(code),
            "catchment_applicants": catchment.get(code, 0),
            "first_choice": first.get(code, 0),
        }
    students = len(instance["students"])
    assigned = sum(admitted.values())
    return {
        "schools": schools,
        "students": students,
        "assigned": assigned,
        "unassigned": students - assigned,
        "by_rank": {str(k): v for k, v in sorted(ranks.items())},
    }


def haversine_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in kilometres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * 6371.0 * math.asin(min(1.0, math.sqrt(a)))


def nearest(
    origin: tuple[float, float] | None,
    schools: Iterable[tuple[int, float | None, float | None, int]],
    limit: int = 5,
    first: int | None = None,
) -> list[tuple[int, float | None, int]]:
    """Schools with seats left, nearest first: (school id, km or None, seats left).

    ``schools``: (id, latitude, longitude, seats left). ``first`` (the child's catchment school)
    comes first when it has seats. Without coordinates, schools with more seats come first.
    """
    rows = []
    for sid, lat, lon, left in schools:
        if left <= 0:
            continue
        km = None
        if origin is not None and lat is not None and lon is not None:
            km = haversine_km(origin[0], origin[1], lat, lon)
        rows.append((0 if sid == first else 1, km is None, km or 0.0, -left, sid, km, left))
    rows.sort()
    return [(r[4], r[5], r[6]) for r in rows[:limit]]
