"""School allocation by student-proposing deferred acceptance (pure code: no Flask, no database).

Reads the exchange format ``school-allocation-instance/1`` and returns
``school-allocation-result/1`` (see DESIGN.md section 4 and docs/allocation.md).

Priority of a student at a school, lower is better: ``(class, lottery)`` where class 0 = the
school is her catchment school, 1 = a sibling studies there, 2 = anyone else. The lottery is a
single tie-break shared by all schools, so priorities are strict and the student-optimal stable
matching is unique: the result is a function of the input alone.

How it is fast (1M students in about a second, see scripts/bench/allocation.py):

* The instance is checked and turned into arrays with whole-list operations
  (``map``/``itemgetter``/``numpy.fromiter``); only if anything looks wrong does a slow
  record-by-record pass run, to name the first bad record precisely.
* The solve runs the synchronous rounds of deferred acceptance (every unplaced student proposes
  to her next choice; every school keeps its best ``capacity`` of held + new proposers). Each
  (school, priority) pair is one int64 ``school * M + key``; the held students of all schools
  live in one sorted array, new proposers are merged in with ``searchsorted`` and each over-full
  school drops the tail of its group. A proposer who is worse than the worst held student of a
  full school is rejected without touching that array. A round costs O(P log P + H) for P
  proposers and H held students.
* When a round has few proposers (long rejection chains), the same rounds continue in a scalar
  loop with a max-heap per school built lazily from the sorted array, so the total work stays
  near-linear in the number of proposals instead of O(rounds x H).

Both paths produce the same rounds as the textbook synchronous algorithm, so ``stats.rounds``
does not depend on the implementation.
"""

from __future__ import annotations

import heapq
import time
from dataclasses import dataclass
from itertools import chain
from operator import itemgetter

import numpy as np

from admissions.lottery import draw_lottery, new_seed, seed_commitment, verify_commitment

__all__ = [
    "CATCHMENT",
    "INSTANCE_FORMAT",
    "OTHER",
    "RESULT_FORMAT",
    "SIBLING",
    "CompiledInstance",
    "InstanceError",
    "Solution",
    "allocate_instance",
    "build_result",
    "compile_instance",
    "draw_lottery",
    "new_seed",
    "run_file",
    "seed_commitment",
    "solve",
    "validate_instance",
    "verify_commitment",
]

INSTANCE_FORMAT = "school-allocation-instance/1"
RESULT_FORMAT = "school-allocation-result/1"

# Priority classes, lower is better.
CATCHMENT, SIBLING, OTHER = 0, 1, 2
_N_CLASSES = 3

_STUDENT_FIELDS = ("id", "choices", "catchment", "sibling_schools", "lottery")
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class InstanceError(ValueError):
    """A malformed allocation instance; ``record`` names the offending record."""

    def __init__(self, record: str, problem: str):
        self.record = record
        self.problem = problem
        super().__init__(f"{record}: {problem}")


class _LooksInvalid(Exception):
    """Raised inside the fast path; the slow validator then finds and names the problem."""


@dataclass
class CompiledInstance:
    """An instance as arrays. Index ``i`` is the i-th student, ``s`` the s-th school.

    ``start`` is a CSR offset array: student ``i`` ranks ``choice_school[start[i]:start[i+1]]``,
    most preferred first, and has priority class ``choice_class[e]`` at the school of entry ``e``.
    ``lottery_rank[i]`` is the 0-based position of her lottery number among all students
    (``lottery_sorted[lottery_rank[i]]`` is the number itself).
    """

    school_ids: list
    capacity: np.ndarray  # int64[S]
    student_ids: list
    start: np.ndarray  # int64[n+1]
    choice_school: np.ndarray  # int32[E]
    choice_class: np.ndarray  # int8[E]
    lottery_rank: np.ndarray  # int64[n]
    lottery_sorted: np.ndarray  # int64[n]

    @property
    def n_students(self) -> int:
        return len(self.student_ids)

    @property
    def n_schools(self) -> int:
        return len(self.school_ids)


@dataclass
class Solution:
    """Result of :func:`solve` on arrays.

    ``school[i]``: index of the school student ``i`` got, or -1. ``position[i]``: 0-based position
    of that school in her choices, or -1. ``cutoff_key[s]``: priority key ``class * n + rank`` of
    the last admitted student of a full school, -1 if the school is not full (or has no seat).
    """

    school: np.ndarray  # int32[n]
    position: np.ndarray  # int32[n]
    cutoff_key: np.ndarray  # int64[S]
    rounds: int
    scalar_rounds: int = 0


# --------------------------------------------------------------------------------------------
# Validation and compilation
# --------------------------------------------------------------------------------------------


def _tname(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list | tuple):
        return "list"
    if isinstance(value, dict):
        return "object"
    return type(value).__name__


def _show(value) -> str:
    """Short JSON-ish rendering of a value for an error message."""
    if isinstance(value, str):
        text = value if len(value) <= 60 else value[:57] + "..."
        return '"' + text.replace('"', '\\"') + '"'
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_top(instance) -> tuple[list, list]:
    if not isinstance(instance, dict):
        raise InstanceError("instance", f"expected a JSON object, got {_tname(instance)}")
    if "format" not in instance:
        raise InstanceError("instance", f'missing "format" (expected "{INSTANCE_FORMAT}")')
    if instance["format"] != INSTANCE_FORMAT:
        raise InstanceError(
            "instance", f'"format" must be "{INSTANCE_FORMAT}", got {_show(instance["format"])}'
        )
    for key in ("schools", "students"):
        if key not in instance:
            raise InstanceError("instance", f'missing "{key}"')
        if not isinstance(instance[key], list | tuple):
            raise InstanceError("instance", f'"{key}" must be a list, got {_tname(instance[key])}')
    return instance["schools"], instance["students"]


def _compile_schools(schools) -> tuple[dict, list, np.ndarray]:
    """Check the school records (few thousand: a plain loop) and index them."""
    index: dict = {}
    ids: list = []
    caps: list = []
    for pos, rec in enumerate(schools):
        where = f"schools[{pos}]"
        if not isinstance(rec, dict):
            raise InstanceError(where, f"expected an object, got {_tname(rec)}")
        if "id" not in rec:
            raise InstanceError(where, 'missing "id"')
        sid = rec["id"]
        if not isinstance(sid, str) or not sid:
            raise InstanceError(where, f'"id" must be a non-empty string, got {_show(sid)}')
        name = f"school {_show(sid)}"
        if sid in index:
            raise InstanceError(name, f"duplicate id (schools[{index[sid]}] and schools[{pos}])")
        if "capacity" not in rec:
            raise InstanceError(name, 'missing "capacity"')
        cap = rec["capacity"]
        if not _is_int(cap) or cap < 0:
            raise InstanceError(name, f"capacity must be a non-negative integer, got {_show(cap)}")
        if cap > _INT64_MAX // 4:
            raise InstanceError(name, f"capacity {cap} is out of range")
        index[sid] = pos
        ids.append(sid)
        caps.append(cap)
    return index, ids, np.array(caps, dtype=np.int64)


def _validate_students_slow(students, school_index: dict) -> None:
    """Check every student record in order; raise on the first problem, naming the record."""
    seen_ids: dict = {}
    seen_lottery: dict = {}
    for pos, rec in enumerate(students):
        where = f"students[{pos}]"
        if not isinstance(rec, dict):
            raise InstanceError(where, f"expected an object, got {_tname(rec)}")
        if "id" not in rec:
            raise InstanceError(where, 'missing "id"')
        sid = rec["id"]
        if not isinstance(sid, str) or not sid:
            raise InstanceError(where, f'"id" must be a non-empty string, got {_show(sid)}')
        name = f"student {_show(sid)}"
        if sid in seen_ids:
            raise InstanceError(name, f"duplicate id (students[{seen_ids[sid]}] and students[{pos}])")
        seen_ids[sid] = pos
        for key in _STUDENT_FIELDS[1:]:
            if key not in rec:
                hint = " (use null for none)" if key == "catchment" else ""
                hint = " (use [] for none)" if key == "sibling_schools" else hint
                raise InstanceError(name, f'missing "{key}"{hint}')

        choices = rec["choices"]
        if not isinstance(choices, list | tuple):
            raise InstanceError(name, f'"choices" must be a list of school ids, got {_tname(choices)}')
        first_at: dict = {}
        for k, school in enumerate(choices, start=1):
            if not isinstance(school, str) or school not in school_index:
                raise InstanceError(name, f"choice {k} {_show(school)} is not a known school")
            if school in first_at:
                raise InstanceError(
                    name,
                    f"choice {_show(school)} is repeated (choices {first_at[school]} and {k})",
                )
            first_at[school] = k

        catchment = rec["catchment"]
        if catchment is not None and (not isinstance(catchment, str) or catchment not in school_index):
            raise InstanceError(name, f"catchment {_show(catchment)} is not a known school")

        siblings = rec["sibling_schools"]
        if not isinstance(siblings, list | tuple):
            raise InstanceError(
                name, f'"sibling_schools" must be a list of school ids, got {_tname(siblings)}'
            )
        for school in siblings:
            if not isinstance(school, str) or school not in school_index:
                raise InstanceError(name, f"sibling school {_show(school)} is not a known school")

        lottery = rec["lottery"]
        if not _is_int(lottery):
            raise InstanceError(name, f"lottery must be an integer, got {_show(lottery)}")
        if not _INT64_MIN <= lottery <= _INT64_MAX:
            raise InstanceError(name, f"lottery {lottery} is out of the 64-bit integer range")
        if lottery in seen_lottery:
            other = students[seen_lottery[lottery]]["id"]
            raise InstanceError(
                name, f"lottery {lottery} is also held by student {_show(other)} (must be unique)"
            )
        seen_lottery[lottery] = pos


def validate_instance(instance) -> None:
    """Check ``instance`` record by record (slow, precise). Raise :class:`InstanceError`."""
    schools, students = _check_top(instance)
    index, _, _ = _compile_schools(schools)
    _validate_students_slow(students, index)


def _only_types(values, allowed: tuple) -> bool:
    return set(map(type, values)).issubset(allowed)


def _compile_students_fast(students, school_index: dict, n_schools: int):
    """Turn the student records into arrays with whole-list operations.

    Raise ``_LooksInvalid`` (or let a KeyError/TypeError/... escape) on anything unexpected; the
    caller then runs the slow validator, which names the record.
    """
    n = len(students)
    if n and not _only_types(students, (dict,)):
        raise _LooksInvalid
    ids = list(map(itemgetter("id"), students))
    choices = list(map(itemgetter("choices"), students))
    catchments = list(map(itemgetter("catchment"), students))
    siblings = list(map(itemgetter("sibling_schools"), students))
    lotteries = list(map(itemgetter("lottery"), students))

    if n:
        if not _only_types(ids, (str,)):
            raise _LooksInvalid
        id_set = set(ids)
        if len(id_set) != n or "" in id_set:
            raise _LooksInvalid
        del id_set
        if not _only_types(choices, (list, tuple)) or not _only_types(siblings, (list, tuple)):
            raise _LooksInvalid
        if not _only_types(lotteries, (int,)):  # type() is exact: bool is rejected
            raise _LooksInvalid

    # Choices as CSR arrays; an unknown or non-string school id raises KeyError/TypeError.
    lengths = np.fromiter(map(len, choices), dtype=np.int64, count=n)
    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=start[1:])
    n_entries = int(start[-1])
    choice_school = np.fromiter(
        map(school_index.__getitem__, chain.from_iterable(choices)),
        dtype=np.int32,
        count=n_entries,
    )
    del choices
    row = np.repeat(np.arange(n, dtype=np.int64), lengths)  # student of each entry
    if n_entries:
        _check_no_repeats(choice_school, start, lengths, row)

    # Catchment: -1 for null.
    lookup = dict(school_index)
    lookup[None] = -1
    catchment = np.fromiter(map(lookup.__getitem__, catchments), dtype=np.int32, count=n)
    del catchments, lookup

    choice_class = np.full(n_entries, OTHER, dtype=np.int8)
    if n_entries:
        choice_class[choice_school == catchment[row]] = CATCHMENT

    # Siblings: mark entries whose (student, school) pair is a sibling pair.
    sib_len = np.fromiter(map(len, siblings), dtype=np.int64, count=n)
    n_sib = int(sib_len.sum())
    sib_school = np.fromiter(
        map(school_index.__getitem__, chain.from_iterable(siblings)),
        dtype=np.int64,
        count=n_sib,
    )
    del siblings
    if n_sib and n_entries:
        sib_key = np.repeat(np.arange(n, dtype=np.int64), sib_len) * n_schools + sib_school
        cand = np.flatnonzero(sib_len[row] > 0)
        cand_key = row[cand] * n_schools + choice_school[cand]
        hit = cand[np.isin(cand_key, sib_key)]
        choice_class[hit] = np.minimum(choice_class[hit], SIBLING)
    del row

    # Lottery: unique integers; rank 0 = lowest number = best.
    lottery = np.array(lotteries, dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    del lotteries
    order = np.argsort(lottery, kind="stable")
    lottery_sorted = lottery[order]
    if n > 1 and bool((lottery_sorted[1:] == lottery_sorted[:-1]).any()):
        raise _LooksInvalid
    lottery_rank = np.empty(n, dtype=np.int64)
    lottery_rank[order] = np.arange(n, dtype=np.int64)
    return ids, start, choice_school, choice_class, lottery_rank, lottery_sorted


_PAD_WIDTH = 8


def _check_no_repeats(choice_school, start, lengths, row) -> None:
    """Raise _LooksInvalid if a student lists a school twice.

    The first few choices of every student go into an n x W matrix (distinct negative padding)
    and its columns are compared pairwise; the rare longer lists are checked one by one.
    """
    n = len(lengths)
    width = int(min(int(lengths.max()), _PAD_WIDTH))
    col = np.arange(len(choice_school), dtype=np.int64) - start[row]
    pad = np.empty((n, width), dtype=np.int32)
    pad[:] = -1 - np.arange(width, dtype=np.int32)
    sel = col < width
    pad[row[sel], col[sel]] = choice_school[sel]
    for a in range(width):
        for b in range(a + 1, width):
            if (pad[:, a] == pad[:, b]).any():
                raise _LooksInvalid
    for i in np.flatnonzero(lengths > width).tolist():
        lst = choice_school[start[i] : start[i + 1]]
        if len(np.unique(lst)) != len(lst):
            raise _LooksInvalid


def _plain_student(rec) -> dict:
    """Copy a validated student record into plain dict/list/str/int values."""
    catchment = rec["catchment"]
    return {
        "id": str(rec["id"]),
        "choices": [str(c) for c in rec["choices"]],
        "catchment": None if catchment is None else str(catchment),
        "sibling_schools": [str(c) for c in rec["sibling_schools"]],
        "lottery": int(rec["lottery"]),
    }


def compile_instance(instance) -> CompiledInstance:
    """Validate ``instance`` and turn it into arrays. Raise :class:`InstanceError`."""
    schools, students = _check_top(instance)
    school_index, school_ids, capacity = _compile_schools(schools)
    try:
        ids, start, choice_school, choice_class, rank, lot_sorted = _compile_students_fast(
            students, school_index, len(school_ids)
        )
    except (_LooksInvalid, KeyError, TypeError, ValueError, OverflowError, IndexError):
        _validate_students_slow(students, school_index)
        # Valid after all, but with unusual types (subclasses, tuples of ...): normalise, retry.
        students = [_plain_student(rec) for rec in students]
        ids, start, choice_school, choice_class, rank, lot_sorted = _compile_students_fast(
            students, school_index, len(school_ids)
        )
    return CompiledInstance(
        school_ids=school_ids,
        capacity=capacity,
        student_ids=ids,
        start=start,
        choice_school=choice_school,
        choice_class=choice_class,
        lottery_rank=rank,
        lottery_sorted=lot_sorted,
    )


# --------------------------------------------------------------------------------------------
# Deferred acceptance on arrays
# --------------------------------------------------------------------------------------------


def _default_scalar_below(held: int) -> int:
    # A vectorised round costs ~10 ns per held student plus ~0.1 us per proposer; a scalar
    # proposal ~1-2 us. Go scalar when the vector round would cost more than the scalar one.
    return 64 + held // 128


def solve(ci: CompiledInstance, *, scalar_below=None) -> Solution:
    """Run student-proposing deferred acceptance on a compiled instance.

    ``scalar_below``: switch to the scalar loop once a round has fewer proposers than this (an
    int, or a function of the number of held students; default: about held/128). 0 means
    always vectorised, a huge number always scalar; the result is the same.
    """
    cap = ci.capacity
    start = ci.start
    ch = ci.choice_school
    cls = ci.choice_class
    rank = ci.lottery_rank
    n = len(start) - 1
    n_schools = len(cap)
    nn = max(n, 1)  # key = class * nn + rank, unique per student at a school
    mm = _N_CLASSES * nn  # combined = school * mm + key
    if n_schools * mm >= 2**62:
        raise ValueError("instance too large for 64-bit priority keys")
    inv_rank = np.empty(n, dtype=np.int64)
    inv_rank[rank] = np.arange(n, dtype=np.int64)

    if scalar_below is None:
        threshold = _default_scalar_below
    elif callable(scalar_below):
        threshold = scalar_below
    else:
        fixed = int(scalar_below)

        def threshold(_held, _fixed=fixed):
            return _fixed

    ptr = start[:-1].copy()  # next (or current held) entry of each student
    end = start[1:]
    big = np.int64(2**62)
    cut = np.where(cap > 0, big, -1).astype(np.int64)  # reject combined >= cut
    cnt = np.zeros(n_schools, dtype=np.int64)
    held = np.zeros(0, dtype=np.int64)  # sorted combined keys of held students
    proposers = np.flatnonzero(end > ptr)
    rounds = 0

    while proposers.size and proposers.size >= threshold(held.size):
        rounds += 1
        e = ptr[proposers]
        s = ch[e].astype(np.int64)
        comb = s * mm + cls[e].astype(np.int64) * nn + rank[proposers]
        ok = comb < cut[s]
        rejected = [proposers[~ok]]
        new = np.sort(comb[ok])
        if new.size:
            at = np.searchsorted(held, new) + np.arange(new.size)
            merged = np.empty(held.size + new.size, dtype=np.int64)
            keep = np.ones(merged.size, dtype=bool)
            keep[at] = False
            merged[at] = new
            merged[keep] = held
            # affected schools and how many new students each took in
            ns = new // mm
            first = np.empty(ns.size, dtype=bool)
            first[0] = True
            np.not_equal(ns[1:], ns[:-1], out=first[1:])
            aff = ns[first]
            took = np.diff(np.append(np.flatnonzero(first), ns.size))
            cnt[aff] += took
            over = cnt[aff] - cap[aff]
            has_over = over > 0
            if has_over.any():
                oa = aff[has_over]
                ov = over[has_over]
                lo = np.searchsorted(merged, oa * mm) + cap[oa]
                offs = np.cumsum(ov) - ov
                drop = np.repeat(lo - offs, ov) + np.arange(int(ov.sum()))
                evicted = merged[drop]
                keep = np.ones(merged.size, dtype=bool)
                keep[drop] = False
                held = merged[keep]
                cnt[oa] = cap[oa]
                rejected.append(inv_rank[(evicted % mm) % nn])
            else:
                held = merged
            full = aff[cnt[aff] == cap[aff]]
            if full.size:
                cut[full] = held[np.searchsorted(held, full * mm) + cap[full] - 1]
        rej = np.concatenate(rejected) if len(rejected) > 1 else rejected[0]
        ptr[rej] += 1
        proposers = rej[ptr[rej] < end[rej]]

    scalar_rounds = 0
    heaps: dict = {}
    if proposers.size:
        scalar_rounds = _scalar_rounds(
            proposers.tolist(), held, cnt, cap, ch, cls, rank, inv_rank, ptr, end, mm, nn, heaps
        )
        rounds += scalar_rounds

    # Collect the final held students: the sorted array for untouched schools, heaps otherwise.
    if heaps:
        touched = np.zeros(n_schools, dtype=bool)
        touched_ids = np.fromiter(heaps.keys(), dtype=np.int64, count=len(heaps))
        touched[touched_ids] = True
        parts = [held[~touched[held // mm]]]
        for sch, heap in heaps.items():
            if heap:
                parts.append(sch * mm - np.array(heap, dtype=np.int64))
            cnt[sch] = len(heap)
        final = np.concatenate(parts)
    else:
        touched = None
        final = held

    school = np.full(n, -1, dtype=np.int32)
    position = np.full(n, -1, dtype=np.int32)
    stud = inv_rank[(final % mm) % nn]
    school[stud] = final // mm
    position[stud] = ptr[stud] - start[stud]

    cutoff_key = np.full(n_schools, -1, dtype=np.int64)
    full = np.flatnonzero((cnt == cap) & (cap > 0))
    if touched is not None:
        for sch in full[touched[full]].tolist():
            cutoff_key[sch] = -heaps[sch][0]
        full = full[~touched[full]]
    if full.size:
        cutoff_key[full] = held[np.searchsorted(held, full * mm) + cap[full] - 1] - full * mm
    return Solution(
        school=school,
        position=position,
        cutoff_key=cutoff_key,
        rounds=rounds,
        scalar_rounds=scalar_rounds,
    )


def _scalar_rounds(cur, held, cnt, cap, ch, cls, rank, inv_rank, ptr, end, mm, nn, heaps) -> int:
    """Continue the synchronous rounds one proposal at a time; return the number of rounds.

    ``heaps[s]`` is a max-heap (negated keys) of the students held by school ``s``, built from
    its slice of the sorted ``held`` array the first time ``s`` receives a proposal here.
    Memoryviews give plain-int element access, several times faster than numpy scalars.
    """
    chv, clsv, rankv, invv = ch.data, cls.data, rank.data, inv_rank.data
    ptrv, endv, capv, cntv = ptr.data, end.data, cap.data, cnt.data
    heappush, heapreplace = heapq.heappush, heapq.heapreplace
    rounds = 0
    while cur:
        rounds += 1
        nxt = []
        for i in cur:
            p = ptrv[i]
            s = chv[p]
            k = clsv[p] * nn + rankv[i]
            heap = heaps.get(s)
            if heap is None:
                lo = int(np.searchsorted(held, s * mm))
                # ascending keys -> descending negated keys, reversed -> a valid min-heap
                heap = heaps[s] = (s * mm - held[lo : lo + cntv[s]])[::-1].tolist()
            if len(heap) < capv[s]:
                heappush(heap, -k)
                continue
            if heap and -heap[0] > k:
                j = invv[(-heapreplace(heap, -k)) % nn]
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
    """Turn a solution into the ``school-allocation-result/1`` dict."""
    n = ci.n_students
    names = np.array([*ci.school_ids, None], dtype=object)  # index -1 -> None
    assignment = dict(zip(ci.student_ids, names[sol.school].tolist(), strict=True))
    max_len = int(np.diff(ci.start).max()) if n else 0
    rank_values = np.array([None, *range(1, max_len + 1)], dtype=object)
    ranks = dict(zip(ci.student_ids, rank_values[sol.position + 1].tolist(), strict=True))
    nn = max(n, 1)
    cutoffs = {}
    for s in np.flatnonzero(sol.cutoff_key >= 0).tolist():
        key = int(sol.cutoff_key[s])
        cutoffs[ci.school_ids[s]] = [key // nn, int(ci.lottery_sorted[key % nn])]
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
    ci = compile_instance(instance)
    sol = solve(ci, scalar_below=scalar_below)
    result = build_result(ci, sol, 0.0)
    result["stats"]["seconds"] = round(time.perf_counter() - t0, 4)
    return result


def run_file(in_path, out_path) -> int:
    """Read an instance file, allocate, write the result file; see admissions.allocation_file."""
    from admissions.allocation_file import run_file as _run_file

    return _run_file(in_path, out_path)
