"""Pure admissions rules: eligibility by age, catchment derivation, admission codes, windows,
refusals, and the geometry of the server-rendered charts.

No Flask, no SQLAlchemy: plain values in, plain values out, so that every rule is unit-tested
directly (tests/unit/test_admissions_rules.py).
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

# ---------------------------------------------------------------------------------------------
# Refusals
# ---------------------------------------------------------------------------------------------


class AdmissionError(Exception):
    """A business rule refused the operation; `code` names it for the view to translate."""

    def __init__(self, code: str, field: str | None = None, **params):
        super().__init__(code)
        self.code = code
        self.field = field
        self.params = params


class RoundError(Exception):
    """An allocation round, an offer or a placement refused; `code` names it for the view to translate."""

    def __init__(self, code: str, **params):
        super().__init__(code)
        self.code = code
        self.params = params


# ---------------------------------------------------------------------------------------------
# Eligibility by age
# ---------------------------------------------------------------------------------------------

# Age a child turns during the calendar year in which the school year starts (Hanoi practice:
# grade 1 takes children born in year Y-6 for the school year starting in September of Y).
AGE_BY_LEVEL: dict[str, int] = {"kindergarten": 5, "grade1": 6, "grade6": 11}
LEVELS: tuple[str, ...] = ("grade1", "kindergarten", "grade6")  # the usual order of the windows


def birth_year_for(level: str, intake_year: int) -> int:
    """The birth year of the children a level admits for a school year starting in `intake_year`."""
    return intake_year - AGE_BY_LEVEL[level]


def birth_range(level: str, intake_year: int) -> tuple[date, date]:
    """Inclusive date-of-birth range of the eligible cohort (for an indexed range query)."""
    year = birth_year_for(level, intake_year)
    return date(year, 1, 1), date(year, 12, 31)


def is_age_eligible(level: str, intake_year: int, date_of_birth: date) -> bool:
    return date_of_birth.year == birth_year_for(level, intake_year)


def level_for_birth(date_of_birth: date, intake_year: int) -> str | None:
    """The one level a child is eligible for in a given intake year, or None."""
    for level, age in AGE_BY_LEVEL.items():
        if intake_year - date_of_birth.year == age:
            return level
    return None


# ---------------------------------------------------------------------------------------------
# Catchment derivation
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CatchmentResult:
    """The catchment school of an address for one level.

    - ``status == "ok"``: exactly one school covers the address (`school_id`).
    - ``"none"``: no catchment line covers it; the office must assign a school (the child is
      still eligible and may apply; the application carries no guaranteed school).
    - ``"ambiguous"``: several schools' lines cover it at the same precision (a data error in
      the catchment file); we do not guess: `candidates` lists them, `school_id` is None and the
      office resolves it. The family may still rank the candidates.
    """

    school_id: int | None
    status: str
    candidates: tuple[int, ...] = ()


class CatchmentMap:
    """Catchment lines of one level, indexed for derivation.

    `lines` are (school_id, ward_id, residential_group_id or None) triples of schools of a single
    level. A residential-group line is more precise than a whole-ward line and wins over it.
    """

    def __init__(self, lines: Iterable[tuple[int, int, int | None]]):
        self.by_group: dict[tuple[int, int], set[int]] = {}
        self.by_ward: dict[int, set[int]] = {}
        for school_id, ward_id, group_id in lines:
            if group_id is None:
                self.by_ward.setdefault(ward_id, set()).add(school_id)
            else:
                self.by_group.setdefault((ward_id, group_id), set()).add(school_id)

    def derive(self, ward_id: int, group_id: int | None) -> CatchmentResult:
        schools: set[int] = set()
        if group_id is not None:
            schools = self.by_group.get((ward_id, group_id), set())
        if not schools:
            schools = self.by_ward.get(ward_id, set())
        if not schools:
            return CatchmentResult(None, "none")
        if len(schools) > 1:
            return CatchmentResult(None, "ambiguous", tuple(sorted(schools)))
        (only,) = schools
        return CatchmentResult(only, "ok", (only,))

    def areas_of(
        self, school_id: int, groups_by_ward: Mapping[int, Iterable[int]]
    ) -> tuple[set[int], set[int]]:
        """The addresses whose catchment is exactly `school_id`.

        Returns (group_ids, ward_ids): children living in one of `group_ids`, or in one of
        `ward_ids` without a residential group. `groups_by_ward` lists the residential groups of
        each ward (needed to expand a whole-ward line minus the groups another line claims).
        """
        wards = {w for w, s in self.by_ward.items() if school_id in s}
        wards |= {w for (w, _g), s in self.by_group.items() if school_id in s}
        group_ids: set[int] = set()
        bare_wards: set[int] = set()
        for ward_id in wards:
            if self.derive(ward_id, None).school_id == school_id:
                bare_wards.add(ward_id)
            for group_id in groups_by_ward.get(ward_id, ()):
                if self.derive(ward_id, group_id).school_id == school_id:
                    group_ids.add(group_id)
        return group_ids, bare_wards


# ---------------------------------------------------------------------------------------------
# Admission codes: 8 random Crockford base-32 symbols + 1 Damm check symbol over GF(32)
# ---------------------------------------------------------------------------------------------

# Crockford's alphabet has no I, L, O, U: nothing to confuse with 1, 0 or V, and no accidental words.
ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_VALUE = {ch: i for i, ch in enumerate(ALPHABET)}
_VALUE.update({"O": 0, "I": 1, "L": 1})  # what people type for 0 and 1
CODE_BODY = 8  # 40 random bits
CODE_LENGTH = CODE_BODY + 1
_POLY = 0b100101  # x^5 + x^2 + 1, irreducible over GF(2): the field GF(32)


def _times_x(v: int) -> int:
    """Multiply by x (the element 2) in GF(32)."""
    v <<= 1
    return v ^ _POLY if v & 0b100000 else v


def _damm(values: Iterable[int]) -> int:
    """Damm's algorithm with the quasigroup a∘b = 2·a + b over GF(32).

    2·a + b is a quasigroup (each row and column a permutation) and totally anti-symmetric:
    (c∘x)∘y = (c∘y)∘x ⇔ 4c + 2x + y = 4c + 2y + x ⇔ 3(x−y) = 0 ⇔ x = y (3 = x+1 ≠ 0).
    So every single-symbol substitution and every swap of two adjacent symbols (check symbol
    included) changes the result.
    """
    interim = 0
    for v in values:
        interim = _times_x(interim) ^ v
    return interim


def check_symbol(body: str) -> str:
    """The check symbol for a code body (already canonical)."""
    # The check c makes the whole word reduce to 0: 2·interim + c = 0, i.e. c = 2·interim.
    return ALPHABET[_times_x(_damm(_VALUE[ch] for ch in body))]


def new_code(randbelow=secrets.randbelow) -> str:
    body = "".join(ALPHABET[randbelow(32)] for _ in range(CODE_BODY))
    return body + check_symbol(body)


def normalize_code(raw: str | None) -> str | None:
    """Canonical form of a typed code (upper case, no spaces or dashes, O→0, I/L→1), or None."""
    if not raw:
        return None
    text = re.sub(r"[\s\-_.]", "", raw).upper()
    if len(text) != CODE_LENGTH or any(ch not in _VALUE for ch in text):
        return None
    return "".join(ALPHABET[_VALUE[ch]] for ch in text)


def code_is_well_formed(canonical: str) -> bool:
    """True when the check symbol agrees (a typo is caught before any database lookup)."""
    return (
        len(canonical) == CODE_LENGTH
        and all(ch in _VALUE for ch in canonical)
        and _damm(_VALUE[ch] for ch in canonical) == 0
    )


def format_code(canonical: str) -> str:
    """For print and display: three groups of three, e.g. K7M-2QX-9PA."""
    return "-".join(canonical[i : i + 3] for i in range(0, len(canonical), 3))


# ---------------------------------------------------------------------------------------------
# Windows (stored as naive UTC; entered and shown in the office's time zone)
# ---------------------------------------------------------------------------------------------


def local_to_utc(local: datetime | None, tz: str) -> datetime | None:
    """A naive wall-clock time in `tz` (what an officer types) → naive UTC for storage."""
    if local is None:
        return None
    return local.replace(tzinfo=ZoneInfo(tz)).astimezone(UTC).replace(tzinfo=None)


def utc_to_local(utc: datetime | None, tz: str) -> datetime | None:
    """Naive UTC from the database → naive wall-clock time in `tz` (to pre-fill a form)."""
    if utc is None:
        return None
    return utc.replace(tzinfo=UTC).astimezone(ZoneInfo(tz)).replace(tzinfo=None)


@dataclass(frozen=True)
class Window:
    opens_at: datetime | None
    closes_at: datetime | None

    def is_set(self) -> bool:
        return self.opens_at is not None and self.closes_at is not None

    def is_open(self, now: datetime) -> bool:
        return self.is_set() and self.opens_at <= now < self.closes_at  # type: ignore[operator]

    def status(self, now: datetime) -> str:
        if not self.is_set():
            return "unset"
        if now < self.opens_at:  # type: ignore[operator]
            return "upcoming"
        return "open" if now < self.closes_at else "closed"  # type: ignore[operator]


@dataclass(frozen=True)
class LevelSetting:
    """A level's window, confirmation deadline and state as the office sets them (naive UTC)."""

    opens_at: datetime | None
    closes_at: datetime | None
    confirm_by: datetime | None
    state: str


@dataclass(frozen=True)
class LevelSchedule:
    level: str
    window: Window
    confirm_by: datetime | None


def schedule_problems(
    levels: list[LevelSchedule], trial: Window | None = None, intake_year: int | None = None
) -> list[tuple[str, str]]:
    """Validate a season's calendar; return (field, problem code) pairs, empty when valid.

    field is "<level>.opens_at|closes_at|confirm_by" or "trial.*"; problem codes:
    incomplete, close_before_open, confirm_before_close, overlap, trial_after_official, wrong_year.
    Windows are staggered: no two levels' registration windows may overlap (each level has
    its own days, so that the portal carries one cohort at a time).
    """
    problems: list[tuple[str, str]] = []
    for ls in levels:
        w = ls.window
        if (w.opens_at is None) != (w.closes_at is None):
            problems.append(
                (f"{ls.level}.closes_at" if w.closes_at is None else f"{ls.level}.opens_at", "incomplete")
            )
            continue
        if not w.is_set():
            if ls.confirm_by is not None:
                problems.append((f"{ls.level}.opens_at", "incomplete"))
            continue
        if w.closes_at <= w.opens_at:
            problems.append((f"{ls.level}.closes_at", "close_before_open"))
        if ls.confirm_by is not None and ls.confirm_by <= w.closes_at:
            problems.append((f"{ls.level}.confirm_by", "confirm_before_close"))
        if intake_year is not None and w.opens_at.year not in (intake_year - 1, intake_year):
            problems.append((f"{ls.level}.opens_at", "wrong_year"))
    valid = [ls for ls in levels if ls.window.is_set() and ls.window.closes_at > ls.window.opens_at]
    valid.sort(key=lambda ls: ls.window.opens_at)
    for earlier, later in zip(valid, valid[1:], strict=False):
        if later.window.opens_at < earlier.window.closes_at:
            problems.append((f"{later.level}.opens_at", "overlap"))
    if trial is not None:
        if (trial.opens_at is None) != (trial.closes_at is None) or not trial.is_set():
            problems.append(("trial.opens_at", "incomplete"))
        elif trial.closes_at <= trial.opens_at:
            problems.append(("trial.closes_at", "close_before_open"))
        elif valid and trial.closes_at > valid[0].window.opens_at:
            problems.append(("trial.closes_at", "trial_after_official"))
    return problems


# ---------------------------------------------------------------------------------------------
# Choices and spare capacity
# ---------------------------------------------------------------------------------------------

MAX_OTHER_CHOICES = 3  # the default per level (AdmissionLevel.max_other_choices)
MAX_CHOICE_LIMIT = 10  # the most a level may allow (the form has this many fields)


def spare_seats(capacity: int, catchment_demand: int) -> int:
    """Seats a school can offer outside its catchment.

    Every eligible child of the catchment is guaranteed a seat, so the school keeps one for each
    of them (counted from the roster, which is known before the window: counting applications
    would show every school as empty on the first morning). What is left is open to others.
    """
    return max(capacity - catchment_demand, 0)


def choice_problems(
    choices: list[int], allowed: set[int], catchment_id: int | None, limit: int = MAX_OTHER_CHOICES
) -> list[str]:
    """Check the ranked non-catchment choices (at most `limit`); return problem codes (empty when valid)."""
    problems = []
    if len(choices) > limit:
        problems.append("too_many")
    if len(set(choices)) != len(choices):
        problems.append("repeated")
    if catchment_id is not None and catchment_id in choices:
        problems.append("catchment_listed")
    if any(c not in allowed for c in choices if c != catchment_id):
        problems.append("not_allowed")
    return problems


def ranked_choices(others: list[int], catchment_id: int | None) -> list[tuple[int, int, bool]]:
    """(rank, school_id, is_catchment) with the catchment school appended as the guaranteed last."""
    rows = [(i + 1, sid, False) for i, sid in enumerate(others)]
    if catchment_id is not None:
        rows.append((len(rows) + 1, catchment_id, True))
    return rows


# ---------------------------------------------------------------------------------------------
# Failed attempts on a code
# ---------------------------------------------------------------------------------------------

MAX_FAILED_ATTEMPTS = 5
LOCK_DURATION = timedelta(minutes=15)


def is_locked(locked_until: datetime | None, now: datetime) -> bool:
    return locked_until is not None and now < locked_until


# ---------------------------------------------------------------------------------------------
# Spreadsheet safety and display helpers
# ---------------------------------------------------------------------------------------------


def mask_personal_id(pid: str | None) -> str:
    if not pid:
        return ""
    return pid[:3] + "•" * max(len(pid) - 6, 0) + pid[-3:]


# ---------------------------------------------------------------------------------------------
# Chart geometry (pure): server-rendered SVG, no script, no inline style
# ---------------------------------------------------------------------------------------------


@dataclass
class HBar:
    label: str
    y: float
    value: int
    capacity: int
    value_width: float
    capacity_width: float
    over: bool


def capacity_bars(
    items: list[tuple[str, int, int]], width: float = 300.0, row: float = 34.0
) -> tuple[list[HBar], float, float]:
    """Horizontal bars for (label, applications, capacity): returns bars, chart height and scale max."""
    top = max([max(v, c) for _l, v, c in items] + [1])
    bars = []
    for i, (label, value, cap) in enumerate(items):
        bars.append(
            HBar(
                label,
                i * row,
                value,
                cap,
                round(width * value / top, 1),
                round(width * cap / top, 1),
                value > cap,
            )
        )
    return bars, len(items) * row, top


@dataclass
class VBar:
    x: float
    width: float
    height: float
    y: float
    hour: datetime
    value: int
    tick: bool  # midnight or noon: the axis gets a label


def hour_bars(
    hours: list[tuple[datetime, int]], height: float = 120.0, width: float = 360.0
) -> tuple[list[VBar], int]:
    """Vertical bars for (local hour, registrations): returns bars and scale max."""
    n = len(hours)
    if not n:
        return [], 0
    top = max([c for _h, c in hours] + [1])
    step = width / n
    bars = []
    for i, (h, c) in enumerate(hours):
        bh = round(height * c / top, 1)
        bars.append(
            VBar(
                round(i * step, 2),
                round(max(step - 0.5, 0.5), 2),
                bh,
                round(height - bh, 1),
                h,
                c,
                h.hour in (0, 12),
            )
        )
    return bars, top
