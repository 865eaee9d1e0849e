"""Student-proposing deferred acceptance on arrays (pure code: no Flask, no database).

Reads the exchange format ``school-allocation-instance/1`` (admissions.allocation.instance) and
returns ``school-allocation-result/1``; the format and the method are in docs/allocation.md.

Priority of a student at a school, lower is better: ``(class, lottery)`` where class 0 = the
school is her catchment school, 1 = a sibling studies there, 2 = anyone else. The lottery is a
single tie-break shared by all schools, so priorities are strict and the student-optimal stable
matching is unique: the result is a function of the input alone.

How it is fast (scripts/bench/allocation.py; on this project's 2-core machine a 1M-student
parsed instance takes about 1.4 s dict to dict: ~0.75 s to read and check the million records,
~0.13 s for the solve on arrays, ~0.45 s to build the two million-entry output dicts):

* The solve runs the synchronous rounds of deferred acceptance (every unplaced student proposes
  to her next choice; every school keeps its best ``capacity`` of held + new proposers). Each
  (school, priority) pair is one int64 ``school << shift | key``; the held students of all schools
  live in one sorted array, new proposers are merged in (a stable sort of the two sorted runs,
  which timsort merges linearly) and each over-full school drops the tail of its group. A
  proposer who is worse than the worst held student of a full school is rejected without
  touching that array. A round costs O(P log P + H) for P proposers and H held students.
* When a round has few proposers (long rejection chains), the same rounds continue in a scalar
  loop with a max-heap per school built lazily from the sorted array, so the total work stays
  near-linear in the number of proposals instead of O(rounds x H).

Both paths produce the same rounds as the textbook synchronous algorithm, so ``stats.rounds``
does not depend on the implementation.
"""

from __future__ import annotations

import gc
import heapq
import time
from dataclasses import dataclass

import numpy as np

from .instance import CompiledInstance, compile_instance, validate_instance

RESULT_FORMAT = "school-allocation-result/1"


@dataclass
class Solution:
    """Result of :func:`solve` on arrays.

    ``school[i]``: index of the school student ``i`` got, or -1. ``position[i]``: 0-based position
    of that school in her choices, or -1. ``cutoff_key[s]``: priority key of the last admitted
    student of a full school, ``class << rank_bits | lottery_rank``; -1 if the school is not full
    (or has no seat). ``rounds``: synchronous DA rounds, ``scalar_rounds`` of which ran in the
    scalar loop.
    """

    school: np.ndarray  # int32[n]
    position: np.ndarray  # int32[n]
    cutoff_key: np.ndarray  # int64[S]
    rank_bits: int
    rounds: int
    scalar_rounds: int = 0

    def cutoff_priority(self, s: int) -> tuple[int, int] | None:
        """Return ``(class, lottery_rank)`` of school ``s``'s last admitted student, if full."""
        key = int(self.cutoff_key[s])
        if key < 0:
            return None
        return key >> self.rank_bits, key & ((1 << self.rank_bits) - 1)


# --------------------------------------------------------------------------------------------
# Deferred acceptance on arrays
# --------------------------------------------------------------------------------------------


def _default_scalar_below(held: int) -> int:
    # A vectorised round costs a few ns per held student (the merge touches the whole sorted
    # array) plus ~50 us of call overhead; a scalar proposal ~1-2 us plus building the heap of
    # each school it reaches. Measured on 1M realistic students and on single and parallel
    # rejection chains, held/1024 is near the best switch point for all three.
    return 32 + held // 1024


def solve(ci: CompiledInstance, *, scalar_below=None) -> Solution:
    """Run student-proposing deferred acceptance on a compiled instance.

    Priority key of student ``i`` at the school of entry ``e``:
    ``key = class << rank_bits | lottery_rank[i]`` (lower is better, unique per school), and a
    held student is stored as ``school << shift | key`` in one sorted int64 array.

    ``scalar_below``: continue in the scalar loop once a round has fewer proposers than this (an
    int, or a function of the number of held students; default: about held/1024). 0 means
    always vectorised, a huge number always scalar; the result is the same.
    """
    cap = ci.capacity
    start = ci.start
    ch = ci.choice_school
    cls = ci.choice_class
    rank = ci.lottery_rank
    by_lottery = ci.by_lottery
    n = len(start) - 1
    n_schools = len(cap)
    rbits = max(1, (n - 1).bit_length())  # lottery rank < 2**rbits
    shift = rbits + 2  # key = class << rbits | rank < 2**shift (class <= 2)
    rmask = (1 << rbits) - 1
    if (n_schools + 1) << shift >= 2**62:
        raise ValueError("instance too large for 64-bit priority keys")

    if scalar_below is None:
        threshold = _default_scalar_below
    elif callable(scalar_below):
        threshold = scalar_below
    else:
        fixed = int(scalar_below)

        def threshold(_held, _fixed=fixed):
            return _fixed

    ptr = start[:-1].copy()  # next (or currently held) entry of each student
    end = start[1:]
    cut = np.where(cap > 0, np.int64(2**62), np.int64(-1))  # reject combined >= cut[school]
    cnt = np.zeros(n_schools, dtype=np.int64)
    held = np.zeros(0, dtype=np.int64)  # sorted: school << shift | key of held students
    proposers = np.flatnonzero(end > ptr)
    rounds = 0

    while proposers.size and proposers.size >= threshold(held.size):
        rounds += 1
        e = ptr[proposers]
        s = ch[e].astype(np.int64)
        comb = (s << shift) | (cls[e].astype(np.int64) << rbits) | rank[proposers]
        ok = comb < cut[s]
        rejected = [proposers[~ok]]  # worse than the worst held student of a full school
        new = np.sort(comb[ok])
        if new.size:
            # merge the new proposals into the sorted array of held students: a stable sort
            # of two sorted runs is one linear merge (timsort finds the runs)
            merged = np.concatenate((held, new)) if held.size else new
            if held.size:
                merged.sort(kind="stable")
            # schools that received proposals, and how many each
            ns = new >> shift
            first = np.empty(ns.size, dtype=bool)
            first[0] = True
            np.not_equal(ns[1:], ns[:-1], out=first[1:])
            aff = ns[first]
            cnt[aff] += np.diff(np.append(np.flatnonzero(first), ns.size))
            over = cnt[aff] - cap[aff]
            has_over = over > 0
            if has_over.any():
                # each over-full school rejects the tail of its group
                oa = aff[has_over]
                ov = over[has_over]
                lo = np.searchsorted(merged, oa << shift) + cap[oa]
                drop = np.repeat(lo - (np.cumsum(ov) - ov), ov) + np.arange(int(ov.sum()))
                evicted = merged[drop]
                keep = np.ones(merged.size, dtype=bool)
                keep[drop] = False
                held = merged[keep]
                cnt[oa] = cap[oa]
                rejected.append(by_lottery[evicted & rmask])
            else:
                held = merged
            full = aff[cnt[aff] == cap[aff]]
            if full.size:
                cut[full] = held[np.searchsorted(held, full << shift) + cap[full] - 1]
        rej = np.concatenate(rejected) if len(rejected) > 1 else rejected[0]
        ptr[rej] += 1
        proposers = rej[ptr[rej] < end[rej]]

    scalar_rounds = 0
    heaps: dict = {}
    if proposers.size:
        group_start = np.searchsorted(held, np.arange(n_schools, dtype=np.int64) << shift)
        scalar_rounds = _scalar_rounds(
            proposers.tolist(), held, group_start, cnt, cap, ch, cls, rank, by_lottery, ptr, end,
            shift, rbits, heaps,
        )  # fmt: skip
        rounds += scalar_rounds

    # The final held students: the sorted array for untouched schools, the heaps otherwise.
    touched = np.zeros(n_schools, dtype=bool)
    if heaps:
        touched[np.fromiter(heaps.keys(), dtype=np.int64, count=len(heaps))] = True
        from_heaps: list = []
        for sch, heap in heaps.items():
            from_heaps += map((sch << shift).__sub__, heap)
            cnt[sch] = len(heap)
        final = np.concatenate([held[~touched[held >> shift]], np.array(from_heaps, dtype=np.int64)])
    else:
        final = held

    school = np.full(n, -1, dtype=np.int32)
    school[by_lottery[final & rmask]] = final >> shift
    position = np.where(school >= 0, ptr - start[:-1], -1).astype(np.int32)

    cutoff_key = np.full(n_schools, -1, dtype=np.int64)
    full = np.flatnonzero((cnt == cap) & (cap > 0))
    for sch in full[touched[full]].tolist():
        cutoff_key[sch] = -heaps[sch][0]
    full = full[~touched[full]]
    if full.size:
        last = held[np.searchsorted(held, full << shift) + cap[full] - 1]
        cutoff_key[full] = last - (full << shift)
    return Solution(
        school=school,
        position=position,
        cutoff_key=cutoff_key,
        rank_bits=rbits,
        rounds=rounds,
        scalar_rounds=scalar_rounds,
    )


def _scalar_rounds(
    cur, held, group_start, cnt, cap, ch, cls, rank, by_lottery, ptr, end, shift, rbits, heaps
) -> int:
    """Continue the synchronous rounds one proposal at a time; return the number of rounds.

    ``heaps[s]`` is a max-heap (negated keys) of the students school ``s`` holds, built from its
    slice of the sorted ``held`` array the first time ``s`` receives a proposal here.
    Memoryviews give plain-int element access, several times faster than numpy scalars.
    """
    chv, clsv, rankv, byv = ch.data, cls.data, rank.data, by_lottery.data
    ptrv, endv, capv, cntv, gsv = ptr.data, end.data, cap.data, cnt.data, group_start.data
    heldv = held.data
    heappush, heapreplace = heapq.heappush, heapq.heapreplace
    rmask = (1 << rbits) - 1
    rounds = 0
    while cur:
        rounds += 1
        nxt = []
        for i in cur:
            p = ptrv[i]
            s = chv[p]
            key = clsv[p] << rbits | rankv[i]
            heap = heaps.get(s)
            if heap is None:
                c = cntv[s]
                if c == 1:
                    heap = [(s << shift) - heldv[gsv[s]]]
                elif c:
                    # held keys ascending, reversed and negated: ascending, so a valid heap
                    lo = gsv[s]
                    heap = heldv[lo : lo + c].tolist()
                    heap.reverse()
                    heap = list(map((s << shift).__sub__, heap))
                else:
                    heap = []
                heaps[s] = heap
            if len(heap) < capv[s]:
                heappush(heap, -key)
                continue
            if heap and -heap[0] > key:
                j = byv[-heapreplace(heap, -key) & rmask]
            else:
                j = i
            p = ptrv[j] + 1
            ptrv[j] = p
            if p < endv[j]:
                nxt.append(j)
        cur = nxt
    return rounds


# --------------------------------------------------------------------------------------------
# Output
# --------------------------------------------------------------------------------------------


def build_result(ci: CompiledInstance, sol: Solution, seconds: float) -> dict:
    """Turn a solution into the ``school-allocation-result/1`` dict (keys in input order)."""
    n = ci.n_students
    names = np.array([*ci.school_ids, None], dtype=object)  # index -1 -> None
    assignment = dict(zip(ci.student_ids, names[sol.school].tolist(), strict=True))
    max_len = int(np.diff(ci.start).max()) if n else 0
    rank_values = np.array([None, *range(1, max_len + 1)], dtype=object)
    # Same keys in the same order: copying the table and overwriting the values is faster
    # than hashing a million keys into a new one.
    ranks = assignment.copy()
    ranks.update(zip(ci.student_ids, rank_values[sol.position + 1].tolist(), strict=True))
    cutoffs = {}
    for s in np.flatnonzero(sol.cutoff_key >= 0).tolist():
        cls, lottery_rank = sol.cutoff_priority(s)
        cutoffs[ci.school_ids[s]] = [cls, int(ci.lottery_sorted[lottery_rank])]
    assigned = int(np.count_nonzero(sol.school >= 0))
    return {
        "format": RESULT_FORMAT,
        "assignment": assignment,
        "ranks": ranks,
        "cutoffs": cutoffs,
        "stats": {
            "students": n,
            "assigned": assigned,
            "unassigned": n - assigned,
            "rounds": sol.rounds,
            "seconds": round(seconds, 4),
        },
    }


def allocate_instance(instance: dict, *, scalar_below=None) -> dict:
    """Validate a ``school-allocation-instance/1`` dict and return the result dict.

    Raise :class:`InstanceError` (a ``ValueError``) naming the first malformed record.
    Unknown keys are ignored. ``stats.seconds`` is the only part that varies between runs.
    """
    t0 = time.perf_counter()
    # The cyclic GC would walk the whole (million-object) instance each time the heaps and
    # cutoff lists made here trigger a collection; nothing made here forms cycles.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        ci = compile_instance(instance, check_ids=False)
        sol = solve(ci, scalar_below=scalar_below)
        result = build_result(ci, sol, 0.0)
    finally:
        if gc_was_enabled:
            gc.enable()
    # Student ids are checked here: building the assignment dict hashed them anyway.
    if len(result["assignment"]) != ci.n_students or "" in result["assignment"]:
        validate_instance(instance)  # raises, naming the record
        raise AssertionError("duplicate or empty student id not located")  # pragma: no cover
    result["stats"]["seconds"] = round(time.perf_counter() - t0, 4)
    return result
