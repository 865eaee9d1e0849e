"""A pupil's overall results by Circular 22 (lower secondary learning) and Circular 27 (primary
year), hand-checked at each boundary, and monotone: a better grade never gives a worse result."""

from __future__ import annotations

from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from contactbook.circulars import (
    CRITERIA,
    CRITERION_GROUPS,
    CRITERION_HALVES,
    POINTS,
    SHORT_NAMES,
    learning_result,
    override_problem,
    primary_year_result,
    qc_problems,
)

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


# ---- Circular 27: qualities and competences, the teacher's year result ---------------------------

ALL_GOOD = dict.fromkeys(CRITERIA, "T")
Q_ORDER = {"C": 0, "D": 1, "T": 2}


def test_the_circular_lists_five_qualities_three_general_and_seven_specific_competences():
    assert [len(group) for _, group in CRITERION_GROUPS] == [5, 3, 7]
    assert len(CRITERIA) == 15 and list(POINTS) == ["gk1", "ck1", "gk2", "cn"]
    assert CRITERIA["giai_quyet"] == "Giải quyết vấn đề và sáng tạo" and CRITERIA["tham_mi"] == "Thẩm mĩ"
    assert set(SHORT_NAMES) <= set(CRITERIA) and len(set(SHORT_NAMES.values())) == len(SHORT_NAMES)


def test_a_pupils_entries_are_checked_one_by_one():
    assert qc_problems(ALL_GOOD, "Con chăm ngoan.") == {}
    assert qc_problems({**ALL_GOOD, "yeu_nuoc": "", "the_chat": "C"}, "") == {}  # blank: not assessed
    assert qc_problems({**ALL_GOOD, "nhan_ai": "K", "cham_chi": "t"}, "") == {
        "nhan_ai": "level",
        "cham_chi": "level",
    }
    assert qc_problems({"vui_ve": "T"}, "") == {"vui_ve": "level"}
    assert qc_problems(ALL_GOOD, "x" * 500) == {} and qc_problems(ALL_GOOD, "x" * 501) == {
        "comment": "comment_long"
    }


def test_another_result_than_the_computed_one_needs_a_reason():
    assert override_problem("HTT", "HTT", "") is None
    assert override_problem("HTT", "HTXS", "") == "reason"
    assert override_problem("HTT", "HTXS", "ngắn") == "reason"
    assert override_problem("HTT", "HTXS", "Đạt giải nhất cấp thành phố") is None
    assert override_problem("HTT", "XS", "Đạt giải nhất cấp thành phố") == "result"
    assert override_problem("HT", "HT", "x" * 501) == "reason_long"
    assert override_problem(None, "HT", "Thiếu điểm nhưng vẫn muốn") == "missing"  # nothing is guessed


def test_the_year_result_takes_all_fifteen_qualities_and_competences():
    good = list(ALL_GOOD.values())
    assert primary_year_result(["HTT"] * 9, good, [10, 9, 9, 9, 10, 9]) == "HTXS"
    assert primary_year_result(["HTT"] * 9, [*good[:-1], "D"], [10] * 6) == "HT"  # one competence Đạt
    assert primary_year_result(["HTT"] * 9, [*good[:-1], None], [10] * 6) is None  # one not assessed


@given(
    st.lists(st.sampled_from(["HTT", "HT", "CHT"]), min_size=1, max_size=8),
    st.lists(st.sampled_from(["T", "D", "C"]), min_size=1, max_size=15),
    st.lists(st.integers(0, 10), max_size=6),
    st.data(),
)
def test_primary_a_better_quality_never_gives_a_worse_result(levels, qcs, tests, data):
    i = data.draw(st.integers(0, len(qcs) - 1))
    better = list(qcs)
    better[i] = data.draw(st.sampled_from([q for q in Q_ORDER if Q_ORDER[q] >= Q_ORDER[qcs[i]]]))
    assert (
        P_ORDER[primary_year_result(levels, better, tests)]
        >= P_ORDER[primary_year_result(levels, qcs, tests)]
    )


@given(
    st.lists(st.sampled_from(["HTT", "HT", "CHT"]), min_size=1, max_size=8),
    st.lists(st.sampled_from(["T", "D", "C"]), max_size=15),
    st.lists(st.integers(0, 10), max_size=6),
)
def test_primary_each_result_meets_its_floors(levels, qcs, tests):
    result = primary_year_result(levels, qcs, tests)
    if result == "HTXS":
        assert all(t >= 9 for t in tests) and set(levels) == {"HTT"} and set(qcs) <= {"T"}
    if result in ("HTXS", "HTT"):
        assert all(t >= 7 for t in tests) and "HT" not in levels and set(qcs) <= {"T"}
    if result != "CHT":
        assert all(t >= 5 for t in tests) and "CHT" not in levels and "C" not in qcs
    else:
        assert any(t < 5 for t in tests) or "CHT" in levels or "C" in qcs


def test_the_report_cards_two_halves_hold_each_criterion_once():
    items = [line[1] for pair in CRITERION_HALVES for line in pair if line and line[0] == "item"]
    assert sorted(items) == sorted(CRITERIA) and len(CRITERION_HALVES) == 10
    assert CRITERION_HALVES[0] == (("group", "", "Phẩm chất chủ yếu"), ("group", "", "Năng lực đặc thù"))
