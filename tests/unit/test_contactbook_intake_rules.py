"""The balanced split of a school's incoming pupils into classes, the new classes' names, and
the kindergarten's height and weight entries."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactbook.rules import (
    HEIGHT_CM,
    MAX_SPLIT,
    WEIGHT_KG,
    RuleError,
    balanced_split,
    intake_class_names,
    parse_measure,
)

pupils_st = st.lists(
    st.tuples(
        st.sampled_from(["male", "female"]),
        st.dates(min_value=date(2019, 1, 1), max_value=date(2020, 12, 31)),
    ),
    max_size=120,
)


def keyed(rows):
    return [(f"k{i}", g, d) for i, (g, d) in enumerate(rows)]


@given(pupils_st, st.integers(min_value=1, max_value=8))
def test_sizes_and_genders_differ_by_at_most_one(rows, count):
    pupils = keyed(rows)
    split = balanced_split(pupils, count)
    assert set(split) == {p[0] for p in pupils}
    assert all(0 <= i < count for i in split.values())
    sizes = Counter(split.values())
    girls = Counter(split[k] for k, g, _ in pupils if g == "female")
    boys = Counter(split[k] for k, g, _ in pupils if g == "male")
    for counter in (sizes, girls, boys):
        values = [counter.get(i, 0) for i in range(count)]
        assert max(values) - min(values) <= 1


@given(pupils_st, st.integers(min_value=1, max_value=5), st.randoms())
def test_the_order_of_the_list_does_not_matter(rows, count, rnd):
    pupils = keyed(rows)
    shuffled = list(pupils)
    rnd.shuffle(shuffled)
    assert balanced_split(shuffled, count) == balanced_split(pupils, count)


def test_each_class_gets_the_oldest_and_youngest_alike():
    start = date(2020, 1, 1)
    pupils = [(f"g{i}", "female", start + timedelta(days=10 * i)) for i in range(20)]
    split = balanced_split(pupils, 2)
    born = {c: sorted(d for k, _, d in pupils if split[k] == c) for c in (0, 1)}
    # Dealt in turn by date of birth: the classes' birth dates interleave.
    assert born[0][0] == start and born[1][0] == start + timedelta(days=10)
    assert born[0][-1] == start + timedelta(days=180) and born[1][-1] == start + timedelta(days=190)


@pytest.mark.parametrize("count", [0, -1, MAX_SPLIT + 1])
def test_a_split_needs_a_sensible_number_of_classes(count):
    with pytest.raises(RuleError) as err:
        balanced_split([("a", "male", date(2020, 1, 1))], count)
    assert err.value.code == "split_count"


def test_class_names():
    assert intake_class_names(1, 3) == ["1A", "1B", "1C"]
    assert intake_class_names(6, 2) == ["6A", "6B"]
    assert intake_class_names(0, 2) == ["MG5A", "MG5B"]
    assert len(set(intake_class_names(1, 28))) == 28


@pytest.mark.parametrize(
    ("raw", "expected"),
    [("112", Decimal("112.0")), ("112,5", Decimal("112.5")), (" 98.4 ", Decimal("98.4")), ("", None)],
)
def test_heights_are_read_as_typed(raw, expected):
    assert parse_measure(raw, HEIGHT_CM) == expected


@pytest.mark.parametrize(
    ("raw", "code"),
    [("abc", "not_a_number"), ("112.55", "decimals"), ("12", "measure_range"), ("nan", "not_a_number")],
)
def test_bad_heights_are_refused(raw, code):
    with pytest.raises(RuleError) as err:
        parse_measure(raw, HEIGHT_CM)
    assert err.value.code == code


def test_weights_have_their_own_bounds():
    assert parse_measure("18,2", WEIGHT_KG) == Decimal("18.2")
    with pytest.raises(RuleError):
        parse_measure("112", WEIGHT_KG)
