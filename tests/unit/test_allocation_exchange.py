"""admissions.allocation.exchange: the later-round reduction, stability, summaries, distances.

The property tests play whole seasons on random small markets: round 1, declines, office seats
(only where nobody has a claim), round 2, more declines, round 3 — and check after every round
that nobody holding a seat lost it or got a worse one, and that the whole matching is stable.
"""

from __future__ import annotations

from collections import Counter

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from admissions.allocation import CATCHMENT, OTHER, SIBLING, allocate_instance
from admissions.allocation.exchange import (
    blocking_pairs,
    haversine_km,
    later_round_instance,
    lost_guarantees,
    nearest,
    priority_class,
    summarize,
)

FORMAT = "school-allocation-instance/1"


def inst(schools: dict[str, int], students: list[dict]) -> dict:
    return {
        "format": FORMAT,
        "schools": [{"id": k, "capacity": v} for k, v in schools.items()],
        "students": students,
    }


def stu(sid, choices, lottery, catchment=None, siblings=()):
    return {
        "id": sid,
        "choices": list(choices),
        "catchment": catchment,
        "sibling_schools": list(siblings),
        "lottery": lottery,
    }


# ---- examples --------------------------------------------------------------------------------


def test_priority_class():
    s = stu("A1", ["X", "Y", "Z"], 1, catchment="Z", siblings=["Y"])
    assert priority_class(s, "Z") == CATCHMENT
    assert priority_class(s, "Y") == SIBLING
    assert priority_class(s, "X") == OTHER


def test_reduction_truncates_held_lists_and_keeps_office_seats_outside():
    students = [
        stu("A1", ["X", "Y", "Z"], 1),
        stu("A2", ["X", "Y"], 2),
        stu("A3", ["Y", "X"], 3),
        stu("A4", ["X"], 4),
    ]
    held = {"A1": "Y"}  # A1 holds her 2nd choice: she may move up to X, never down to Z
    office = {"A2": "Z"}  # A2 got Z from the office (not on her list): competes for X and Y only
    out = later_round_instance({"X": 1, "Y": 1, "Z": 3}, students, held, office, {"round": 2})
    by = {s["id"]: s for s in out["students"]}
    assert by["A1"]["choices"] == ["X", "Y"] and by["A1"]["held"] == "Y"
    assert by["A2"]["choices"] == ["X", "Y"] and by["A2"]["office_seat"] == "Z"
    assert by["A3"]["choices"] == ["Y", "X"] and "held" not in by["A3"]
    caps = {s["id"]: s["capacity"] for s in out["schools"]}
    assert caps == {"X": 1, "Y": 1, "Z": 2}  # one Z seat is the office's
    assert out["meta"] == {"round": 2}


def test_held_seat_survives_a_lowered_capacity():
    out = later_round_instance(
        {"X": 1}, [stu("A1", ["X"], 2), stu("A2", ["X"], 3)], {"A1": "X", "A2": "X"}, {}
    )
    assert out["schools"] == [{"id": "X", "capacity": 2}]
    res = allocate_instance(out)
    assert lost_guarantees(out, res) == []


def test_office_seat_on_the_list_cuts_the_list_above_it():
    out = later_round_instance({"X": 1, "Y": 1}, [stu("A1", ["X", "Y"], 1)], {}, {"A1": "Y"})
    assert out["students"][0]["choices"] == ["X"]


def test_freed_seat_goes_up_the_chain():
    # Round 1: X (1 seat) to A1, A2 gets Y, A3 nothing. A1 declines: A2 moves up to X, A3 takes Y.
    r1_students = [stu("A1", ["X"], 1), stu("A2", ["X", "Y"], 2), stu("A3", ["X", "Y"], 3)]
    r1 = allocate_instance(inst({"X": 1, "Y": 1}, r1_students))
    assert r1["assignment"] == {"A1": "X", "A2": "Y", "A3": None}
    out = later_round_instance({"X": 1, "Y": 1}, r1_students[1:], {"A2": "Y"}, {})
    r2 = allocate_instance(out)
    assert r2["assignment"] == {"A2": "X", "A3": "Y"}
    assert lost_guarantees(out, r2) == []
    assert blocking_pairs(inst({"X": 1, "Y": 1}, r1_students[1:]), r2["assignment"]) == []


def test_blocking_pairs_finds_waste_and_justified_envy():
    students = [stu("A1", ["X"], 1), stu("A2", ["X"], 2)]
    assert blocking_pairs(inst({"X": 1}, students), {"A1": None, "A2": "X"}) == [("A1", "X")]  # envy
    assert blocking_pairs(inst({"X": 2}, students), {"A1": "X", "A2": None}) == [("A2", "X")]  # waste
    assert blocking_pairs(inst({"X": 1}, students), {"A1": "X", "A2": None}) == []
    # a catchment child beats a better lottery number
    students = [stu("A1", ["X"], 1), stu("A2", ["X"], 2, catchment="X")]
    assert blocking_pairs(inst({"X": 1}, students), {"A1": "X", "A2": None}) == [("A2", "X")]


def test_summary_counts_and_cutoffs():
    students = [stu("A1", ["X", "Y"], 1, catchment="X"), stu("A2", ["X", "Y"], 2), stu("A3", ["X"], 3)]
    instance = inst({"X": 1, "Y": 5}, students)
    res = allocate_instance(instance)
    s = summarize(instance, res)
    assert s["students"] == 3 and s["assigned"] == 2 and s["unassigned"] == 1
    assert s["schools"]["X"] == {
        "capacity": 1,
        "admitted": 1,
        "cutoff": [0, 1],
        "catchment_applicants": 1,
        "first_choice": 3,
    }
    assert s["schools"]["Y"]["cutoff"] is None and s["schools"]["Y"]["admitted"] == 1
    assert s["by_rank"] == {"1": 1, "2": 1}


def test_haversine_and_nearest():
    # Hoan Kiem lake to the Temple of Literature: about 2 km
    assert 1.5 < haversine_km(21.0288, 105.8525, 21.0293, 105.8355) < 2.2
    assert haversine_km(21.0, 105.8, 21.0, 105.8) == 0
    schools = [(1, 21.03, 105.85, 5), (2, 21.00, 105.80, 9), (3, 21.03, 105.851, 0), (4, None, None, 3)]
    got = nearest((21.03, 105.85), schools)
    assert [sid for sid, _km, _n in got] == [1, 2, 4]  # 3 is full; 4 has no coordinates: last
    assert got[0][1] == 0 and got[2][1] is None
    assert [sid for sid, *_ in nearest((21.03, 105.85), schools, first=2)][0] == 2
    assert [sid for sid, *_ in nearest(None, schools)] == [2, 1, 4]  # no origin: most seats first


# ---- property: whole seasons ---------------------------------------------------------------


@st.composite
def markets(draw):
    n_schools = draw(st.integers(1, 5))
    schools = [f"S{i}" for i in range(n_schools)]
    caps = {s: draw(st.integers(0, 4)) for s in schools}
    n = draw(st.integers(1, 24))
    lotteries = draw(st.permutations(list(range(1, n + 1))))
    students = []
    for i in range(n):
        choices = draw(st.lists(st.sampled_from(schools), unique=True, max_size=min(4, n_schools)))
        catchment = draw(st.none() | st.sampled_from(schools))
        if catchment is not None and catchment not in choices:
            choices.append(catchment)  # the app appends the catchment school as the last choice
        siblings = draw(st.lists(st.sampled_from(schools), unique=True, max_size=2))
        students.append(stu(f"A{i}", choices, lotteries[i], catchment, siblings))
    return caps, students


def _position(student: dict, school: str | None) -> float:
    if school is None:
        return float("inf")
    return student["choices"].index(school) if school in student["choices"] else len(student["choices"])


def _claimed(students: dict, seat: dict[str, str | None]) -> set[str]:
    """Schools someone ranks above her current seat (everything she listed, if she has none)."""
    out = set()
    for sid, st_ in students.items():
        cur = seat.get(sid)
        for school in st_["choices"]:
            if school == cur:
                break
            out.add(school)
    return out


def _full_market(caps: dict, students: dict, seat: dict, office: dict) -> tuple[dict, dict]:
    """The true market: full capacities, lists with an office seat appended (worse than any listed)."""
    recs = []
    for sid, st_ in students.items():
        rec = dict(st_)
        if sid in office and office[sid] not in st_["choices"]:
            rec["choices"] = [*st_["choices"], office[sid]]
        recs.append(rec)
    return inst(caps, recs), {sid: seat.get(sid) for sid in students}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(markets(), st.data())
def test_later_rounds_keep_seats_and_stay_stable(market, data):
    caps, all_students = market
    students = {s["id"]: s for s in all_students}
    r1 = allocate_instance(inst(caps, all_students))
    assert blocking_pairs(inst(caps, all_students), r1["assignment"]) == []
    seat = {sid: school for sid, school in r1["assignment"].items() if school is not None}
    office: dict[str, str] = {}
    for round_no in (2, 3):
        # Some families decline (placed or waiting: both leave the season).
        leaving = data.draw(st.sets(st.sampled_from(sorted(students)), max_size=len(students) // 2 + 1))
        for sid in leaving:
            students.pop(sid)
            seat.pop(sid, None)
            office.pop(sid, None)
        if not students:
            return
        # The office places some waiting children, only at unclaimed schools with seats left.
        used = Counter(seat.values())
        claimed = _claimed(students, seat)
        for sid in sorted(students):
            if sid in seat or not data.draw(st.booleans()):
                continue
            free = [s for s in caps if caps[s] - used[s] > 0 and s not in claimed]
            if free:
                school = data.draw(st.sampled_from(free))
                seat[sid] = office[sid] = school
                used[school] += 1
        before = dict(seat)
        held = {sid: s for sid, s in seat.items() if sid not in office}
        instance = later_round_instance(
            caps, list(students.values()), held, dict(office), {"round": round_no}
        )
        res = allocate_instance(instance)
        assert lost_guarantees(instance, res) == []
        for sid, school in res["assignment"].items():
            if school is not None:
                seat[sid] = school
                office.pop(sid, None)  # moved up to a listed school: the office seat is freed
        for sid, st_ in students.items():
            # nobody is worse off than before the round
            assert _position(st_, seat.get(sid)) <= _position(st_, before.get(sid)), (sid, before, seat)
        full, assignment = _full_market(caps, students, seat, office)
        assert blocking_pairs(full, assignment) == [], (round_no, full, assignment)
        assert all(n <= caps[s] for s, n in Counter(seat.values()).items())


@settings(max_examples=150, deadline=None)
@given(markets())
def test_a_later_round_without_changes_changes_nothing(market):
    caps, students = market
    r1 = allocate_instance(inst(caps, students))
    held = {sid: s for sid, s in r1["assignment"].items() if s is not None}
    instance = later_round_instance(caps, students, held, {})
    r2 = allocate_instance(instance)
    assert r2["assignment"] == r1["assignment"]
