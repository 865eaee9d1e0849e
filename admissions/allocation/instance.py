"""Reading and checking ``school-allocation-instance/1`` into arrays (pure code: no Flask, no database).

The format and the method are described in docs/allocation.md. :func:`compile_instance` turns the
parsed JSON into a :class:`CompiledInstance` for the solver (admissions.allocation.solver);
:func:`validate_instance` checks record by record and names the first bad one.

How it is fast: the records are read in blocks of 1,024 with C-level passes (one ``itemgetter``
of the five fields per record, transposed by ``zip``; then ``map``/``numpy.fromiter`` over the
block for types, lengths and school-id lookups), so every pass after the first runs from the CPU
cache. Only if anything looks wrong does a slow record-by-record pass run, to name the first bad
record precisely. The ids are copied into adjacent fresh strings on the way, which makes the
output dicts much cheaper to build than from ids scattered among the parsed records.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import chain, compress
from operator import itemgetter

import numpy as np

INSTANCE_FORMAT = "school-allocation-instance/1"

# Priority classes, lower is better: the school is her catchment school, a sibling studies there,
# anyone else.
CATCHMENT, SIBLING, OTHER = 0, 1, 2

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
    ``lottery_rank[i]`` is the 0-based position of her lottery number among all students,
    ``by_lottery`` its inverse (``by_lottery[lottery_rank[i]] == i``) and
    ``lottery_sorted[lottery_rank[i]]`` the number itself.
    """

    school_ids: list
    capacity: np.ndarray  # int64[S]
    student_ids: list
    start: np.ndarray  # int64[n+1]
    choice_school: np.ndarray  # int32[E]
    choice_class: np.ndarray  # int8[E]
    lottery_rank: np.ndarray  # int64[n]
    by_lottery: np.ndarray  # int64[n]
    lottery_sorted: np.ndarray  # int64[n]

    @property
    def n_students(self) -> int:
        return len(self.student_ids)

    @property
    def n_schools(self) -> int:
        return len(self.school_ids)


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
    """Check the school records and index them (whole-list checks, a loop only on error)."""
    try:
        ids = list(map(itemgetter("id"), schools))
        caps = list(map(itemgetter("capacity"), schools))
        ok = not schools or (
            set(map(type, ids)) == {str}
            and set(map(type, caps)) == {int}
            and min(caps) >= 0
            and max(caps) <= _INT64_MAX // 4
        )
    except (KeyError, TypeError):
        ok = False
    if ok:
        index = dict(zip(ids, range(len(ids)), strict=True))
        if len(index) == len(ids) and "" not in index:
            return index, ids, np.array(caps, dtype=np.int64)
    return _compile_schools_slow(schools)


def _checked_id(rec, collection: str, pos: int, seen: dict, label: str) -> tuple[str, str]:
    """Check that record ``pos`` of ``collection`` is an object with a new, non-empty string id;
    record it in ``seen`` (id -> position). Return the id and the record's name for messages."""
    where = f"{collection}[{pos}]"
    if not isinstance(rec, dict):
        raise InstanceError(where, f"expected an object, got {_tname(rec)}")
    if "id" not in rec:
        raise InstanceError(where, 'missing "id"')
    sid = rec["id"]
    if not isinstance(sid, str) or not sid:
        raise InstanceError(where, f'"id" must be a non-empty string, got {_show(sid)}')
    name = f"{label} {_show(sid)}"
    if sid in seen:
        raise InstanceError(name, f"duplicate id ({collection}[{seen[sid]}] and {collection}[{pos}])")
    seen[sid] = pos
    return sid, name


def _compile_schools_slow(schools) -> tuple[dict, list, np.ndarray]:
    """Check the school records one by one; raise on the first problem, naming the record."""
    index: dict = {}
    ids: list = []
    caps: list = []
    for pos, rec in enumerate(schools):
        sid, name = _checked_id(rec, "schools", pos, index, "school")
        if "capacity" not in rec:
            raise InstanceError(name, 'missing "capacity"')
        cap = rec["capacity"]
        if not _is_int(cap) or cap < 0:
            raise InstanceError(name, f"capacity must be a non-negative integer, got {_show(cap)}")
        if cap > _INT64_MAX // 4:
            raise InstanceError(name, f"capacity {cap} is out of range")
        ids.append(sid)
        caps.append(cap)
    return index, ids, np.array(caps, dtype=np.int64)


def _validate_students_slow(students, school_index: dict) -> None:
    """Check every student record in order; raise on the first problem, naming the record."""
    seen_ids: dict = {}
    seen_lottery: dict = {}
    for pos, rec in enumerate(students):
        _sid, name = _checked_id(rec, "students", pos, seen_ids, "student")
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


# Students are read in blocks small enough that the objects the first pass touches (every record
# and, through reference counting, every value in it) are still in the CPU cache for the passes
# that follow; on a million records that is about twice as fast as whole-list passes.
_BLOCK = 1024


def _fields_getter(students) -> itemgetter:
    """Return an itemgetter of the five student fields, keyed by the records' own key objects.

    A JSON parser gives every record the same key string objects; looking them up by those very
    objects skips a string comparison per field per record.
    """
    first = students[0] if len(students) else None
    own = {key: key for key in first if type(key) is str} if type(first) is dict else {}
    return itemgetter(*(own.get(name, name) for name in _STUDENT_FIELDS))


def _compile_students_fast(students, school_index: dict, n_schools: int, check_ids: bool):
    """Turn the student records into arrays with C-level passes over blocks of records.

    Each block is read in one pass (``itemgetter`` of the five fields, transposed by ``zip``);
    the later passes over the same block (types, lengths, school-id lookups) run from cache.
    ``list.__len__`` checks the type and measures in the same pass. Raise ``_LooksInvalid`` (or
    let a KeyError/TypeError/... escape) on anything unexpected; the caller then runs the slow
    validator, which names the record.
    """
    n = len(students)
    get_school = school_index.__getitem__
    lookup = dict(school_index)
    lookup[None] = -1
    get_catchment = lookup.__getitem__
    list_len = list.__len__
    fields = _fields_getter(students)
    ids: list = []
    lengths = np.empty(n, dtype=np.int64)
    choice_parts: list = []
    catchment = np.empty(n, dtype=np.int32)
    sib_who: list = []  # the few students with siblings: index, number of sibling schools,
    sib_count: list = []  # and the schools, flat
    sib_flat: list = []
    lottery = np.empty(n, dtype=np.int64)
    lottery_types: set = set()
    for b in range(0, n, _BLOCK):
        bid, bchoices, bcatchment, bsiblings, blottery = zip(
            *map(fields, students[b : b + _BLOCK]), strict=True
        )
        k = len(bid)
        # Fresh copies of the ids, packed together in memory: the two million-entry output dicts
        # are built about 1.6 times as fast from them as from ids scattered among the records.
        # join() also checks that every id is a string.
        packed = "\x00".join(bid).split("\x00")
        if len(packed) != k:  # an id contains NUL: keep the originals (exact strings only)
            if set(map(type, bid)) != {str}:
                raise _LooksInvalid
            packed = bid
        ids += packed
        lengths[b : b + k] = np.fromiter(map(list_len, bchoices), dtype=np.int64, count=k)
        choice_parts.append(np.fromiter(map(get_school, chain.from_iterable(bchoices)), dtype=np.int32))
        catchment[b : b + k] = np.fromiter(map(get_catchment, bcatchment), dtype=np.int32, count=k)
        if sum(map(list_len, bsiblings)):  # every value is checked to be a list
            nonempty = list(compress(bsiblings, bsiblings))
            sib_who += compress(range(b, b + k), bsiblings)
            sib_count += map(list_len, nonempty)
            sib_flat += map(get_school, chain.from_iterable(nonempty))
        lottery_types.update(map(type, blottery))
        lottery[b : b + k] = blottery
    if n and lottery_types != {int}:  # type() is exact: bool is rejected
        raise _LooksInvalid
    if check_ids and (len(set(ids)) != n or "" in ids):
        raise _LooksInvalid

    start = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=start[1:])
    n_entries = int(start[-1])
    choice_school = np.concatenate(choice_parts) if choice_parts else np.zeros(0, dtype=np.int32)
    del choice_parts
    if n_entries and _has_repeats(choice_school, start, lengths):
        raise _LooksInvalid

    # Catchment (-1 for null) -> class 0 where the choice is the catchment school.
    choice_class = np.full(n_entries, OTHER, dtype=np.int8)
    if n_entries:
        choice_class[choice_school == np.repeat(catchment, lengths)] = CATCHMENT
    del catchment

    # Siblings (rare): class 1 where the choice is a sibling school and not the catchment.
    if sib_who and n_entries:
        who = np.array(sib_who, dtype=np.int64)
        sib_len = np.zeros(n, dtype=np.int64)
        sib_len[who] = sib_count
        sib_school = np.array(sib_flat, dtype=np.int32)
        _mark_siblings(choice_school, choice_class, start, lengths, who, sib_len, sib_school)
    del sib_who, sib_count, sib_flat

    lottery_rank, by_lottery, lottery_sorted = _rank_lottery(lottery)
    return ids, start, choice_school, choice_class, lottery_rank, by_lottery, lottery_sorted


def _rank_lottery(lottery: np.ndarray):
    """Rank unique 64-bit lottery numbers (rank 0 = lowest = best); raise if any repeats.

    The app draws the numbers 1..n, a permutation of a range: then the rank is the number minus
    the lowest one and no sort is needed. Any other set of numbers is sorted.
    """
    n = len(lottery)
    if n and int(lottery.max()) - int(lottery.min()) == n - 1:
        lowest = int(lottery.min())
        lottery_rank = lottery - lowest
        by_lottery = np.full(n, -1, dtype=np.int64)
        by_lottery[lottery_rank] = np.arange(n, dtype=np.int64)
        if bool((by_lottery < 0).any()):  # a number repeats (so another one is missing)
            raise _LooksInvalid
        return lottery_rank, by_lottery, np.arange(lowest, lowest + n, dtype=np.int64)
    by_lottery = np.argsort(lottery)  # values are unique: any sort gives the same order
    lottery_sorted = lottery[by_lottery]
    if n > 1 and bool((lottery_sorted[1:] == lottery_sorted[:-1]).any()):
        raise _LooksInvalid
    lottery_rank = np.empty(n, dtype=np.int64)
    lottery_rank[by_lottery] = np.arange(n, dtype=np.int64)
    return lottery_rank, by_lottery, lottery_sorted


_DIAGONALS = 8


def _has_repeats(choice_school, start, lengths) -> bool:
    """Tell whether some student lists a school twice.

    Compare the flat choice array with itself shifted by d = 1..7 (entries d apart that belong to
    the same student); the rare lists longer than 8 are checked one by one.
    """
    span = int(min(int(lengths.max()), _DIAGONALS))
    for d in range(1, span):
        eq = np.flatnonzero(choice_school[:-d] == choice_school[d:])
        if eq.size:
            owner = np.searchsorted(start, eq, side="right") - 1
            if bool((eq + d < start[owner + 1]).any()):
                return True
    for i in np.flatnonzero(lengths > span).tolist():
        lst = choice_school[start[i] : start[i + 1]]
        if len(np.unique(lst)) != len(lst):
            return True
    return False


def _mark_siblings(choice_school, choice_class, start, lengths, who, sib_len, sib_school) -> None:
    """Lower to SIBLING the class of entries whose school is one of the student's sibling schools."""
    owner = np.repeat(who, sib_len[who])  # student of each sibling pair
    first = start[owner]
    count = lengths[owner]
    for k in range(int(count.max()) if count.size else 0):
        ok = np.flatnonzero(k < count)
        e = first[ok] + k
        hit = e[choice_school[e] == sib_school[ok]]
        choice_class[hit] = np.minimum(choice_class[hit], SIBLING)


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


def compile_instance(instance, *, check_ids: bool = True) -> CompiledInstance:
    """Validate ``instance`` and turn it into arrays. Raise :class:`InstanceError`.

    ``check_ids=False`` skips the uniqueness check of student ids; the caller must then check
    them itself (``allocate_instance`` does, for free, while it builds the output dicts).
    """
    schools, students = _check_top(instance)
    school_index, school_ids, capacity = _compile_schools(schools)
    try:
        parts = _compile_students_fast(students, school_index, len(school_ids), check_ids)
    except (_LooksInvalid, KeyError, TypeError, ValueError, OverflowError, IndexError):
        _validate_students_slow(students, school_index)
        # Valid after all, but with unusual types (subclasses, tuples): normalise and retry.
        students = [_plain_student(rec) for rec in students]
        parts = _compile_students_fast(students, school_index, len(school_ids), check_ids)
    ids, start, choice_school, choice_class, rank, by_lottery, lot_sorted = parts
    return CompiledInstance(
        school_ids=school_ids,
        capacity=capacity,
        student_ids=ids,
        start=start,
        choice_school=choice_school,
        choice_class=choice_class,
        lottery_rank=rank,
        by_lottery=by_lottery,
        lottery_sorted=lot_sorted,
    )
