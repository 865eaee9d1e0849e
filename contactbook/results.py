"""A class's overall results of a term or of the year (Circular 22, lower and upper secondary):
each pupil's learning result computed from the published grade book, the conduct the homeroom
teacher sets, and one confirmed, audited step after which the families see them.

Services flush only; the view commits.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa

from app.audit import audit
from app.extensions import db
from app.models import User, utcnow

from . import circulars, grades, rules, years
from .classes import class_pupils
from .models import Assessment, Grade, GradeStatus, Pupil, SchoolClass, Subject
from .notify import notify_guardians
from .results_models import TermResult

PERIODS = ("1", "2", "year")
FIRST_SECONDARY_GRADE = 6


class ResultsError(ValueError):
    def __init__(self, code: str, pupils: list[str] | None = None):
        super().__init__(code)
        self.code = code
        self.pupils = pupils or []


@dataclass
class PupilResults:
    pupil: Pupil
    subjects: dict[int, object] = field(default_factory=dict)  # subject id → average or Đ/CĐ
    learning: str | None = None  # computed now from the published grade book
    stored: TermResult | None = None  # as confirmed (what the family sees)

    @property
    def changed_since(self) -> bool:
        """Confirmed, and the grade book now gives another learning result."""
        return self.stored is not None and self.learning != self.stored.learning


@dataclass
class ClassResults:
    cls: SchoolClass
    period: str
    subjects: list[Subject]
    rows: list[PupilResults]
    confirmed_at: datetime | None = None

    @property
    def missing(self) -> list[PupilResults]:
        return [r for r in self.rows if r.learning is None]


def applies_to(cls: SchoolClass) -> bool:
    """Circular 22 results: lower and upper secondary classes."""
    return cls.grade >= FIRST_SECONDARY_GRADE


def _subjects(cls: SchoolClass) -> list[Subject]:
    return list(
        db.session.scalars(
            sa.select(Subject)
            .where(
                Subject.school_id == cls.school_id,
                Subject.grade == cls.grade,
                Subject.assessment.in_([Assessment.SCORED, Assessment.COMMENT]),
            )
            .order_by(Subject.position, Subject.name)
        )
    )


def _subject_result(subject: Subject, period: str, by_term: dict[int, dict]):
    """A subject's result of the period from its published cells per term number."""
    if period in ("1", "2"):
        return grades.term_result(subject, by_term.get(int(period), {}))
    first = grades.term_result(subject, by_term.get(1, {}))
    second = grades.term_result(subject, by_term.get(2, {}))
    if subject.assessment == Assessment.SCORED:
        return rules.year_average(first, second)
    return rules.comment_year_result(first, second)


def class_results(cls: SchoolClass, period: str) -> ClassResults:
    """Every pupil's subject results and learning result of the period, from the published grade
    book, beside what was confirmed: four queries whatever the size of the class."""
    if period not in PERIODS:
        raise ResultsError("period")
    subjects = _subjects(cls)
    terms = {t.id: t for t in years.school_terms(cls)}
    pupils = class_pupils(cls)
    rows = {p.id: PupilResults(p) for p in pupils}
    cells: dict[tuple[int, int], dict[int, dict]] = defaultdict(lambda: defaultdict(dict))
    if subjects and terms and rows:
        for g in db.session.execute(
            sa.select(
                Grade.pupil_id,
                Grade.subject_id,
                Grade.term_id,
                Grade.kind,
                Grade.seq,
                Grade.score,
                Grade.mark,
            ).where(
                Grade.subject_id.in_([s.id for s in subjects]),
                Grade.term_id.in_(list(terms)),
                Grade.pupil_id.in_(list(rows)),
                Grade.status == GradeStatus.PUBLISHED,
            )
        ):
            cells[(g.pupil_id, g.subject_id)][terms[g.term_id].number][(g.kind, g.seq)] = g
    for t in db.session.scalars(
        sa.select(TermResult).where(TermResult.class_id == cls.id, TermResult.period == period)
    ):
        if t.pupil_id in rows:
            rows[t.pupil_id].stored = t
    confirmed = [r.stored.confirmed_at for r in rows.values() if r.stored is not None]
    for row in rows.values():
        scored, comments = [], []
        for s in subjects:
            value = _subject_result(s, period, cells.get((row.pupil.id, s.id), {}))
            row.subjects[s.id] = value
            (scored if s.assessment == Assessment.SCORED else comments).append(value)
        row.learning = circulars.learning_result(scored, comments)
    return ClassResults(cls, period, subjects, list(rows.values()), max(confirmed, default=None))


def confirm(results: ClassResults, conduct: dict[int, str], actor: User) -> int:
    """The homeroom teacher confirms the period's results: every pupil needs a learning result
    (no grade missing) and a conduct level. Stores them, audits the step with what changed, and
    tells the families whose child's result is new or changed. Returns how many changed."""
    if not applies_to(results.cls):
        raise ResultsError("primary")
    if not results.rows:
        raise ResultsError("empty")
    if results.missing:
        raise ResultsError("missing", [r.pupil.full_name for r in results.missing])
    bad = [r.pupil.full_name for r in results.rows if conduct.get(r.pupil.id) not in circulars.RESULT_LEVELS]
    if bad:
        raise ResultsError("conduct", bad)
    at = utcnow()
    changed: dict[int, dict] = {}
    for row in results.rows:
        new = {"learning": row.learning, "conduct": conduct[row.pupil.id]}
        stored = row.stored
        if stored is None:
            row.stored = TermResult(
                pupil_id=row.pupil.id, class_id=results.cls.id, period=results.period, **new
            )
            db.session.add(row.stored)
            changed[row.pupil.id] = {"before": None, "after": new}
        elif (stored.learning, stored.conduct) != (new["learning"], new["conduct"]):
            changed[row.pupil.id] = {
                "before": {"learning": stored.learning, "conduct": stored.conduct},
                "after": new,
            }
            stored.learning, stored.conduct = new["learning"], new["conduct"]
        else:
            continue
        row.stored.confirmed_at, row.stored.confirmed_by_id = at, actor.id
    db.session.flush()
    audit(
        "contactbook.results.confirm",
        results.cls,
        actor_id=actor.id,
        period=results.period,
        pupils=len(results.rows),
        changed=len(changed),
        changes={str(k): v for k, v in sorted(changed.items())},
    )
    if changed:
        notify_guardians(
            "results_confirmed",
            list(changed),
            {"period": results.period},
            sender_id=actor.id,
            school_id=results.cls.school_id,
        )
    return len(changed)


def confirmed_of(pupil_id: int, cls: SchoolClass) -> list[TermResult]:
    """What a family sees: the confirmed results of its child in the class, term I first."""
    order = {p: i for i, p in enumerate(PERIODS)}
    return sorted(
        db.session.scalars(
            sa.select(TermResult).where(TermResult.pupil_id == pupil_id, TermResult.class_id == cls.id)
        ),
        key=lambda t: order[t.period],
    )
