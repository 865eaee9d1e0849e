"""Deferred acceptance engine, its input: every malformed kind of instance rejected naming the
record, large instances read in blocks, the GC state restored."""

from __future__ import annotations

import copy
import json
import random
import sys
from pathlib import Path

import pytest
from hypothesis import given

from admissions.allocation import (
    InstanceError,
    allocate_instance,
    compile_instance,
    validate_instance,
)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import gc

from da_oracle import oracle_allocate  # noqa: E402

from tests.unit.allocation_cases import FAST, instance, instances, without_seconds

# ------------------------------------------------------------------------------------------
# Validation: every malformed kind is rejected with a message that names the record
# ------------------------------------------------------------------------------------------


def good():
    return instance(
        {"A": 2, "B": 1},
        [
            ("HS0001", ["A", "B"], "A", [], 1),
            ("HS0002", ["B"], None, ["A"], 2),
            ("HS0003", ["A"], "B", [], 3),
        ],
    )


def edit(fn):
    inst = good()
    fn(inst)
    return inst


def _set(path, value):
    def apply(inst):
        target = inst
        for key in path[:-1]:
            target = target[key]
        target[path[-1]] = value

    return apply


def _delete(path):
    def apply(inst):
        target = inst
        for key in path[:-1]:
            target = target[key]
        del target[path[-1]]

    return apply


MALFORMED = [
    ("list", lambda inst: None, "instance: expected a JSON object, got list"),
    ("format missing", _delete(["format"]), 'instance: missing "format"'),
    ("format wrong", _set(["format"], "school-allocation-instance/2"), 'instance: "format" must be'),
    ("schools missing", _delete(["schools"]), 'instance: missing "schools"'),
    ("schools not list", _set(["schools"], {"A": 1}), 'instance: "schools" must be a list, got object'),
    ("students not list", _set(["students"], "x"), 'instance: "students" must be a list, got string'),
    ("school not object", _set(["schools", 1], ["B", 1]), "schools[1]: expected an object, got list"),
    ("school id missing", _delete(["schools", 1, "id"]), 'schools[1]: missing "id"'),
    ("school id number", _set(["schools", 1, "id"], 7), 'schools[1]: "id" must be a non-empty string, got 7'),
    ("school id empty", _set(["schools", 1, "id"], ""), 'schools[1]: "id" must be a non-empty string'),
    (
        "duplicate school",
        _set(["schools", 1, "id"], "A"),
        'school "A": duplicate id (schools[0] and schools[1])',
    ),
    ("capacity missing", _delete(["schools", 1, "capacity"]), 'school "B": missing "capacity"'),
    (
        "capacity negative",
        _set(["schools", 1, "capacity"], -1),
        'school "B": capacity must be a non-negative integer, got -1',
    ),
    (
        "capacity float",
        _set(["schools", 1, "capacity"], 1.5),
        'school "B": capacity must be a non-negative integer, got 1.5',
    ),
    (
        "capacity bool",
        _set(["schools", 1, "capacity"], True),
        'school "B": capacity must be a non-negative integer, got true',
    ),
    (
        "capacity text",
        _set(["schools", 1, "capacity"], "3"),
        'school "B": capacity must be a non-negative integer, got "3"',
    ),
    ("student not object", _set(["students", 2], "HS0003"), "students[2]: expected an object, got string"),
    ("student id missing", _delete(["students", 2, "id"]), 'students[2]: missing "id"'),
    (
        "student id number",
        _set(["students", 2, "id"], 3),
        'students[2]: "id" must be a non-empty string, got 3',
    ),
    (
        "student id empty",
        _set(["students", 2, "id"], ""),
        'students[2]: "id" must be a non-empty string, got ""',
    ),
    (
        "duplicate student",
        _set(["students", 2, "id"], "HS0001"),
        'student "HS0001": duplicate id (students[0] and students[2])',
    ),
    ("choices missing", _delete(["students", 2, "choices"]), 'student "HS0003": missing "choices"'),
    (
        "choices text",
        _set(["students", 2, "choices"], "A"),
        'student "HS0003": "choices" must be a list of school ids, got string',
    ),
    (
        "choices null",
        _set(["students", 2, "choices"], None),
        'student "HS0003": "choices" must be a list of school ids, got null',
    ),
    (
        "unknown choice",
        _set(["students", 2, "choices"], ["A", "TH-X"]),
        'student "HS0003": choice 2 "TH-X" is not a known school',
    ),
    (
        "numeric choice",
        _set(["students", 2, "choices"], [1]),
        'student "HS0003": choice 1 1 is not a known school',
    ),
    (
        "repeated choice",
        _set(["students", 0, "choices"], ["A", "B", "A"]),
        'student "HS0001": choice "A" is repeated (choices 1 and 3)',
    ),
    (
        "catchment missing",
        _delete(["students", 2, "catchment"]),
        'student "HS0003": missing "catchment" (use null for none)',
    ),
    (
        "unknown catchment",
        _set(["students", 2, "catchment"], "TH-X"),
        'student "HS0003": catchment "TH-X" is not a known school',
    ),
    (
        "catchment list",
        _set(["students", 2, "catchment"], ["A"]),
        "student \"HS0003\": catchment ['A'] is not a known school",
    ),
    (
        "siblings missing",
        _delete(["students", 2, "sibling_schools"]),
        'student "HS0003": missing "sibling_schools" (use [] for none)',
    ),
    (
        "siblings text",
        _set(["students", 2, "sibling_schools"], "A"),
        'student "HS0003": "sibling_schools" must be a list of school ids, got string',
    ),
    (
        # falsy values that are not lists, after a record with siblings (HS0002) in the same block
        "siblings null",
        _set(["students", 2, "sibling_schools"], None),
        'student "HS0003": "sibling_schools" must be a list of school ids, got null',
    ),
    (
        "siblings empty object",
        _set(["students", 2, "sibling_schools"], {}),
        'student "HS0003": "sibling_schools" must be a list of school ids, got object',
    ),
    (
        "siblings zero",
        _set(["students", 2, "sibling_schools"], 0),
        'student "HS0003": "sibling_schools" must be a list of school ids, got integer',
    ),
    (
        "choices empty object",
        _set(["students", 2, "choices"], {}),
        'student "HS0003": "choices" must be a list of school ids, got object',
    ),
    (
        "unknown sibling",
        _set(["students", 2, "sibling_schools"], ["TH-X"]),
        'student "HS0003": sibling school "TH-X" is not a known school',
    ),
    ("lottery missing", _delete(["students", 2, "lottery"]), 'student "HS0003": missing "lottery"'),
    (
        "lottery float",
        _set(["students", 2, "lottery"], 3.0),
        'student "HS0003": lottery must be an integer, got 3.0',
    ),
    (
        "lottery bool",
        _set(["students", 2, "lottery"], False),
        'student "HS0003": lottery must be an integer, got false',
    ),
    (
        "lottery text",
        _set(["students", 2, "lottery"], "3"),
        'student "HS0003": lottery must be an integer, got "3"',
    ),
    (
        "lottery null",
        _set(["students", 2, "lottery"], None),
        'student "HS0003": lottery must be an integer, got null',
    ),
    (
        "lottery duplicate",
        _set(["students", 2, "lottery"], 1),
        'student "HS0003": lottery 1 is also held by student "HS0001"',
    ),
    (
        # 1, 3, 3: as many numbers as students and max - min = n - 1, yet not a permutation
        "lottery repeated in a range",
        _set(["students", 1, "lottery"], 3),
        'student "HS0003": lottery 3 is also held by student "HS0002"',
    ),
    (
        "lottery too big",
        _set(["students", 2, "lottery"], 2**63),
        'student "HS0003": lottery 9223372036854775808 is out of the 64-bit',
    ),
]


@pytest.mark.parametrize(("kind", "mutate", "message"), MALFORMED, ids=[m[0] for m in MALFORMED])
def test_malformed_instances_are_rejected_naming_the_record(kind, mutate, message):
    inst = [good()] if kind == "list" else edit(mutate)
    with pytest.raises(InstanceError) as info:
        allocate_instance(inst)
    assert message in str(info.value)
    assert str(info.value).startswith(info.value.record + ": ")
    with pytest.raises(InstanceError) as again:
        validate_instance(inst)
    assert str(again.value) == str(info.value)


@pytest.mark.parametrize(("kind", "mutate", "message"), MALFORMED[6:], ids=[m[0] for m in MALFORMED[6:]])
def test_malformed_record_deep_in_a_large_instance_is_named(kind, mutate, message):
    """The fast path sees only 'something is wrong'; the slow pass must still name the record."""
    rnd = random.Random(3)
    bulk = [(f"X{i:05d}", rnd.sample(["A", "B"], rnd.randint(0, 2)), "A", [], 100 + i) for i in range(3000)]
    inst = edit(mutate)
    base = instance({"A": 2, "B": 1}, bulk)
    inst["schools"] = inst["schools"]
    inst["students"] = base["students"][:1500] + inst["students"] + base["students"][1500:]
    with pytest.raises(InstanceError) as info:
        allocate_instance(inst)
    assert message.replace("students[2]", "students[1502]").replace("students[0]", "students[1500]") in str(
        info.value
    )


def test_first_bad_record_is_reported():
    inst = good()
    inst["students"][1]["choices"] = ["TH-Y"]
    inst["students"][2]["lottery"] = "x"
    with pytest.raises(InstanceError, match=r'^student "HS0002": choice 1 "TH-Y"'):
        allocate_instance(inst)


def test_instance_error_is_a_value_error():
    with pytest.raises(ValueError):
        allocate_instance({"format": "nope"})


def test_tuples_and_subclasses_are_accepted():
    class Record(dict):
        pass

    inst = good()
    inst["students"] = [Record(s) for s in inst["students"]]
    inst["students"][0]["choices"] = tuple(inst["students"][0]["choices"])
    assert without_seconds(allocate_instance(inst)) == without_seconds(allocate_instance(good()))


@FAST
@given(instances(max_schools=4, max_students=10))
def test_slow_validator_accepts_what_the_fast_path_accepts(inst):
    validate_instance(inst)
    compile_instance(inst)


def test_gc_state_is_restored():

    assert gc.isenabled()
    allocate_instance(good())
    assert gc.isenabled()
    with pytest.raises(InstanceError):
        allocate_instance(edit(_set(["students", 0, "lottery"], "x")))
    assert gc.isenabled()
    gc.disable()
    try:
        allocate_instance(good())
        assert not gc.isenabled()
    finally:
        gc.enable()


def _large_instance(n=5000, seed=11):
    """Several read blocks' worth of students, lottery numbers a permutation of 1..n, siblings."""
    rnd = random.Random(seed)
    schools = {f"S{j:02d}": rnd.randint(0, 150) for j in range(60)}
    ids = list(schools)
    lots = rnd.sample(range(1, n + 1), n)
    students = []
    for i in range(n):
        home = rnd.randrange(len(ids))
        near = [ids[(home + d) % len(ids)] for d in (0, 1, -1, 2, -2, 4)]
        sib = rnd.sample(near, rnd.randint(1, 2)) if rnd.random() < 0.15 else []
        students.append(
            (f"P{i:05d}", rnd.sample(near, rnd.randint(0, 5)), rnd.choice([ids[home], None]), sib, lots[i])
        )
    return instance(schools, students)


def test_large_instance_read_in_blocks_equals_oracle():
    inst = _large_instance()
    expected = without_seconds(oracle_allocate(inst))
    assert without_seconds(allocate_instance(inst)) == expected
    # the same records built by a JSON parser (shared key objects) and as plain Python literals
    parsed = json.loads(json.dumps(inst))
    assert without_seconds(allocate_instance(parsed)) == expected
    shuffled_keys = copy.deepcopy(inst)
    shuffled_keys["students"][0] = dict(reversed(list(shuffled_keys["students"][0].items())), extra=1)
    assert without_seconds(allocate_instance(shuffled_keys)) == expected


@pytest.mark.parametrize("where", [0, 1023, 1024, 2500, 4999])
@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("sibling_schools", None, '"sibling_schools" must be a list of school ids, got null'),
        ("sibling_schools", ["S99"], 'sibling school "S99" is not a known school'),
        ("choices", ["S00", "S00"], 'choice "S00" is repeated (choices 1 and 2)'),
        ("catchment", "S99", 'catchment "S99" is not a known school'),
        ("lottery", True, "lottery must be an integer, got true"),
        ("id", 5, '"id" must be a non-empty string, got 5'),
    ],
)
def test_bad_record_in_any_block_is_named(where, field, value, problem):
    inst = _large_instance()
    inst["students"][where][field] = value
    name = f"students[{where}]" if field == "id" else f'student "P{where:05d}"'
    with pytest.raises(InstanceError) as info:
        allocate_instance(inst)
    assert str(info.value) == f"{name}: {problem}"


def test_lottery_permutation_with_a_repeat_is_rejected_in_a_large_instance():
    inst = _large_instance()
    students = inst["students"]
    lots = {s["lottery"]: k for k, s in enumerate(students)}
    # n numbers from 1..n with max - min = n - 1, but 3 held twice and 2 by nobody
    k_two = lots[2]
    students[k_two]["lottery"] = 3
    first, second = sorted([k_two, lots[3]])
    with pytest.raises(InstanceError) as info:
        allocate_instance(inst)
    assert str(info.value) == (
        f'student "P{second:05d}": lottery 3 is also held by student "P{first:05d}" (must be unique)'
    )


def test_ids_with_nul_and_string_subclasses_in_a_large_instance():
    """The output keys are packed copies of the ids; odd ids must come out equal all the same."""

    class Code(str):
        pass

    inst = _large_instance()
    students = inst["students"]
    students[1500]["id"] = "P\x00NUL"  # makes its block keep the original id objects
    students[3000]["id"] = Code("P-subclass")
    expected = without_seconds(oracle_allocate(inst))
    got = allocate_instance(inst)
    assert without_seconds(got) == expected
    assert list(got["assignment"]) == [s["id"] for s in students] == list(got["ranks"])
    assert {type(k) for k in got["assignment"]} == {str}
    students[1501]["id"] = 7  # a non-string id in the block that kept its originals
    with pytest.raises(InstanceError, match=r'^students\[1501\]: "id" must be a non-empty string, got 7'):
        allocate_instance(inst)
