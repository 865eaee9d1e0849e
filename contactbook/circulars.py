"""A pupil's overall results of a term or a year by the circulars, as pure functions.

Lower secondary — Circular 22/2021/TT-BGDĐT, Article 9 (learning, "kết quả học tập"), from the
subject results of the period (term averages ĐTBmhk, or year averages ĐTBmcn; Đạt / Chưa đạt for
comment-assessed subjects):
- Tốt: every comment-assessed subject Đạt; every scored subject ≥ 6.5, at least six ≥ 8.0;
- Khá: every comment-assessed subject Đạt; every scored subject ≥ 5.0, at least six ≥ 6.5;
- Đạt: at most one comment-assessed subject Chưa đạt; at least six scored subjects ≥ 5.0 and
  none below 3.5;
- Chưa đạt: the others.
Conduct ("kết quả rèn luyện") takes the same four levels; the homeroom teacher sets it.

Primary — Circular 27/2020/TT-BGDĐT, Article 9 (the year's overall result):
- Hoàn thành xuất sắc: Hoàn thành tốt, and every end-of-year test score ≥ 9;
- Hoàn thành tốt: every subject Hoàn thành tốt, every quality and competence Tốt, every
  end-of-year test score ≥ 7;
- Hoàn thành: every subject Hoàn thành or better, every quality and competence Đạt or better,
  every end-of-year test score ≥ 5;
- Chưa hoàn thành: the others.
A result is None while something it needs is missing: a result is never guessed.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

GOOD, FAIR, PASSED, NOT_PASSED = "T", "K", "D", "CD"  # Tốt / Khá / Đạt / Chưa đạt
RESULT_LEVELS = (GOOD, FAIR, PASSED, NOT_PASSED)
RESULT_NAMES = {GOOD: "Tốt", FAIR: "Khá", PASSED: "Đạt", NOT_PASSED: "Chưa đạt"}

# Circular 27: qualities and competences are Tốt / Đạt / Cần cố gắng; the year's result.
QC_LEVELS = ("T", "D", "C")
EXCELLENT, WELL_DONE, DONE, NOT_DONE = "HTXS", "HTT", "HT", "CHT"
PRIMARY_YEAR_NAMES = {
    EXCELLENT: "Hoàn thành xuất sắc",
    WELL_DONE: "Hoàn thành tốt",
    DONE: "Hoàn thành",
    NOT_DONE: "Chưa hoàn thành",
}

SIX = 6
FIVE, SIX_FIVE, EIGHT, THREE_FIVE = Decimal("5.0"), Decimal("6.5"), Decimal("8.0"), Decimal("3.5")


def learning_result(scored: Sequence[Decimal | None], comments: Sequence[str | None]) -> str | None:
    """Circular 22's learning result of a term or a year. ``scored``: the averages of the scored
    subjects; ``comments``: "D" / "CD" of the comment-assessed subjects. None while one is missing
    or when there is no subject at all."""
    if not scored and not comments:
        return None
    if any(v is None for v in scored) or any(m is None for m in comments):
        return None
    averages = [Decimal(v) for v in scored]
    failed = sum(1 for m in comments if m != PASSED)
    if failed == 0 and all(a >= SIX_FIVE for a in averages) and _at_least(averages, EIGHT):
        return GOOD
    if failed == 0 and all(a >= FIVE for a in averages) and _at_least(averages, SIX_FIVE):
        return FAIR
    if failed <= 1 and _at_least(averages, FIVE) and all(a >= THREE_FIVE for a in averages):
        return PASSED
    return NOT_PASSED


def _at_least(averages: list[Decimal], floor: Decimal) -> bool:
    """At least six subjects reach ``floor`` (all of them, when fewer than six are scored)."""
    return sum(1 for a in averages if a >= floor) >= min(SIX, len(averages))


def primary_year_result(
    levels: Sequence[str | None], qualities: Sequence[str | None], tests: Sequence[int | Decimal | None]
) -> str | None:
    """Circular 27's year result. ``levels``: each subject's year level (HTT / HT / CHT);
    ``qualities``: each quality and competence (T / D / C); ``tests``: each end-of-year test
    score. None while one is missing."""
    if not levels or any(v is None for v in (*levels, *qualities, *tests)):
        return None
    scores = [Decimal(s) for s in tests]
    if all(v == "HTT" for v in levels) and all(q == "T" for q in qualities) and all(s >= 7 for s in scores):
        return EXCELLENT if all(s >= 9 for s in scores) else WELL_DONE
    done = all(v in ("HTT", "HT") for v in levels) and all(q in ("T", "D") for q in qualities)
    if done and all(s >= 5 for s in scores):
        return DONE
    return NOT_DONE
