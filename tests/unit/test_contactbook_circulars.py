"""A pupil's overall results by Circular 22 (lower secondary learning) and Circular 27 (primary
year), hand-checked at each boundary, and monotone: a better grade never gives a worse result."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from contactbook.circulars import learning_result, primary_year_result

D = Decimal
ORDER = {"CD": 0, "D": 1, "K": 2, "T": 3}
P_ORDER = {"CHT": 0, "HT": 1, "HTT": 2, "HTXS": 3}


def scored(*values):
    return [D(str(v)) for v in values]


def test_good_needs_every_subject_at_six_and_a_half_and_six_at_eight():
    eight = scored(8, 8, 8, 8, 8, 8, 6.5, 6.5)
    assert learning_result(eight, ["D", "D"]) == "T"
    assert learning_result(scored(8, 8, 8, 8, 8, 7.9, 7, 6.5), ["D"]) == "K"  # five at 8.0
    assert learning_result(scored(8, 8, 8, 8, 8, 8, 6.4, 10), ["D"]) == "K"  # one below 6.5
    assert learning_result(eight, ["D", "CD"]) == "D"  # one comment subject not passed


def test_fair_needs_every_subject_at_five_and_six_at_six_and_a_half():
    assert learning_result(scored(6.5, 6.5, 6.5, 6.5, 6.5, 6.5, 5, 5), ["D"]) == "K"
    assert learning_result(scored(6.5, 6.5, 6.5, 6.5, 6.5, 6.4, 5, 5), ["D"]) == "D"
    assert learning_result(scored(6.5, 6.5, 6.5, 6.5, 6.5, 6.5, 4.9, 9), ["D"]) == "D"


def test_passed_allows_one_comment_fail_and_no_subject_below_three_and_a_half():
    assert learning_result(scored(5, 5, 5, 5, 5, 5, 3.5, 3.5), ["CD", "D"]) == "D"
    assert learning_result(scored(5, 5, 5, 5, 5, 5, 3.4, 9), ["D"]) == "CD"
    assert learning_result(scored(5, 5, 5, 5, 5, 4.9, 9, 9), ["D"]) == "D"  # six at 5.0 with the nines
    assert learning_result(scored(5, 5, 5, 5, 4.9, 4.9, 4, 4), ["D"]) == "CD"  # four at 5.0
    assert learning_result(scored(9, 9, 9, 9, 9, 9), ["CD", "CD"]) == "CD"


def test_nothing_is_guessed_while_a_result_is_missing():
    assert learning_result([D(9), None], ["D"]) is None
    assert learning_result([D(9)], [None]) is None
    assert learning_result([], []) is None


averages = st.lists(st.integers(0, 100).map(lambda n: D(n) / 10), min_size=1, max_size=12)
marks = st.lists(st.sampled_from(["D", "CD"]), max_size=4)


@given(averages, marks, st.data())
def test_a_better_average_never_gives_a_worse_result(values, comments, data):
    i = data.draw(st.integers(0, len(values) - 1))
    better = list(values)
    better[i] = data.draw(st.integers(int(values[i] * 10), 100).map(lambda n: D(n) / 10))
    assert ORDER[learning_result(better, comments)] >= ORDER[learning_result(values, comments)]


@given(averages, marks.filter(bool), st.data())
def test_passing_a_comment_subject_never_gives_a_worse_result(values, comments, data):
    i = data.draw(st.integers(0, len(comments) - 1))
    better = [*comments[:i], "D", *comments[i + 1 :]]
    assert ORDER[learning_result(values, better)] >= ORDER[learning_result(values, comments)]


def test_primary_year_result_by_circular_27():
    qc = ["T"] * 10
    assert primary_year_result(["HTT", "HTT"], qc, [9, 10]) == "HTXS"
    assert primary_year_result(["HTT", "HTT"], qc, [9, 8]) == "HTT"
    assert primary_year_result(["HTT", "HTT"], qc, [7, 6]) == "HT"  # a test below 7
    assert primary_year_result(["HTT", "HT"], qc, [10, 10]) == "HT"
    assert primary_year_result(["HTT", "HT"], ["T", "D"], [5, 5]) == "HT"
    assert primary_year_result(["HTT", "HT"], ["T", "C"], [9, 9]) == "CHT"  # Cần cố gắng
    assert primary_year_result(["HT", "CHT"], qc, [9, 9]) == "CHT"
    assert primary_year_result(["HT", "HT"], qc, [4, 9]) == "CHT"
    assert primary_year_result(["HT", None], qc, [9]) is None
    assert primary_year_result([], qc, []) is None


@given(
    st.lists(st.sampled_from(["HTT", "HT", "CHT"]), min_size=1, max_size=8),
    st.lists(st.sampled_from(["T", "D", "C"]), max_size=10),
    st.lists(st.integers(0, 10), max_size=4),
    st.data(),
)
def test_primary_a_better_test_score_never_gives_a_worse_result(levels, qcs, tests, data):
    if not tests:
        return
    i = data.draw(st.integers(0, len(tests) - 1))
    better = list(tests)
    better[i] = data.draw(st.integers(tests[i], 10))
    assert (
        P_ORDER[primary_year_result(levels, qcs, better)] >= P_ORDER[primary_year_result(levels, qcs, tests)]
    )
