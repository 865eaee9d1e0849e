"""Primary classes (grades 1-5) by Circular 27: the qualities and competences the homeroom
teacher assesses at the four points of the year (Tốt / Đạt / Cần cố gắng, with a comment), and the
year's overall result — computed from the grade book's term II (each subject's level, the
end-of-year tests) and the qualities and competences at the end of the year, confirmed by the
homeroom teacher in one audited step (another result than the computed one needs a reason), then
shown to the family. The rules are pure, in circulars.py.

Each save checks every entry first, then writes (nothing is written when one is refused).
Services flush only; the view commits.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from app.audit import audit
from app.extensions import db
from app.i18n import local_today
from app.models import User, utcnow

from . import circulars, years
from .circulars import CRITERIA, POINTS
from .classes import class_pupils, class_subjects
from .models import Assessment, Grade, GradeKind, GradeStatus, Pupil, SchoolClass, Subject
from .notify import notify_guardians
from .primary_models import PrimaryYearResult, QualityEvaluation, QualityLevel

PROBLEMS = {
    "level": _l("Choose Tốt, Đạt or Cần cố gắng."),
    "comment_long": _l("The comment is too long: at most 500 characters."),
    "missing": _l(
        "The year result cannot be computed yet: a subject level, an end-of-year test score or a"
        " quality or competence at the end of the year is missing."
    ),
    "result": _l("Choose Hoàn thành xuất sắc, Hoàn thành tốt, Hoàn thành or Chưa hoàn thành."),
    "reason": _l("Another result than the computed one needs a reason (at least 10 characters)."),
    "reason_long": _l("The reason is too long: at most 500 characters."),
    "empty": _l("This class has no pupils."),
}

NAMES = {  # what the templates name: the circular's own terms, and the problems' texts
    "qc_groups": circulars.CRITERION_GROUPS,
    "qc_halves": circulars.CRITERION_HALVES,
    "qc_criteria": CRITERIA,
    "qc_short": circulars.SHORT_NAMES,
    "qc_points": POINTS,
    "qc_levels": circulars.QC_LEVELS,
    "qc_names": circulars.QC_NAMES,
    "year_names": circulars.PRIMARY_YEAR_NAMES,
    "qc_texts": PROBLEMS,
}


class PrimaryError(Exception):
    """Refused entries: `problems` maps a field name to its problem code."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(", ".join(sorted(problems)))
        self.problems = problems


def applies_to(cls: SchoolClass) -> bool:
    """Circular 27: primary classes."""
    return 1 <= cls.grade <= 5


def current_point(cls: SchoolClass, today: date | None = None) -> str:
    """The point of the year a teacher most likely enters now: the running term's mid-term in its
    first half, its end in the second."""
    today = today or local_today()
    term = years.pick_term(years.school_terms(cls), None, today)
    if term is None:
        return circulars.MID_1
    mid, end = circulars.TERM_POINTS[term.number]
    half = term.starts_on + (term.ends_on - term.starts_on) / 2
    return mid if today <= half else end


# ----------------------------------------------------------------------------- qualities and competences


@dataclass
class PupilQC:
    levels: dict[str, str] = field(default_factory=dict)  # criterion → T / D / C
    comment: str = ""


def evaluations(
    cls: SchoolClass, points, pupil_ids: list[int] | None = None
) -> dict[tuple[int, str], PupilQC]:
    """(pupil id, point) → the saved qualities and competences of the class at those points, in
    two queries."""
    q = sa.select(QualityEvaluation).where(
        QualityEvaluation.class_id == cls.id, QualityEvaluation.point.in_(list(points))
    )
    if pupil_ids is not None:
        q = q.where(QualityEvaluation.pupil_id.in_(pupil_ids))
    rows = {e.id: e for e in db.session.scalars(q)}
    out = {(e.pupil_id, e.point): PupilQC(comment=e.comment) for e in rows.values()}
    if rows:
        for eid, criterion, level in db.session.execute(
            sa.select(QualityLevel.evaluation_id, QualityLevel.criterion, QualityLevel.level).where(
                QualityLevel.evaluation_id.in_(list(rows))
            )
        ):
            e = rows[eid]
            out[(e.pupil_id, e.point)].levels[criterion] = level
    return out


def save_evaluations(cls: SchoolClass, point: str, form, actor: User) -> int:
    """Save the grid (`q-<pupil>-<criterion>`: T, D, C or blank; `comment-<pupil>`). A pupil with
    no level and no comment has no evaluation at that point. Returns how many pupils changed."""
    pupils = class_pupils(cls)
    wanted: dict[int, PupilQC] = {}
    problems: dict[str, str] = {}
    for p in pupils:
        levels = {c: (form.get(f"q-{p.id}-{c}") or "").strip().upper() for c in CRITERIA}
        comment = " ".join((form.get(f"comment-{p.id}") or "").split())
        for name, code in circulars.qc_problems(levels, comment).items():
            problems[f"comment-{p.id}" if name == "comment" else f"q-{p.id}-{name}"] = code
        wanted[p.id] = PupilQC({c: v for c, v in levels.items() if v}, comment)
    if problems:
        raise PrimaryError(problems)
    existing = {
        e.pupil_id: e
        for e in db.session.scalars(
            sa.select(QualityEvaluation)
            .options(selectinload(QualityEvaluation.levels))
            .where(QualityEvaluation.class_id == cls.id, QualityEvaluation.point == point)
        )
    }
    changed = 0
    for pid, new in wanted.items():
        row = existing.get(pid)
        old = PupilQC({lv.criterion: lv.level for lv in row.levels}, row.comment) if row else PupilQC()
        if old == new:
            continue
        changed += 1
        if not new.levels and not new.comment:
            db.session.delete(row)
            continue
        if row is None:
            row = QualityEvaluation(pupil_id=pid, class_id=cls.id, point=point)
            db.session.add(row)
        by_criterion = {lv.criterion: lv for lv in row.levels}
        for criterion, lv in by_criterion.items():
            if criterion not in new.levels:
                row.levels.remove(lv)
        for criterion, level in new.levels.items():
            if criterion in by_criterion:
                by_criterion[criterion].level = level
            else:
                row.levels.append(QualityLevel(criterion=criterion, level=level))
        row.comment, row.updated_by_id, row.updated_at = new.comment, actor.id, utcnow()
    db.session.flush()
    if changed:
        audit("contactbook.primary_evaluation", cls, actor_id=actor.id, point=point, changed=changed)
    return changed


# ----------------------------------------------------------------------------- the year's result


@dataclass
class PupilYear:
    pupil: Pupil
    levels: dict[int, str | None] = field(default_factory=dict)  # subject id → HTT / HT / CHT
    tests: dict[int, int | None] = field(default_factory=dict)  # tested subject id → score
    qualities: dict[str, str] = field(default_factory=dict)  # criterion → T / D / C (end of year)
    proposed: str | None = None  # computed now
    stored: PrimaryYearResult | None = None  # as confirmed (what the family sees)

    @property
    def changed_since(self) -> bool:
        """Confirmed, and the records now give another result than the one computed then."""
        return self.stored is not None and self.proposed != self.stored.proposed

    @property
    def default_result(self) -> str:
        """What the page offers: the confirmed result while the records give the same computed
        one (an override is kept), else the computed one."""
        if self.stored is not None and not self.changed_since:
            return self.stored.result
        return self.proposed or ""

    @property
    def missing_qualities(self) -> int:
        return len(CRITERIA) - len(self.qualities)


@dataclass
class YearResults:
    cls: SchoolClass
    subjects: list[Subject]
    rows: list[PupilYear]
    confirmed_at: datetime | None = None


def year_results(cls: SchoolClass) -> YearResults:
    """Every pupil's term II subject levels and tests (published), qualities and competences at
    the end of the year, the computed result beside the confirmed one: a fixed number of queries."""
    subjects = [s for s in class_subjects(cls) if s.assessment == Assessment.PRIMARY]
    pupils = class_pupils(cls)
    rows = {p.id: PupilYear(p) for p in pupils}
    term2 = next((t for t in years.school_terms(cls) if t.number == 2), None)
    cells: dict[tuple[int, int, str], Grade] = {}
    if subjects and rows and term2 is not None:
        for g in db.session.scalars(
            sa.select(Grade).where(
                Grade.subject_id.in_([s.id for s in subjects]),
                Grade.term_id == term2.id,
                Grade.pupil_id.in_(list(rows)),
                Grade.status == GradeStatus.PUBLISHED,
                Grade.kind.in_([GradeKind.LEVEL, GradeKind.ENDTERM]),
                Grade.seq == 1,
            )
        ):
            cells[(g.pupil_id, g.subject_id, g.kind)] = g
    qc = evaluations(cls, [circulars.END_YEAR]) if rows else {}
    for r in db.session.scalars(sa.select(PrimaryYearResult).where(PrimaryYearResult.class_id == cls.id)):
        if r.pupil_id in rows:
            rows[r.pupil_id].stored = r
    for pid, row in rows.items():
        for s in subjects:
            level = cells.get((pid, s.id, GradeKind.LEVEL))
            row.levels[s.id] = level.mark if level else None
            if s.has_test:
                test = cells.get((pid, s.id, GradeKind.ENDTERM))
                row.tests[s.id] = int(test.score) if test and test.score is not None else None
        row.qualities = qc.get((pid, circulars.END_YEAR), PupilQC()).levels
        row.proposed = circulars.primary_year_result(
            list(row.levels.values()),
            [row.qualities.get(c) for c in CRITERIA],
            list(row.tests.values()),
        )
    confirmed = [r.stored.confirmed_at for r in rows.values() if r.stored is not None]
    return YearResults(cls, subjects, list(rows.values()), max(confirmed, default=None))


def confirm_year(results: YearResults, form, actor: User) -> int:
    """The homeroom teacher confirms the year's results (`result-<pupil>`: HTXS / HTT / HT / CHT;
    `reason-<pupil>`: why, when it is not the computed one). Every pupil needs a computed result.
    Stores them, audits the step with what changed, and tells the families whose child's result
    is new or changed. Returns how many changed."""
    if not results.rows:
        raise PrimaryError({"class": "empty"})
    chosen: dict[int, tuple[str, str]] = {}
    problems: dict[str, str] = {}
    for row in results.rows:
        pid = row.pupil.id
        result = (form.get(f"result-{pid}") or row.default_result).strip()
        reason = " ".join((form.get(f"reason-{pid}") or "").split())
        code = circulars.override_problem(row.proposed, result, reason)
        if code:
            problems[f"reason-{pid}" if code.startswith("reason") else f"result-{pid}"] = code
        chosen[pid] = (result, reason if result != row.proposed else "")
    if problems:
        raise PrimaryError(problems)
    at = utcnow()
    changed: dict[str, dict] = {}
    for row in results.rows:
        result, reason = chosen[row.pupil.id]
        new = {"proposed": row.proposed, "result": result, "overridden": result != row.proposed}
        stored = row.stored
        if stored is None:
            stored = row.stored = PrimaryYearResult(pupil_id=row.pupil.id, class_id=results.cls.id)
            db.session.add(stored)
            before = None
        elif (stored.proposed, stored.result, stored.reason) == (row.proposed, result, reason):
            continue
        else:
            before = {"proposed": stored.proposed, "result": stored.result}
        changed[str(row.pupil.id)] = {"before": before, "after": new}
        stored.proposed, stored.result, stored.reason = row.proposed, result, reason
        stored.confirmed_at, stored.confirmed_by_id = at, actor.id
    db.session.flush()
    audit(
        "contactbook.primary_results.confirm",
        results.cls,
        actor_id=actor.id,
        pupils=len(results.rows),
        changed=len(changed),
        overridden=sum(1 for r in results.rows if chosen[r.pupil.id][0] != r.proposed),
        changes=dict(sorted(changed.items())),
    )
    if changed:
        notify_guardians(
            "results_confirmed",
            [int(pid) for pid in changed],
            {"period": "year"},
            sender_id=actor.id,
            school_id=results.cls.school_id,
        )
    return len(changed)


# ----------------------------------------------------------------------------- what families see


@dataclass
class ChildPrimary:
    evaluations: dict[str, PupilQC]  # point → saved evaluation
    year: PrimaryYearResult | None


def child_primary(pupil_id: int, cls: SchoolClass) -> ChildPrimary | None:
    """A family's view of its child in a primary class: the qualities and competences saved at
    each point, and the year's result once confirmed (None outside primary)."""
    if not applies_to(cls):
        return None
    saved = evaluations(cls, POINTS, [pupil_id])
    year = db.session.scalar(
        sa.select(PrimaryYearResult).where(
            PrimaryYearResult.pupil_id == pupil_id, PrimaryYearResult.class_id == cls.id
        )
    )
    return ChildPrimary({point: qc for (_, point), qc in saved.items()}, year)


def confirmed_years(cls: SchoolClass, pupil_ids: list[int]) -> dict[int, PrimaryYearResult]:
    """pupil id → the confirmed year result (report cards)."""
    return {
        r.pupil_id: r
        for r in db.session.scalars(
            sa.select(PrimaryYearResult).where(
                PrimaryYearResult.class_id == cls.id, PrimaryYearResult.pupil_id.in_(pupil_ids)
            )
        )
    }
