"""Deferred acceptance engine: properties, oracle equality, brute force, worked examples, lottery.
Malformed and large instances are in test_allocation_input.py."""

from __future__ import annotations

import copy
import hashlib
import itertools
import random
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from admissions.allocation import (
    RESULT_FORMAT,
    allocate_instance,
    compile_instance,
    draw_lottery,
    seed_commitment,
    solve,
    verify_commitment,
)
from admissions.allocation.lottery import LOTTERY_METHOD, new_seed

sys.path.insert(0, str(Path(__file__).resolve().parent))
from da_oracle import oracle_allocate, priority  # noqa: E402

from tests.unit.allocation_cases import FAST, PATHS, TINY, instance, instances, without_seconds

# ------------------------------------------------------------------------------------------
# Random instances
# ------------------------------------------------------------------------------------------


def check_stable_and_consistent(inst, result):
    """Assert the invariants every correct result has (independent of how it was computed)."""
    caps = {s["id"]: s["capacity"] for s in inst["schools"]}
    students = {s["id"]: s for s in inst["students"]}
    assignment, ranks = result["assignment"], result["ranks"]
    assert result["format"] == RESULT_FORMAT
    assert set(assignment) == set(students) == set(ranks)

    held = {school: [] for school in caps}
    for sid, school in assignment.items():
        if school is None:
            assert ranks[sid] is None
            continue
        choices = students[sid]["choices"]
        assert school in choices, "placed only at a listed school"
        assert ranks[sid] == choices.index(school) + 1
        held[school].append(priority(students[sid], school))
    for school, prios in held.items():
        assert len(prios) <= caps[school], "capacity respected"

    for sid, student in students.items():
        got = assignment[sid]
        better = student["choices"] if got is None else student["choices"][: ranks[sid] - 1]
        for school in better:
            # no wasted seat: a school she prefers is full ...
            assert len(held[school]) == caps[school], f"{sid} wanted {school} with a free seat"
            # ... and no justified envy: everyone it holds has a better priority than hers
            assert all(p < priority(student, school) for p in held[school]), f"{sid} envies at {school}"

    expected_cutoffs = {
        school: list(max(prios)) for school, prios in held.items() if prios and len(prios) == caps[school]
    }
    assert result["cutoffs"] == expected_cutoffs
    stats = result["stats"]
    assigned = sum(school is not None for school in assignment.values())
    assert stats["students"] == len(students)
    assert (stats["assigned"], stats["unassigned"]) == (assigned, len(students) - assigned)
    assert isinstance(stats["seconds"], float)
    assert stats["rounds"] >= 0


@FAST
@given(instances())
def test_result_is_stable_and_consistent(inst):
    check_stable_and_consistent(inst, allocate_instance(inst))


@FAST
@given(instances(max_schools=7, max_students=40, max_capacity=5), st.sampled_from(PATHS))
def test_equals_oracle(inst, scalar_below):
    got = allocate_instance(inst, scalar_below=scalar_below)
    assert without_seconds(got) == without_seconds(oracle_allocate(inst))


@FAST
@given(instances(max_schools=6, max_students=25), st.randoms(use_true_random=False))
def test_deterministic_and_independent_of_input_order(inst, rnd):
    first = without_seconds(allocate_instance(inst))
    assert without_seconds(allocate_instance(copy.deepcopy(inst))) == first

    shuffled = copy.deepcopy(inst)
    rnd.shuffle(shuffled["schools"])
    rnd.shuffle(shuffled["students"])
    for record in shuffled["schools"] + shuffled["students"]:
        record["note"] = "unknown keys are ignored"
        items = list(record.items())
        rnd.shuffle(items)
        record.clear()
        record.update(items)
        if "sibling_schools" in record:
            rnd.shuffle(record["sibling_schools"])
    items = list(shuffled.items())
    rnd.shuffle(items)
    shuffled = dict(items, comment="ignored")
    assert without_seconds(allocate_instance(shuffled)) == first


def _prefers(choices, a, b):
    """True if school ``a`` is strictly better than ``b`` (None = unplaced) for this list."""
    if a is None:
        return False
    return b is None or choices.index(a) < choices.index(b)


def all_stable_matchings(inst):
    caps = {s["id"]: s["capacity"] for s in inst["schools"]}
    students = inst["students"]
    options = [[None, *s["choices"]] for s in students]
    for combo in itertools.product(*options):
        load = {school: [] for school in caps}
        for student, school in zip(students, combo, strict=True):
            if school is not None:
                load[school].append(priority(student, school))
        if any(len(p) > caps[school] for school, p in load.items()):
            continue
        blocked = False
        for student, got in zip(students, combo, strict=True):
            for school in student["choices"]:
                if school == got or not _prefers(student["choices"], school, got):
                    continue
                mine = priority(student, school)
                if len(load[school]) < caps[school] or any(p > mine for p in load[school]):
                    blocked = True
                    break
            if blocked:
                break
        if not blocked:
            yield dict(zip([s["id"] for s in students], combo, strict=True))


@TINY
@given(instances(max_schools=3, max_students=5, max_capacity=2))
def test_equals_student_optimal_stable_matching_by_brute_force(inst):
    stable = list(all_stable_matchings(inst))
    assert stable, "a stable matching always exists"
    ours = allocate_instance(inst)["assignment"]
    assert ours in stable
    choices = {s["id"]: s["choices"] for s in inst["students"]}
    for other in stable:  # every student likes ours at least as much as any stable matching
        for sid, school in other.items():
            assert not _prefers(choices[sid], school, ours[sid])


def _reports(true_list):
    """Every reordering and truncation of a list (ordered subsets)."""
    for k in range(len(true_list) + 1):
        yield from itertools.permutations(true_list, k)


@TINY
@given(instances(max_schools=3, max_students=5, max_capacity=2), st.data())
def test_strategy_proof_spot_checks(inst, data):
    if not inst["students"]:
        return
    who = data.draw(st.integers(0, len(inst["students"]) - 1))
    student = inst["students"][who]
    truth = student["choices"]
    honest = allocate_instance(inst)["assignment"][student["id"]]
    for report in _reports(truth):
        lied = copy.deepcopy(inst)
        lied["students"][who]["choices"] = list(report)
        got = allocate_instance(lied)["assignment"][student["id"]]
        assert not _prefers(truth, got, honest), f"{student['id']} gains by reporting {report}"


# ------------------------------------------------------------------------------------------
# Worked examples and edge cases
# ------------------------------------------------------------------------------------------


def test_design_example_shape():
    inst = instance(
        {"TH-DICHVONG": 1, "TH-NGHIATAN": 0},
        [
            ("HS0001", ["TH-DICHVONG", "TH-NGHIATAN"], "TH-DICHVONG", [], 17),
            ("HS0002", ["TH-DICHVONG"], None, [], 3),
        ],
    )
    result = allocate_instance(inst)
    assert result["format"] == "school-allocation-result/1"
    assert result["assignment"] == {"HS0001": "TH-DICHVONG", "HS0002": None}
    assert result["ranks"] == {"HS0001": 1, "HS0002": None}
    assert result["cutoffs"] == {"TH-DICHVONG": [0, 17]}  # zero-capacity school: no cutoff
    assert {k: v for k, v in result["stats"].items() if k != "seconds"} == {
        "students": 2,
        "assigned": 1,
        "unassigned": 1,
        "rounds": 1,
    }
    assert list(result["assignment"]) == ["HS0001", "HS0002"]  # input order


def test_priority_classes_beat_the_lottery():
    inst = instance(
        {"A": 2, "B": 5},
        [
            ("other", ["A", "B"], None, [], 1),
            ("sibling", ["A", "B"], "B", ["A"], 2),
            ("catchment", ["A", "B"], "A", [], 3),
            ("both", ["A"], "A", ["A"], 4),
        ],
    )
    result = allocate_instance(inst)
    # A keeps its two catchment students (class 0) although their lottery numbers are worst.
    assert result["assignment"] == {"other": "B", "sibling": "B", "catchment": "A", "both": "A"}
    assert result["cutoffs"] == {"A": [0, 4]}


def test_priority_classes_exact():
    inst = instance(
        {"A": 2, "B": 5},
        [
            ("other", ["A", "B"], None, [], 1),
            ("sibling", ["A", "B"], "B", ["A"], 2),
            ("catchment", ["A", "B"], "A", [], 3),
        ],
    )
    result = allocate_instance(inst)
    assert result["assignment"] == {"other": "B", "sibling": "A", "catchment": "A"}
    assert result["ranks"] == {"other": 2, "sibling": 1, "catchment": 1}
    assert result["cutoffs"] == {"A": [1, 2]}
    assert result["stats"]["rounds"] == 2


def test_rejection_chain_rounds_and_cutoffs():
    # x displaces a0 at S0, a0 displaces a1 at S1, ...: one proposer per round.
    k = 6
    schools = {f"S{j}": 1 for j in range(k + 1)}
    students = [("x", ["S0"], None, [], 0)]
    students += [(f"a{j}", [f"S{j}", f"S{j + 1}"], None, [], j + 1) for j in range(k)]
    result = allocate_instance(instance(schools, students))
    assert result["assignment"]["x"] == "S0"
    assert all(result["assignment"][f"a{j}"] == f"S{j + 1}" for j in range(k))
    assert result["stats"]["rounds"] == k + 1
    assert result["cutoffs"]["S3"] == [2, 3]


@pytest.mark.parametrize("scalar_below", PATHS)
def test_edge_cases(scalar_below):
    def run(inst):
        result = allocate_instance(inst, scalar_below=scalar_below)
        check_stable_and_consistent(inst, result)
        assert without_seconds(result) == without_seconds(oracle_allocate(inst))
        return result

    empty = run(instance({}, []))
    assert empty["assignment"] == {} and empty["cutoffs"] == {}
    assert empty["stats"] == {**empty["stats"], "students": 0, "assigned": 0, "rounds": 0}

    no_schools = run(instance({}, [("p", [], None, [], 1)]))
    assert no_schools["assignment"] == {"p": None}

    no_students = run(instance({"A": 3, "Z": 0}, []))
    assert no_students["cutoffs"] == {}

    zero = run(instance({"Z": 0, "A": 1}, [("p", ["Z", "A"], "Z", ["Z"], 1), ("q", ["Z"], None, [], 2)]))
    assert zero["assignment"] == {"p": "A", "q": None}
    assert zero["ranks"] == {"p": 2, "q": None}
    assert "Z" not in zero["cutoffs"]

    empty_lists = run(instance({"A": 1}, [("p", [], "A", [], 1), ("q", ["A"], None, [], 2)]))
    assert empty_lists["assignment"] == {"p": None, "q": "A"}

    everyone = [(f"p{i}", ["A"], None, [], 100 - i) for i in range(30)]
    one = run(instance({"A": 4, "B": 10}, everyone))
    assert sorted(s for s, school in one["assignment"].items() if school) == ["p26", "p27", "p28", "p29"]
    assert one["cutoffs"] == {"A": [2, 74]}

    cap1 = run(instance({"A": 1, "B": 1}, [("p", ["A", "B"], None, [], 2), ("q", ["A", "B"], None, [], 1)]))
    assert cap1["assignment"] == {"p": "B", "q": "A"}
    assert cap1["cutoffs"] == {"A": [2, 1], "B": [2, 2]}

    null_catchment = run(instance({"A": 1}, [("p", ["A"], None, ["A"], 5), ("q", ["A"], None, [], 1)]))
    assert null_catchment["assignment"] == {"p": "A", "q": None}  # sibling beats a lower lottery


def test_negative_and_huge_lottery_numbers():
    inst = instance(
        {"A": 1},
        [("p", ["A"], None, [], 2**63 - 1), ("q", ["A"], None, [], -(2**63)), ("r", ["A"], None, [], 0)],
    )
    result = allocate_instance(inst)
    assert result["assignment"] == {"p": None, "q": "A", "r": None}
    assert result["cutoffs"] == {"A": [2, -(2**63)]}


def test_medium_random_instance_against_oracle_on_every_path():
    rnd = random.Random(7)
    n_schools, n = 40, 3000
    schools = {f"S{j:02d}": rnd.randint(0, 90) for j in range(n_schools)}
    ids = list(schools)
    lots = rnd.sample(range(10**6), n)
    students = []
    for i in range(n):
        home = rnd.randrange(n_schools)
        near = [ids[(home + d) % n_schools] for d in (0, 1, -1, 2, -2, 3, 5)]
        choices = rnd.sample(near, rnd.randint(0, 5))
        sib = [rnd.choice(near)] if rnd.random() < 0.15 else []
        students.append((f"P{i:05d}", choices, ids[home] if rnd.random() < 0.9 else None, sib, lots[i]))
    inst = instance(schools, students)
    expected = without_seconds(oracle_allocate(inst))
    for scalar_below in [*PATHS, 200]:
        got = allocate_instance(inst, scalar_below=scalar_below)
        assert without_seconds(got) == expected
    check_stable_and_consistent(inst, got)


def test_long_rejection_chain_is_not_quadratic():
    # 40,000 capacity-1 schools, one proposer per round: 40,001 rounds.
    k = 40_000
    schools = {f"S{j}": 1 for j in range(k + 1)}
    students = [("x", ["S0"], None, [], 0)]
    students += [(f"a{j}", [f"S{j}", f"S{j + 1}"], None, [], j + 1) for j in range(k)]
    inst = instance(schools, students)
    t0 = time.perf_counter()
    result = allocate_instance(inst)
    elapsed = time.perf_counter() - t0
    assert result["stats"]["rounds"] == k + 1
    assert result["assignment"][f"a{k - 1}"] == f"S{k}"
    assert elapsed < 5.0, f"chain of {k} took {elapsed:.2f}s"


def test_solve_on_compiled_arrays_reports_rounds_split():
    inst = instance({"A": 1, "B": 1}, [("p", ["A", "B"], None, [], 2), ("q", ["A"], None, [], 1)])
    ci = compile_instance(inst)
    vector = solve(ci, scalar_below=0)
    scalar = solve(ci, scalar_below=10**9)
    assert (vector.rounds, vector.scalar_rounds) == (2, 0)
    assert (scalar.rounds, scalar.scalar_rounds) == (2, 2)
    assert vector.school.tolist() == scalar.school.tolist() == [1, 0]
    assert vector.cutoff_priority(0) == (2, 0)


# ------------------------------------------------------------------------------------------
# Lottery
# ------------------------------------------------------------------------------------------


def test_lottery_is_a_permutation_independent_of_input_order():
    ids = [f"HS{i:04d}" for i in range(500)]
    drawn = draw_lottery("seed-2025", ids)
    assert sorted(drawn.values()) == list(range(1, 501))
    assert set(drawn) == set(ids)
    reversed_draw = draw_lottery("seed-2025", list(reversed(ids)))
    assert reversed_draw == drawn and list(reversed_draw) == list(drawn)
    assert draw_lottery("seed-2026", ids) != drawn


def test_lottery_follows_the_documented_method():
    seed, ids = "d4c3b2a1", ["HS0001", "HS0002", "Nguyễn-03"]
    s = seed.encode()
    digest = {
        sid: hashlib.sha256(
            b"school-allocation-lottery/1\x00" + len(s).to_bytes(8, "big") + s + sid.encode()
        ).digest()
        for sid in ids
    }
    expected = {sid: k for k, sid in enumerate(sorted(ids, key=lambda x: (digest[x], x.encode())), start=1)}
    assert draw_lottery(seed, ids) == expected
    assert LOTTERY_METHOD == "school-allocation-lottery/1"


def test_lottery_known_answer():
    # Pinned so that any change of method is noticed: results must be re-computable for years.
    assert draw_lottery("2025-grade1-round1", ["A", "B", "C", "D"]) == KNOWN_ANSWER


KNOWN_ANSWER = {"B": 1, "D": 2, "A": 3, "C": 4}


def test_lottery_orders_are_all_reachable():
    seen = {tuple(draw_lottery(f"seed{k}", ["a", "b", "c"])) for k in range(200)}
    assert len(seen) == 6


def test_lottery_rejects_bad_input():
    with pytest.raises(ValueError, match="repeated"):
        draw_lottery("s", ["a", "a"])
    with pytest.raises(ValueError, match="non-empty"):
        draw_lottery("", ["a"])
    with pytest.raises(ValueError, match="string"):
        draw_lottery("s", [1])
    assert draw_lottery("s", []) == {}


def test_seed_commitment():
    seed = new_seed()
    assert len(seed) == 32 and seed != new_seed()
    assert seed_commitment("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert verify_commitment(seed, seed_commitment(seed).upper())
    assert not verify_commitment(seed + "x", seed_commitment(seed))


def test_drawn_lottery_feeds_the_allocator():
    ids = ["HS1", "HS2", "HS3"]
    lot = draw_lottery("abc", ids)
    inst = instance({"A": 1}, [(sid, ["A"], None, [], lot[sid]) for sid in ids])
    winner = min(ids, key=lot.__getitem__)
    assert allocate_instance(inst)["assignment"][winner] == "A"
