"""Grade rules (Circulars 22/2021 and 27/2020): examples and properties."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from contactbook import rules
from contactbook.rules import (
    COMMENT_MARKS,
    FAIL,
    PASS,
    PRIMARY_LEVELS,
    RuleError,
    comment_term_result,
    parse_mark,
    parse_score,
    round1,
    term_average,
    year_average,
)

D = Decimal
scores = st.integers(min_value=0, max_value=100).map(lambda n: D(n) / 10)


def exact_half_up(fr: Fraction) -> Decimal:
    """Reference rounding on exact fractions: floor(x·10 + 1/2) / 10 (x ≥ 0)."""
    tenths = fr * 10 + Fraction(1, 2)
    return D(tenths.numerator // tenths.denominator) / 10


@pytest.mark.parametrize(
    "regular, mid, end, expected",
    [
        (["8", "7", "9"], "7.5", "8", "7.9"),  # (24 + 15 + 24) / 8 = 7.875
        (["6.5", "8"], "7", "6", "6.6"),  # (14.5 + 14 + 18) / 7 = 6.642…
        (["10", "10", "10", "10"], "10", "10", "10.0"),
        (["0"], "0", "0", "0.0"),
        (["5"], "5", "6", "5.5"),  # (5 + 10 + 18) / 6 = 5.5
        (["6", "7"], "6.5", "7", "6.7"),  # (13 + 13 + 21) / 7 = 6.714…
    ],
)
def test_term_average_examples(regular, mid, end, expected):
    got = term_average([D(x) for x in regular], D(mid), D(end))
    ref = exact_half_up(
        (sum(Fraction(x) for x in regular) + 2 * Fraction(mid) + 3 * Fraction(end)) / (len(regular) + 5)
    )
    assert got == ref == D(expected)


def test_term_average_worked_examples():
    assert term_average([D(8), D(7), D(9)], D("7.5"), D(8)) == D("7.9")
    assert term_average([D(5)], D(5), D(6)) == D("5.5")
    assert term_average([D(7)], D(6), D(6)) == D("6.2")  # 37/6 = 6.166…
    assert term_average([D(5), D(5), D("5.5")], D(5), D(5)) == D("5.1")  # 40.5/8 = 5.0625
    assert term_average([D(7)] * 4, D(7), D("7.5")) == D("7.2")  # 64.5/9 = 7.166…
    # An exact tie at .x5 rounds up: (6 + 2·6 + 3·6.5) / 6 = 37.5/6 = 6.25 → 6.3
    assert term_average([D(6)], D(6), D("6.5")) == D("6.3")


def test_round_half_up_not_bankers():
    assert round1(D("6.25")) == D("6.3")
    assert round1(D("6.35")) == D("6.4")
    assert round1(D("6.249")) == D("6.2")
    # Binary floats would get these wrong (2.675 is 2.67499… as a float).
    assert round1(D("2.65")) == D("2.7")


def test_term_average_needs_mid_end_and_a_regular_score():
    assert term_average([], D(7), D(8)) is None
    assert term_average([D(7)], None, D(8)) is None
    assert term_average([D(7)], D(7), None) is None
    assert term_average([None, D(7)], D(7), D(7)) == D("7.0")


def test_year_average():
    assert year_average(D("6.5"), D("8.0")) == D("7.5")
    assert year_average(D("7.0"), D("7.1")) == D("7.1")  # 21.2/3 = 7.0666 → 7.1
    assert year_average(D("8.2"), D("6.4")) == D("7.0")  # 21/3
    assert year_average(D("5.0"), D("5.1")) == D("5.1")  # 15.2/3 = 5.0666
    assert year_average(D("6.6"), D("6.6")) == D("6.6")
    assert year_average(None, D(7)) is None and year_average(D(7), None) is None


@given(st.lists(scores, min_size=1, max_size=6), scores, scores)
def test_term_average_property_exact(regular, mid, end):
    got = term_average(regular, mid, end)
    exact = (sum(Fraction(x) for x in regular) + 2 * Fraction(mid) + 3 * Fraction(end)) / (len(regular) + 5)
    assert got == exact_half_up(exact)
    assert D(0) <= got <= D(10)
    assert got.as_tuple().exponent == -1  # exactly one decimal
    # Bounded by the smallest and largest score that went in.
    everything = [*regular, mid, end]
    assert round1(min(everything)) <= got <= round1(max(everything))


@given(st.lists(scores, min_size=1, max_size=6), scores, scores)
def test_term_average_monotone_in_the_end_of_term_score(regular, mid, end):
    better = min(end + D("0.1"), D(10))
    assert term_average(regular, mid, better) >= term_average(regular, mid, end)


@given(st.lists(scores, min_size=1, max_size=6), st.permutations(range(6)), scores, scores)
def test_term_average_ignores_order(regular, perm, mid, end):
    shuffled = [regular[i] for i in perm if i < len(regular)]
    assert term_average(shuffled, mid, end) == term_average(regular, mid, end)


@given(scores, scores)
def test_year_average_property(t1, t2):
    got = year_average(t1, t2)
    assert got == exact_half_up((Fraction(t1) + 2 * Fraction(t2)) / 3)
    assert min(t1, t2) <= got <= max(t1, t2)


@given(scores)
def test_same_score_everywhere_gives_that_score(x):
    assert term_average([x, x, x], x, x) == x
    assert year_average(x, x) == x


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("7", D("7.0")),
        ("7.5", D("7.5")),
        ("7,5", D("7.5")),
        (" 10 ", D("10.0")),
        ("0", D("0.0")),
        ("7.50", D("7.5")),
        ("", None),
        (None, None),
        (8, D("8.0")),
        (6.5, D("6.5")),
    ],
)
def test_parse_score_accepts(raw, expected):
    assert parse_score(raw) == expected


@pytest.mark.parametrize(
    "raw, code",
    [
        ("10.5", "range"),
        ("-1", "range"),
        ("11", "range"),
        ("7.25", "decimals"),
        ("abc", "not_a_number"),
        ("nan", "not_a_number"),
        ("Infinity", "not_a_number"),
        ("7..5", "not_a_number"),
        ("1e1", None),
    ],
)
def test_parse_score_refuses(raw, code):
    if code is None:  # 1e1 == 10: a number, in range
        assert parse_score(raw) == D("10.0")
        return
    with pytest.raises(RuleError) as err:
        parse_score(raw)
    assert err.value.code == code


def test_primary_test_scores_are_whole_numbers():
    assert parse_score("9", whole=True) == D(9)
    with pytest.raises(RuleError) as err:
        parse_score("8.5", whole=True)
    assert err.value.code == "whole"


@given(st.integers(min_value=0, max_value=100))
def test_parse_score_round_trips_every_valid_score(n):
    value = D(n) / 10
    assert parse_score(str(value)) == value
    assert parse_score(str(value).replace(".", ",")) == value


@pytest.mark.parametrize(
    "raw, allowed, expected",
    [
        ("Đ", COMMENT_MARKS, PASS),
        ("đạt", COMMENT_MARKS, PASS),
        ("D", COMMENT_MARKS, PASS),
        ("CĐ", COMMENT_MARKS, FAIL),
        ("Chưa đạt", COMMENT_MARKS, FAIL),
        ("cd", COMMENT_MARKS, FAIL),
        ("HTT", PRIMARY_LEVELS, "HTT"),
        ("Hoàn thành tốt", PRIMARY_LEVELS, "HTT"),
        ("hoàn thành", PRIMARY_LEVELS, "HT"),
        ("Chưa hoàn thành", PRIMARY_LEVELS, "CHT"),
        ("", PRIMARY_LEVELS, None),
    ],
)
def test_parse_mark(raw, allowed, expected):
    assert parse_mark(raw, allowed) == expected


@pytest.mark.parametrize(
    "raw, allowed", [("HTT", COMMENT_MARKS), ("Đ", PRIMARY_LEVELS), ("giỏi", PRIMARY_LEVELS)]
)
def test_parse_mark_refuses_marks_of_another_scale(raw, allowed):
    with pytest.raises(RuleError):
        parse_mark(raw, allowed)


def test_comment_assessed_term_result():
    assert comment_term_result([PASS, PASS, PASS, PASS], required=4) == PASS
    assert comment_term_result([PASS, PASS, None], required=4) is None  # missing assessments
    assert comment_term_result([PASS, FAIL, PASS, PASS], required=4) == FAIL
    assert comment_term_result([FAIL], required=4) == FAIL  # already decided
    assert rules.comment_year_result(FAIL, PASS) == PASS  # term II decides
