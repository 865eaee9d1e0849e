"""Grade rules of Vietnam's general education, as pure functions (no Flask, no database).

Lower and upper secondary — Circular 22/2021/TT-BGDĐT:
- scored subjects: regular assessments ĐĐGtx (several), a mid-term ĐĐGgk (weight 2) and an
  end-of-term ĐĐGck (weight 3), each 0–10 with at most one decimal;
  term average ĐTBmhk = (ΣĐĐGtx + 2·ĐĐGgk + 3·ĐĐGck) / (number of ĐĐGtx + 5), one decimal;
  year average ĐTBmcn = (ĐTBmhkI + 2·ĐTBmhkII) / 3, one decimal.
- comment-assessed subjects: each assessment Đạt / Chưa đạt; the term is Đạt when every required
  assessment was made and all are Đạt; the year takes term II's result.
Primary — Circular 27/2020/TT-BGDĐT: each subject gets a level at the end of a term (Hoàn thành
tốt / Hoàn thành / Chưa hoàn thành); subjects with a periodic test also get its score, on a
10-point scale without decimals.

Rounding is half-up to one decimal on exact decimals (never binary floats): 6.25 → 6.3.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

# Message attachments: how many, and how large each (checked in the page and on the server).
MAX_ATTACHMENTS = 3
MAX_ATTACHMENT_BYTES = 5 * 1024 * 1024

ONE_PLACE = Decimal("0.1")
TEN = Decimal(10)
ZERO = Decimal(0)

PASS, FAIL = "D", "CD"  # Đạt / Chưa đạt
PRIMARY_LEVELS = ("HTT", "HT", "CHT")  # Hoàn thành tốt / Hoàn thành / Chưa hoàn thành
COMMENT_MARKS = (PASS, FAIL)

# Spreadsheet and keyboard spellings of the marks (compared without accents, case-insensitive).
MARK_ALIASES = {
    "d": PASS,
    "dat": PASS,
    "pass": PASS,
    "p": PASS,
    "cd": FAIL,
    "chuadat": FAIL,
    "fail": FAIL,
    "f": FAIL,
    "htt": "HTT",
    "hoanthanhtot": "HTT",
    "t": "HTT",
    "ht": "HT",
    "hoanthanh": "HT",
    "h": "HT",
    "cht": "CHT",
    "chuahoanthanh": "CHT",
    "c": "CHT",
}


def round1(value: Decimal) -> Decimal:
    """Round half-up to one decimal place."""
    return value.quantize(ONE_PLACE, rounding=ROUND_HALF_UP)


class RuleError(ValueError):
    """An entry the rules refuse; `code` names the problem for the caller to translate."""

    def __init__(self, code: str):
        super().__init__(code)
        self.code = code


def _typed_number(raw: object) -> Decimal | None:
    """A typed number, with a decimal point or the Vietnamese decimal comma. Blank → None.
    Raises RuleError("not_a_number")."""
    text = str(raw).strip().replace(",", ".")
    if text == "":
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise RuleError("not_a_number") from None
    if not value.is_finite():
        raise RuleError("not_a_number")
    return value


def parse_score(raw: str | int | float | Decimal | None, *, whole: bool = False) -> Decimal | None:
    """Parse a typed score: '7', '7.5', '7,5' (Vietnamese decimal comma). Blank → None.

    `whole`: only whole numbers (primary periodic tests). Raises
    RuleError("not_a_number" | "range" | "decimals" | "whole").
    """
    if raw is None:
        return None
    value = _typed_number(repr(raw) if isinstance(raw, float) else raw)
    if value is None:
        return None
    if value < ZERO or value > TEN:
        raise RuleError("range")
    if whole:
        if value != value.to_integral_value():
            raise RuleError("whole")
        return value.quantize(Decimal(1))
    if value != round1(value):
        raise RuleError("decimals")
    return round1(value)


def fold(text: str) -> str:
    """Lower-case, without Vietnamese accents and spaces: 'Chưa đạt' → 'chuadat'."""
    text = text.lower().replace("đ", "d")
    text = "".join(c for c in unicodedata.normalize("NFD", text) if unicodedata.category(c) != "Mn")
    return re.sub(r"[\s_\-]+", "", text)


def parse_mark(raw: str | None, allowed: Sequence[str]) -> str | None:
    """Parse a typed mark (Đ, CĐ, Đạt, Chưa đạt, HTT, Hoàn thành tốt, …). Blank → None."""
    if raw is None:
        return None
    text = str(raw).strip()
    if not text:
        return None
    mark = MARK_ALIASES.get(fold(text))
    if mark is None or mark not in allowed:
        raise RuleError("mark")
    return mark


def term_average(
    regular: Iterable[Decimal], midterm: Decimal | None, endterm: Decimal | None
) -> Decimal | None:
    """ĐTBmhk = (ΣĐĐGtx + 2·ĐĐGgk + 3·ĐĐGck) / (n + 5), one decimal; None until the mid-term,
    the end-of-term and at least one regular score exist."""
    scores = [Decimal(s) for s in regular if s is not None]
    if midterm is None or endterm is None or not scores:
        return None
    total = sum(scores, ZERO) + 2 * Decimal(midterm) + 3 * Decimal(endterm)
    return round1(total / (len(scores) + 5))


def year_average(term1: Decimal | None, term2: Decimal | None) -> Decimal | None:
    """ĐTBmcn = (ĐTBmhkI + 2·ĐTBmhkII) / 3, one decimal; None unless both terms have averages."""
    if term1 is None or term2 is None:
        return None
    return round1((Decimal(term1) + 2 * Decimal(term2)) / 3)


def comment_term_result(marks: Iterable[str | None], required: int) -> str | None:
    """Comment-assessed subject, one term: Đạt when at least `required` assessments were made and
    all of them are Đạt, Chưa đạt when one is Chưa đạt; None while assessments are missing."""
    given = [m for m in marks if m is not None]
    if any(m == FAIL for m in given):
        return FAIL
    if len(given) < required:
        return None
    return PASS


def comment_year_result(term1: str | None, term2: str | None) -> str | None:
    """The year's result of a comment-assessed subject is term II's result."""
    return term2


def promoted_class_name(name: str, grade: int) -> str:
    """Next year's name of a class of `grade`: the grade in the name moves up one (6A → 7A,
    10A2 → 11A2, "Lớp 3B" → "Lớp 4B"); a name without its grade gets the new grade in front."""
    new, count = re.subn(rf"(?<!\d){grade}(?!\d)", str(grade + 1), name, count=1)
    return new if count else f"{grade + 1}{name}"


# ----------------------------------------------------------------------------- incoming pupils

KINDERGARTEN = 0  # the grade of a kindergarten class (age 5, mẫu giáo 5 tuổi)
MAX_SPLIT = 30  # at most this many classes in one split


def intake_class_names(grade: int, count: int) -> list[str]:
    """The default names of `count` new classes of `grade`: 1A, 1B, … (kindergarten: MG5A, …)."""
    prefix = "MG5" if grade == KINDERGARTEN else str(grade)
    letters = [chr(ord("A") + i) for i in range(min(count, 26))]
    letters += [f"A{i - 25}" for i in range(26, count)]
    return [f"{prefix}{letter}" for letter in letters]


def balanced_split(pupils: Sequence[tuple[str, str, object]], count: int) -> dict[str, int]:
    """Deal pupils (key, gender, date of birth) into `count` classes: key → class index.

    Girls then boys, each by date of birth, dealt in turn: class sizes differ by at most one, so
    do the girls and the boys of any two classes, and each class gets pupils born across the
    whole year. The order of the input does not matter (ties by key). Raises RuleError
    ("split_count") unless 1 ≤ count ≤ MAX_SPLIT."""
    if not 1 <= count <= MAX_SPLIT:
        raise RuleError("split_count")
    ordered = sorted(pupils, key=lambda p: (p[1] != "female", p[2], p[0]))
    return {key: i % count for i, (key, _, _) in enumerate(ordered)}


# ----------------------------------------------------------------------------- kindergarten

# The domains of a kindergarten child's developmental evaluation (Chương trình Giáo dục mầm non).
KG_DOMAINS = ("physical", "cognitive", "language", "social_emotional", "aesthetic")
KG_RESULTS = (PASS, FAIL)  # Đạt / Chưa đạt
HEIGHT_CM = (Decimal(60), Decimal(150))  # plausible bounds for a 4-6-year-old, with margin
WEIGHT_KG = (Decimal(8), Decimal(60))


def parse_measure(raw: str | None, bounds: tuple[Decimal, Decimal]) -> Decimal | None:
    """A typed height or weight ('112', '112,5'): one decimal, within `bounds`. Blank → None.
    Raises RuleError("not_a_number" | "decimals" | "measure_range")."""
    value = _typed_number(raw or "")
    if value is None:
        return None
    if value != round1(value):
        raise RuleError("decimals")
    if not bounds[0] <= value <= bounds[1]:
        raise RuleError("measure_range")
    return round1(value)
