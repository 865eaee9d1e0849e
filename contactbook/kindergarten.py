"""Kindergarten classes (age 5, grade 0): no grade book; the homeroom teacher records the
developmental evaluation by domain at the end of each term (Đạt / Chưa đạt with a comment) and
the children's height and weight checks; families read both on the child's page, and each
term's report (the printable page and, through report_cards.pdf, its PDF; no grades); the
school's staff read both and print a whole class's reports.

Each save checks every entry first, then writes (nothing is written when one is refused)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal

import sqlalchemy as sa
from flask import render_template
from flask_babel import gettext, lazy_gettext

from app.audit import audit
from app.extensions import db
from app.i18n import local_today
from app.models import User, utcnow

from .classes import class_pupils
from .kindergarten_models import DevelopmentEvaluation, GrowthCheck
from .models import Enrolment, Pupil, SchoolClass, Term
from .rules import HEIGHT_CM, KG_DOMAINS, KG_RESULTS, KINDERGARTEN, WEIGHT_KG, RuleError, parse_measure

COMMENT_MAX = 500
MAX_CLASS = 80  # children in one class PDF

DOMAIN_LABELS = {
    "physical": lazy_gettext("Physical development"),
    "cognitive": lazy_gettext("Cognitive development"),
    "language": lazy_gettext("Language and communication"),
    "social_emotional": lazy_gettext("Social and emotional development"),
    "aesthetic": lazy_gettext("Aesthetic development"),
}
RESULT_LABELS = {"D": lazy_gettext("Achieved (Đạt)"), "CD": lazy_gettext("Not yet achieved (Chưa đạt)")}


def is_kindergarten(cls: SchoolClass | None) -> bool:
    return cls is not None and cls.grade == KINDERGARTEN


class KindergartenError(Exception):
    """Refused entries: `problems` maps a field name to its problem code."""

    def __init__(self, problems: dict[str, str]):
        super().__init__(", ".join(sorted(problems)))
        self.problems = problems


# ----------------------------------------------------------------------------- evaluation


def evaluations(cls: SchoolClass, term: Term) -> dict[tuple[int, str], DevelopmentEvaluation]:
    """(pupil id, domain) → the class's evaluations of the term (one query)."""
    pupil_ids = sa.select(Enrolment.pupil_id).where(Enrolment.class_id == cls.id)
    return {
        (e.pupil_id, e.domain): e
        for e in db.session.scalars(
            sa.select(DevelopmentEvaluation).where(
                DevelopmentEvaluation.term_id == term.id, DevelopmentEvaluation.pupil_id.in_(pupil_ids)
            )
        )
    }


def save_evaluations(cls: SchoolClass, term: Term, form, actor: User) -> int:
    """Save the page's entries (`result-<pupil>-<domain>`: D, CD or blank; `comment-<pupil>-
    <domain>`). A blank result with a comment is refused; a blank result removes the evaluation.
    Returns how many evaluations changed."""
    pupils = class_pupils(cls)
    existing = evaluations(cls, term)
    wanted: dict[tuple[int, str], tuple[str, str] | None] = {}
    problems: dict[str, str] = {}
    for p in pupils:
        for domain in KG_DOMAINS:
            suffix = f"{p.id}-{domain}"
            result = (form.get(f"result-{suffix}") or "").strip()
            comment = " ".join((form.get(f"comment-{suffix}") or "").split())
            if result and result not in KG_RESULTS:
                problems[f"result-{suffix}"] = "result"
            elif len(comment) > COMMENT_MAX:
                problems[f"comment-{suffix}"] = "comment_long"
            elif comment and not result:
                problems[f"result-{suffix}"] = "result_missing"
            else:
                wanted[(p.id, domain)] = (result, comment) if result else None
    if problems:
        raise KindergartenError(problems)
    changed = 0
    for key, value in wanted.items():
        row = existing.get(key)
        if value is None:
            if row is not None:
                db.session.delete(row)
                changed += 1
            continue
        if row is None:
            db.session.add(
                DevelopmentEvaluation(
                    pupil_id=key[0],
                    term_id=term.id,
                    domain=key[1],
                    result=value[0],
                    comment=value[1],
                    updated_by_id=actor.id,
                )
            )
            changed += 1
        elif (row.result, row.comment) != value:
            row.result, row.comment = value
            row.updated_by_id, row.updated_at = actor.id, utcnow()
            changed += 1
    db.session.flush()
    if changed:
        audit("contactbook.kg_evaluation", cls, actor_id=actor.id, term_id=term.id, changed=changed)
    return changed


# ----------------------------------------------------------------------------- height and weight


def growth_on(cls: SchoolClass, day: date) -> dict[int, GrowthCheck]:
    """pupil id → the class's check of that day."""
    return {
        g.pupil_id: g
        for g in db.session.scalars(
            sa.select(GrowthCheck).where(GrowthCheck.class_id == cls.id, GrowthCheck.measured_on == day)
        )
    }


def save_growth(cls: SchoolClass, day: date, form, actor: User) -> int:
    """Save the day's checks (`height-<pupil>`, `weight-<pupil>`): both or neither for a child;
    both blank removes that day's check. Returns how many checks changed."""
    pupils = class_pupils(cls)
    existing = growth_on(cls, day)
    wanted: dict[int, tuple[Decimal, Decimal] | None] = {}
    problems: dict[str, str] = {}
    for p in pupils:
        values = {}
        for name, bounds in (("height", HEIGHT_CM), ("weight", WEIGHT_KG)):
            try:
                values[name] = parse_measure(form.get(f"{name}-{p.id}"), bounds)
            except RuleError as err:
                problems[f"{name}-{p.id}"] = err.code
        if f"height-{p.id}" in problems or f"weight-{p.id}" in problems:
            continue
        if (values["height"] is None) != (values["weight"] is None):
            missing = "height" if values["height"] is None else "weight"
            problems[f"{missing}-{p.id}"] = "both"
            continue
        wanted[p.id] = None if values["height"] is None else (values["height"], values["weight"])
    if problems:
        raise KindergartenError(problems)
    changed = 0
    for pupil_id, value in wanted.items():
        row = existing.get(pupil_id)
        if value is None:
            if row is not None:
                db.session.delete(row)
                changed += 1
        elif row is None:
            db.session.add(
                GrowthCheck(
                    pupil_id=pupil_id,
                    class_id=cls.id,
                    measured_on=day,
                    height_cm=value[0],
                    weight_kg=value[1],
                    recorded_by_id=actor.id,
                )
            )
            changed += 1
        elif (row.height_cm, row.weight_kg) != value:
            row.height_cm, row.weight_kg = value
            row.recorded_by_id = actor.id
            changed += 1
    db.session.flush()
    if changed:
        audit("contactbook.kg_growth", cls, actor_id=actor.id, day=day.isoformat(), changed=changed)
    return changed


# ----------------------------------------------------------------------------- the family's page


@dataclass
class ChildRecords:
    """What a family reads about a kindergarten child: the evaluations by term, the checks."""

    terms: list[tuple[Term, dict[str, DevelopmentEvaluation]]] = field(default_factory=list)
    growth: list[GrowthCheck] = field(default_factory=list)


def child_records(pupil: Pupil, terms: list[Term]) -> ChildRecords:
    """The child's evaluations in `terms` and every height and weight check (two queries)."""
    by_term: dict[int, dict[str, DevelopmentEvaluation]] = defaultdict(dict)
    if terms:
        for e in db.session.scalars(
            sa.select(DevelopmentEvaluation).where(
                DevelopmentEvaluation.pupil_id == pupil.id,
                DevelopmentEvaluation.term_id.in_([t.id for t in terms]),
            )
        ):
            by_term[e.term_id][e.domain] = e
    growth = list(
        db.session.scalars(
            sa.select(GrowthCheck)
            .where(GrowthCheck.pupil_id == pupil.id)
            .order_by(GrowthCheck.measured_on.desc())
        )
    )
    return ChildRecords([(t, by_term[t.id]) for t in terms if by_term.get(t.id)], growth)


# ----------------------------------------------------------------------------- term reports


@dataclass
class TermReport:
    """A child's kindergarten report of a term: the evaluation by domain, the term's checks."""

    pupil: Pupil
    evaluations: dict[str, DevelopmentEvaluation] = field(default_factory=dict)
    growth: list[GrowthCheck] = field(default_factory=list)


def term_reports(cls: SchoolClass, term: Term, pupils: list[Pupil] | None = None) -> list[TermReport]:
    """The term's reports of ``pupils`` (default: the whole class), in three queries whatever the
    class's size: the evaluations of the term and the class's checks measured within it."""
    pupils = class_pupils(cls) if pupils is None else pupils
    out = {p.id: TermReport(p) for p in pupils}
    if not out:
        return []
    for e in db.session.scalars(
        sa.select(DevelopmentEvaluation).where(
            DevelopmentEvaluation.term_id == term.id, DevelopmentEvaluation.pupil_id.in_(list(out))
        )
    ):
        out[e.pupil_id].evaluations[e.domain] = e
    for g in db.session.scalars(
        sa.select(GrowthCheck)
        .where(
            GrowthCheck.class_id == cls.id,
            GrowthCheck.pupil_id.in_(list(out)),
            GrowthCheck.measured_on.between(term.starts_on, term.ends_on),
        )
        .order_by(GrowthCheck.measured_on)
    ):
        out[g.pupil_id].growth.append(g)
    return [out[p.id] for p in pupils]


def reports_page(
    cls: SchoolClass,
    term: Term,
    pupils: list[Pupil] | None = None,
    *,
    for_pdf: bool = False,
    back_url: str | None = None,
    pdf_url: str | None = None,
) -> str:
    """The printable page of the term's reports of ``pupils`` (default: the whole class; in a PDF
    at most MAX_CLASS), one per sheet of A4 with the report cards' stylesheet; ``for_pdf``: without
    the toolbar and the stylesheet link (report_cards.pdf applies it)."""
    reports = term_reports(cls, term, pupils)
    return render_template(
        "contactbook/kg_report_cards.html",
        cls=cls,
        term=term,
        reports=reports[:MAX_CLASS] if for_pdf else reports,
        domains=DOMAIN_LABELS,
        results=RESULT_LABELS,
        for_pdf=for_pdf,
        back_url=back_url,
        pdf_url=pdf_url,
        today=local_today().strftime("%d/%m/%Y"),
    )


def problem_texts() -> dict[str, str]:
    return {
        "result": gettext("Choose Achieved or Not yet achieved."),
        "result_missing": gettext("Choose a result for this comment."),
        "comment_long": gettext("At most 500 characters."),
        "not_a_number": gettext("Enter a number, such as 112.5."),
        "decimals": gettext("At most one decimal."),
        "measure_range": gettext("This value is out of range for a child of this age."),
        "both": gettext("Enter both the height and the weight."),
    }
