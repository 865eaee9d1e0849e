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

Primary — Circular 27, Articles 6-8: at mid-term I, end of term I, mid-term II and the end of the
year the homeroom teacher assesses five qualities (phẩm chất), three general competences (năng
lực chung) and seven specific competences (năng lực đặc thù), each Tốt / Đạt / Cần cố gắng; the
year's result takes the subjects' levels and the end-of-year tests of the grade book (term II) and
the qualities and competences at the end of the year. The teacher may confirm another result than
the one computed, with a reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from itertools import zip_longest

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

QC_NAMES = {"T": "Tốt", "D": "Đạt", "C": "Cần cố gắng"}
QUALITIES = {
    "yeu_nuoc": "Yêu nước",
    "nhan_ai": "Nhân ái",
    "cham_chi": "Chăm chỉ",
    "trung_thuc": "Trung thực",
    "trach_nhiem": "Trách nhiệm",
}
GENERAL_COMPETENCES = {
    "tu_chu": "Tự chủ và tự học",
    "giao_tiep": "Giao tiếp và hợp tác",
    "giai_quyet": "Giải quyết vấn đề và sáng tạo",
}
SPECIFIC_COMPETENCES = {
    "ngon_ngu": "Ngôn ngữ",
    "tinh_toan": "Tính toán",
    "khoa_hoc": "Khoa học",
    "cong_nghe": "Công nghệ",
    "tin_hoc": "Tin học",
    "tham_mi": "Thẩm mĩ",
    "the_chat": "Thể chất",
}
CRITERIA = {**QUALITIES, **GENERAL_COMPETENCES, **SPECIFIC_COMPETENCES}  # 15, in the circular's order
CRITERION_GROUPS = (
    ("Phẩm chất chủ yếu", QUALITIES),
    ("Năng lực chung", GENERAL_COMPETENCES),
    ("Năng lực đặc thù", SPECIFIC_COMPETENCES),
)
# The short forms teachers write for the long names, where a grid's column is narrow.
SHORT_NAMES = {"tu_chu": "TC-TH", "giao_tiep": "GT-HT", "giai_quyet": "GQVĐ-ST"}


def _lines(groups) -> list[tuple[str, str, str]]:
    return [
        line
        for title, g in groups
        for line in [("group", "", title), *(("item", k, n) for k, n in g.items())]
    ]


# The report card's two halves side by side: qualities and general competences | specific ones.
CRITERION_HALVES = list(zip_longest(_lines(CRITERION_GROUPS[:2]), _lines(CRITERION_GROUPS[2:])))
MID_1, END_1, MID_2, END_YEAR = "gk1", "ck1", "gk2", "cn"
POINTS = {
    MID_1: "Giữa học kỳ I",
    END_1: "Cuối học kỳ I",
    MID_2: "Giữa học kỳ II",
    END_YEAR: "Cuối năm học",
}
TERM_POINTS = {1: (MID_1, END_1), 2: (MID_2, END_YEAR)}  # the points a term's report card shows
COMMENT_MAX = 500
REASON_MIN, REASON_MAX = 10, 500

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


def qc_problems(levels: dict[str, str], comment: str) -> dict[str, str]:
    """A pupil's entries at one point: criterion → T / D / C or "" (not assessed yet), and the
    teacher's comment. Returns field → problem code ("level", "comment_long"); {} when valid."""
    problems = {c: "level" for c, v in levels.items() if c not in CRITERIA or v not in ("", *QC_LEVELS)}
    if len(comment) > COMMENT_MAX:
        problems["comment"] = "comment_long"
    return problems


def override_problem(proposed: str | None, chosen: str, reason: str) -> str | None:
    """The homeroom teacher's year result beside the computed one: None when it may be confirmed,
    else a problem code: "missing" (nothing computed: a level, a test or a quality is missing),
    "result" (not one of the four), "reason" (another result than the computed one needs a reason
    of at least REASON_MIN characters), "reason_long"."""
    if proposed is None:
        return "missing"
    if chosen not in PRIMARY_YEAR_NAMES:
        return "result"
    if len(reason) > REASON_MAX:
        return "reason_long"
    if chosen != proposed and len(reason) < REASON_MIN:
        return "reason"
    return None
