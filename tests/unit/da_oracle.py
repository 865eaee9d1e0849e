"""A plain, obviously-correct deferred acceptance used as the oracle for admissions.allocation.

Textbook synchronous rounds: in every round each unplaced student who still has a school left on
her list proposes to it; each school keeps the best ``capacity`` students among those it holds
and the new proposers (a max-heap of priorities per school), and rejects the rest. Priority of a
student at a school is ``(class, lottery)``, lower is better, class 0 = catchment, 1 = sibling,
2 = other. No validation: give it valid instances only. Also used by the benchmark as the
pure-Python peer.
"""

from __future__ import annotations

import heapq
import time


def priority(student: dict, school: str) -> tuple[int, int]:
    """Return the (class, lottery) priority of ``student`` at ``school``; lower is better."""
    if student["catchment"] == school:
        cls = 0
    elif school in student["sibling_schools"]:
        cls = 1
    else:
        cls = 2
    return cls, student["lottery"]


def oracle_allocate(instance: dict) -> dict:
    """Return the ``school-allocation-result/1`` dict for a valid instance."""
    t0 = time.perf_counter()
    capacity = {school["id"]: school["capacity"] for school in instance["schools"]}
    students = instance["students"]
    by_id = {student["id"]: student for student in students}

    next_choice = {student["id"]: 0 for student in students}
    # held[school]: max-heap of (-class, -lottery, student id) for the students it holds
    held: dict[str, list] = {school: [] for school in capacity}
    proposers = [student["id"] for student in students if student["choices"]]
    rounds = 0
    while proposers:
        rounds += 1
        rejected = []
        for sid in proposers:
            student = by_id[sid]
            school = student["choices"][next_choice[sid]]
            cls, lottery = priority(student, school)
            heap = held[school]
            heapq.heappush(heap, (-cls, -lottery, sid))
            if len(heap) > capacity[school]:
                _, _, loser = heapq.heappop(heap)  # the worst priority
                rejected.append(loser)
        proposers = []
        for sid in rejected:
            next_choice[sid] += 1
            if next_choice[sid] < len(by_id[sid]["choices"]):
                proposers.append(sid)

    assignment = {student["id"]: None for student in students}
    ranks = {student["id"]: None for student in students}
    cutoffs = {}
    for school in capacity:  # schools in input order
        heap = held[school]
        for _, _, sid in heap:
            assignment[sid] = school
            ranks[sid] = next_choice[sid] + 1
        if heap and len(heap) == capacity[school]:
            neg_cls, neg_lottery, _ = heap[0]
            cutoffs[school] = [-neg_cls, -neg_lottery]
    assigned = sum(1 for value in assignment.values() if value is not None)
    return {
        "format": "school-allocation-result/1",
        "assignment": assignment,
        "ranks": ranks,
        "cutoffs": cutoffs,
        "stats": {
            "students": len(students),
            "assigned": assigned,
            "unassigned": len(students) - assigned,
            "rounds": rounds,
            "seconds": round(time.perf_counter() - t0, 4),
        },
    }
