"""Report cards (phiếu liên lạc) of a term: one per pupil, from the published grade book, the
teachers' term comments, the term's attendance and the confirmed overall results; the same HTML
template is the printable page and, through WeasyPrint, the PDF. A class's cards load in a fixed
number of queries whatever its size.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

import sqlalchemy as sa
from flask import current_app, render_template

from app.extensions import db
from app.i18n import local_today

from . import circulars, grades, primary, rules, years
from .classes import class_pupils, class_subjects
from .models import (
    Assessment,
    Attendance,
    AttendanceStatus,
    Comment,
    CommentKind,
    Grade,
    GradeStatus,
    Pupil,
    SchoolClass,
    Subject,
    Term,
)
from .results_models import TermResult

MAX_CLASS = 80  # pupils in one class PDF


@dataclass
class CardLine:
    subject: Subject
    result: str
    first_term: str = ""
    year: str = ""
    comment: str = ""


@dataclass
class ReportCard:
    pupil: Pupil
    lines: list[CardLine] = field(default_factory=list)
    homeroom_comment: str = ""
    absent_excused: int = 0
    absent_unexcused: int = 0
    late: int = 0
    learning: str = ""
    conduct: str = ""
    year_learning: str = ""
    year_conduct: str = ""
    qc: dict = field(default_factory=dict)  # primary: point → primary.PupilQC (the term's two points)
    primary_year: str = ""  # primary: the confirmed year result (term II)


def cards(cls: SchoolClass, term: Term, pupils: list[Pupil] | None = None) -> list[ReportCard]:
    """The term's report cards of ``pupils`` (default: the whole class), in six queries (primary:
    up to three more, the qualities and competences and the year result)."""
    pupils = class_pupils(cls) if pupils is None else pupils
    ids = [p.id for p in pupils]
    out = {p.id: ReportCard(p) for p in pupils}
    if not ids:
        return []
    subjects = class_subjects(cls)
    terms = {t.id: t for t in years.school_terms(cls)}
    cells: dict[tuple[int, int], dict[int, dict]] = defaultdict(lambda: defaultdict(dict))
    for g in db.session.execute(
        sa.select(
            Grade.pupil_id, Grade.subject_id, Grade.term_id, Grade.kind, Grade.seq, Grade.score, Grade.mark
        ).where(
            Grade.pupil_id.in_(ids),
            Grade.subject_id.in_([s.id for s in subjects]),
            Grade.term_id.in_([t.id for t in terms.values() if t.number <= term.number]),
            Grade.status == GradeStatus.PUBLISHED,
        )
    ):
        cells[(g.pupil_id, g.subject_id)][terms[g.term_id].number][(g.kind, g.seq)] = g
    comments: dict[tuple[int, int | None], str] = {}
    for pupil_id, subject_id, body in db.session.execute(
        sa.select(Comment.pupil_id, Comment.subject_id, Comment.body)
        .where(Comment.pupil_id.in_(ids), Comment.kind == CommentKind.TERM, Comment.term_id == term.id)
        .order_by(Comment.updated_at)
    ):
        comments[(pupil_id, subject_id)] = body
    days: Counter = Counter()
    for pupil_id, status, n in db.session.execute(
        sa.select(Attendance.pupil_id, Attendance.status, sa.func.count())
        .where(
            Attendance.pupil_id.in_(ids),
            Attendance.class_id == cls.id,
            Attendance.on_date.between(term.starts_on, term.ends_on),
            Attendance.status != AttendanceStatus.PRESENT,
        )
        .group_by(Attendance.pupil_id, Attendance.status)
    ):
        days[(pupil_id, status)] = n
    periods = {str(term.number), "year"} if term.number == 2 else {str(term.number)}
    confirmed = {
        (r.pupil_id, r.period): r
        for r in db.session.scalars(
            sa.select(TermResult).where(
                TermResult.class_id == cls.id, TermResult.pupil_id.in_(ids), TermResult.period.in_(periods)
            )
        )
    }
    qc, primary_years = {}, {}
    if primary.applies_to(cls):
        qc = primary.evaluations(cls, circulars.TERM_POINTS[term.number], ids)
        primary_years = primary.confirmed_years(cls, ids) if term.number == 2 else {}
    show = grades.display_result
    for pid, card in out.items():
        for s in subjects:
            by_term = cells.get((pid, s.id), {})
            line = CardLine(s, show(grades.term_result(s, by_term.get(term.number, {}))))
            if term.number == 2 and s.assessment != Assessment.PRIMARY:
                first = grades.term_result(s, by_term.get(1, {}))
                second = grades.term_result(s, by_term.get(2, {}))
                line.first_term = show(first)
                line.year = show(
                    rules.year_average(first, second)
                    if s.assessment == Assessment.SCORED
                    else rules.comment_year_result(first, second)
                )
            line.comment = comments.get((pid, s.id), "")
            card.lines.append(line)
        card.homeroom_comment = comments.get((pid, None), "")
        card.absent_excused = days[(pid, AttendanceStatus.EXCUSED)]
        card.absent_unexcused = days[(pid, AttendanceStatus.UNEXCUSED)]
        card.late = days[(pid, AttendanceStatus.LATE)]
        if r := confirmed.get((pid, str(term.number))):
            card.learning, card.conduct = (
                circulars.RESULT_NAMES[r.learning],
                circulars.RESULT_NAMES[r.conduct],
            )
        if r := confirmed.get((pid, "year")):
            card.year_learning = circulars.RESULT_NAMES[r.learning]
            card.year_conduct = circulars.RESULT_NAMES[r.conduct]
        card.qc = {
            point: qc[(pid, point)] for point in circulars.TERM_POINTS[term.number] if (pid, point) in qc
        }
        if r := primary_years.get(pid):
            card.primary_year = circulars.PRIMARY_YEAR_NAMES[r.result]
    return [out[p.id] for p in pupils]


def render(
    cls: SchoolClass,
    term: Term,
    report_cards: list[ReportCard],
    *,
    for_pdf: bool = False,
    back_url: str | None = None,
    pdf_url: str | None = None,
) -> str:
    """The printable page of these cards (one per sheet of A4); ``for_pdf``: without the toolbar
    and the stylesheet link (pdf() applies the same stylesheet)."""
    return render_template(
        "contactbook/report_cards.html",
        cls=cls,
        term=term,
        cards=report_cards,
        for_pdf=for_pdf,
        back_url=back_url,
        pdf_url=pdf_url,
        today=local_today().strftime("%d/%m/%Y"),
        is_primary=primary.applies_to(cls),
        term_points=circulars.TERM_POINTS[term.number],
        **primary.NAMES,
    )


def pdf(html: str) -> bytes:
    """The PDF of a printable page, with the printable page's stylesheet (WeasyPrint; the
    system's fonts: DejaVu or Noto cover Vietnamese)."""
    from weasyprint import CSS, HTML  # lazy: 1.6 s to import; only a PDF download needs it

    stylesheet = Path(current_app.static_folder) / "css" / "report_card.css"
    return HTML(string=html).write_pdf(stylesheets=[CSS(filename=str(stylesheet))])
