"""Pure admissions rules: age eligibility, catchment derivation, admission codes, calendar checks."""

from __future__ import annotations

import itertools
import random
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from admissions import rules

# ---- eligibility by age ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("level", "born", "eligible"),
    [
        ("grade1", date(2020, 1, 1), True),  # turns 6 on the first day of 2026
        ("grade1", date(2020, 12, 31), True),  # turns 6 on the last day of 2026: still this intake
        ("grade1", date(2019, 12, 31), False),  # turned 6 in 2025: last year's intake
        ("grade1", date(2021, 1, 1), False),  # turns 6 only in 2027
        ("kindergarten", date(2021, 6, 15), True),
        ("kindergarten", date(2020, 12, 31), False),
        ("grade6", date(2015, 1, 1), True),
        ("grade6", date(2015, 12, 31), True),
        ("grade6", date(2016, 1, 1), False),
        ("grade6", date(2014, 12, 31), False),
    ],
)
def test_age_eligibility_edges(level, born, eligible):
    assert rules.is_age_eligible(level, 2026, born) is eligible


def test_birth_range_and_level_for_birth():
    assert rules.birth_range("grade1", 2026) == (date(2020, 1, 1), date(2020, 12, 31))
    assert rules.level_for_birth(date(2020, 2, 29), 2026) == "grade1"
    assert rules.level_for_birth(date(2021, 7, 1), 2026) == "kindergarten"
    assert rules.level_for_birth(date(2015, 7, 1), 2026) == "grade6"
    assert rules.level_for_birth(date(2018, 7, 1), 2026) is None


# ---- catchment derivation -------------------------------------------------------------------

W1, W2, W3 = 1, 2, 3
G1, G2, G3 = 11, 12, 13  # groups of ward 1
A, B, C = 100, 200, 300


def test_group_line_wins_over_whole_ward_line():
    cmap = rules.CatchmentMap([(A, W1, None), (B, W1, G2)])
    assert cmap.derive(W1, G1) == rules.CatchmentResult(A, "ok", (A,))
    assert cmap.derive(W1, G2) == rules.CatchmentResult(B, "ok", (B,))
    assert cmap.derive(W1, None).school_id == A  # no group known: the ward line


def test_no_line_and_several_lines():
    cmap = rules.CatchmentMap([(A, W1, None), (B, W2, None), (C, W2, None), (A, W1, G3), (C, W1, G3)])
    assert cmap.derive(W3, None) == rules.CatchmentResult(None, "none")
    assert cmap.derive(W2, None) == rules.CatchmentResult(None, "ambiguous", (B, C))
    # two group lines for the same group: ambiguous, even though a ward line exists
    assert cmap.derive(W1, G3) == rules.CatchmentResult(None, "ambiguous", (A, C))


def test_areas_of_a_school_exclude_groups_claimed_by_another():
    cmap = rules.CatchmentMap([(A, W1, None), (B, W1, G2), (B, W2, None)])
    groups = {W1: [G1, G2, G3], W2: [21, 22]}
    assert cmap.areas_of(A, groups) == ({G1, G3}, {W1})
    assert cmap.areas_of(B, groups) == ({G2, 21, 22}, {W2})
    assert cmap.areas_of(C, groups) == (set(), set())


# ---- admission codes ------------------------------------------------------------------------

code_bodies = st.text(alphabet=rules.ALPHABET, min_size=rules.CODE_BODY, max_size=rules.CODE_BODY)


def _code(body: str) -> str:
    return body + rules.check_symbol(body)


def test_new_codes_are_well_formed_and_use_the_unambiguous_alphabet():
    rng = random.Random(7)
    codes = {rules.new_code(rng.randrange) for _ in range(2000)}
    assert len(codes) == 2000
    for code in codes:
        assert len(code) == 9 and rules.code_is_well_formed(code)
        assert not set(code) & set("ILOU")


@given(code_bodies, st.integers(0, rules.CODE_LENGTH - 1), st.sampled_from(rules.ALPHABET))
def test_every_single_substitution_is_caught(body, pos, symbol):
    code = _code(body)
    typo = code[:pos] + symbol + code[pos + 1 :]
    assert rules.code_is_well_formed(typo) is (typo == code)


@given(code_bodies, st.integers(0, rules.CODE_LENGTH - 2))
def test_every_adjacent_transposition_is_caught(body, pos):
    code = _code(body)
    swapped = code[:pos] + code[pos + 1] + code[pos] + code[pos + 2 :]
    assert rules.code_is_well_formed(swapped) is (swapped == code)


def test_adjacent_transpositions_exhaustively_for_every_symbol_pair():
    # The quasigroup is totally anti-symmetric: check every pair at every position once.
    base = "0" * rules.CODE_BODY
    for x, y in itertools.permutations(rules.ALPHABET, 2):
        for pos in range(rules.CODE_BODY - 1):
            body = base[:pos] + x + y + base[pos + 2 :]
            code = _code(body)
            swapped = code[:pos] + y + x + code[pos + 2 :]
            assert not rules.code_is_well_formed(swapped), (code, swapped)


@pytest.mark.parametrize("typed", ["k7m-2qx-9pa", " K7M 2QX 9PA ", "K7M2QX9PA"])
def test_normalize_accepts_case_spaces_and_dashes(typed):
    assert rules.normalize_code(typed) == "K7M2QX9PA"


def test_normalize_maps_look_alikes_and_rejects_the_rest():
    assert rules.normalize_code("O1I-L00-000") == "011100000"
    assert rules.normalize_code("U00000000") is None  # U is not in the alphabet
    assert rules.normalize_code("ABC") is None
    assert rules.normalize_code("") is None and rules.normalize_code(None) is None
    code = _code("K7M2QX9P")
    assert rules.format_code(code) == f"K7M-2QX-9P{code[-1]}"


# ---- calendar -------------------------------------------------------------------------------

T0 = datetime(2026, 6, 30, 17, 0)  # 00:00 on 1 July in Hanoi, in UTC


def _sched(level, start_days, length_days=3, confirm_days=10):
    opens = T0 + timedelta(days=start_days)
    closes = opens + timedelta(days=length_days)
    return rules.LevelSchedule(level, rules.Window(opens, closes), closes + timedelta(days=confirm_days))


def test_a_staggered_calendar_is_valid():
    levels = [_sched("grade1", 0), _sched("kindergarten", 3), _sched("grade6", 6)]
    trial = rules.Window(T0 - timedelta(days=10), T0 - timedelta(days=8))
    assert rules.schedule_problems(levels, trial, 2026) == []


def test_calendar_problems_are_named():
    overlapping = [_sched("grade1", 0), _sched("kindergarten", 2), _sched("grade6", 6)]
    assert ("kindergarten.opens_at", "overlap") in rules.schedule_problems(overlapping)
    backwards = [rules.LevelSchedule("grade1", rules.Window(T0, T0 - timedelta(hours=1)), None)]
    assert rules.schedule_problems(backwards) == [("grade1.closes_at", "close_before_open")]
    early_confirm = [
        rules.LevelSchedule("grade1", rules.Window(T0, T0 + timedelta(days=3)), T0 + timedelta(days=1))
    ]
    assert rules.schedule_problems(early_confirm) == [("grade1.confirm_by", "confirm_before_close")]
    half = [rules.LevelSchedule("grade1", rules.Window(T0, None), None)]
    assert rules.schedule_problems(half) == [("grade1.closes_at", "incomplete")]
    late_trial = rules.Window(T0 - timedelta(days=1), T0 + timedelta(hours=1))
    assert rules.schedule_problems([_sched("grade1", 0)], late_trial) == [
        ("trial.closes_at", "trial_after_official")
    ]
    assert rules.schedule_problems([_sched("grade1", 0)], intake_year=2030) == [
        ("grade1.opens_at", "wrong_year")
    ]


def test_window_status_uses_half_open_interval():
    w = rules.Window(T0, T0 + timedelta(days=3))
    assert w.status(T0 - timedelta(seconds=1)) == "upcoming"
    assert w.is_open(T0) and w.status(T0) == "open"
    assert not w.is_open(T0 + timedelta(days=3)) and w.status(T0 + timedelta(days=3)) == "closed"
    assert rules.Window(None, None).status(T0) == "unset"


def test_local_time_round_trip():
    local = datetime(2026, 7, 1, 0, 0)
    utc = rules.local_to_utc(local, "Asia/Ho_Chi_Minh")
    assert utc == T0
    assert rules.utc_to_local(utc, "Asia/Ho_Chi_Minh") == local


# ---- choices, capacity, locks, spreadsheet text ---------------------------------------------


def test_choice_rules():
    assert rules.choice_problems([1, 2, 3], {1, 2, 3}, 9) == []
    assert "too_many" in rules.choice_problems([1, 2, 3, 4], {1, 2, 3, 4}, 9)
    assert "repeated" in rules.choice_problems([1, 1], {1}, 9)
    assert "catchment_listed" in rules.choice_problems([9], {1}, 9)
    assert "not_allowed" in rules.choice_problems([5], {1}, 9)
    assert rules.ranked_choices([4, 5], 9) == [(1, 4, False), (2, 5, False), (3, 9, True)]
    assert rules.ranked_choices([], None) == []


def test_spare_seats_never_negative():
    assert rules.spare_seats(100, 80) == 20
    assert rules.spare_seats(100, 120) == 0


def test_lock_expires():
    until = T0 + rules.LOCK_DURATION
    assert rules.is_locked(until, T0)
    assert not rules.is_locked(until, until)
    assert not rules.is_locked(None, T0)


def test_mask_personal_id():
    assert rules.mask_personal_id("001220012345") == "001••••••345"


def test_the_choice_limit_is_the_levels():
    assert rules.choice_problems([1, 2, 3, 4, 5], {1, 2, 3, 4, 5}, 9, limit=5) == []
    assert rules.choice_problems([1, 2], {1, 2}, 9, limit=1) == ["too_many"]
    assert rules.choice_problems([], set(), 9, limit=0) == []
