"""A class's overall results of a term or the year (Circular 22): the homeroom teacher sets the
conduct and confirms; the school's staff read them; families see them on the child's page. And
the term's report cards: a family's child (page and PDF), a whole class for staff to print."""

from __future__ import annotations

import io

from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from app.authz import roles_required
from app.extensions import limiter
from app.models import Role

from .. import access, circulars, grades, report_cards, results, years
from ..forms import ResultsForm

bp = Blueprint("contactbook_results", __name__, url_prefix="/contactbook")

PROBLEMS = {
    "primary": _l("Primary classes are assessed by Circular 27:"),
    "empty": _l("This class has no pupils."),
    "missing": _l(
        "Some pupils still miss a published subject result, so their learning result cannot be computed:"
    ),
    "conduct": _l("Choose the conduct of every pupil:"),
}


def flash_confirmed(n: int) -> None:
    """After a confirmation (Circular 22 here, Circular 27 in views/primary.py): how many
    families are being told."""
    flash(
        ngettext(
            "Results confirmed: %(num)d family is being told.",
            "Results confirmed: %(num)d families are being told.",
            n,
        )
        if n
        else _("Results confirmed: nothing changed."),
        "success",
    )


@bp.route("/classes/<int:class_id>/results", methods=["GET", "POST"])
@roles_required(Role.TEACHER, *access.STAFF)
def class_results(class_id: int):
    cls, editable = access.results_class_or_404(class_id)
    period = request.args.get("period", "1")
    if period not in results.PERIODS:
        abort(404)
    data = results.class_results(cls, period)
    form = ResultsForm()
    conduct = {r.pupil.id: r.stored.conduct if r.stored else "" for r in data.rows}
    problem = None
    if form.validate_on_submit():
        conduct.update({r.pupil.id: request.form.get(f"k-{r.pupil.id}", "") for r in data.rows})
        try:
            n = results.confirm(data, conduct, current_user)
        except results.ResultsError as err:
            problem = err
        else:
            flash_confirmed(n)
            return redirect(url_for(".class_results", class_id=cls.id, period=period))
    return render_template(
        "contactbook/results.html",
        cls=cls,
        data=data,
        period=period,
        periods=results.PERIODS,
        editable=editable and results.applies_to(cls),
        applies=results.applies_to(cls),
        form=form,
        conduct=conduct,
        problem=problem,
        problem_text=PROBLEMS.get(problem.code) if problem else None,
        levels=circulars.RESULT_LEVELS,
        level_names=circulars.RESULT_NAMES,
        show=grades.display_result,
    ), 422 if form.is_submitted() else 200


# ---- report cards ------------------------------------------------------------------------------

PDF_LIMIT = "20/minute;200/day"


def _term_of(cls):
    terms = years.school_terms(cls)
    term = years.pick_term(terms, request.args.get("term", type=int))
    if term is None:
        abort(404)
    return term


def _pdf(html: str, filename: str):
    """A PDF as an attachment (send_file encodes the file name safely, RFC 6266)."""
    return send_file(
        io.BytesIO(report_cards.pdf(html)),
        mimetype="application/pdf",
        as_attachment=True,
        download_name=filename,
    )


def _child(pupil_id: int):
    pupil = access.child_or_404(pupil_id)
    cls = access.current_class_of(pupil.id)
    if cls is None:
        abort(404)
    return pupil, cls, _term_of(cls)


@bp.route("/children/<int:pupil_id>/report-card")
@roles_required(Role.PARENT)
def child_report_card(pupil_id: int):
    pupil, cls, term = _child(pupil_id)
    return report_cards.render(
        cls,
        term,
        report_cards.cards(cls, term, [pupil]),
        back_url=url_for("contactbook_parent.child", pupil_id=pupil.id),
        pdf_url=url_for(".child_report_card_pdf", pupil_id=pupil.id, term=term.id),
    )


@bp.route("/children/<int:pupil_id>/report-card.pdf")
@roles_required(Role.PARENT)
@limiter.limit(PDF_LIMIT)
def child_report_card_pdf(pupil_id: int):
    pupil, cls, term = _child(pupil_id)
    html = report_cards.render(cls, term, report_cards.cards(cls, term, [pupil]), for_pdf=True)
    return _pdf(html, f"phieu-lien-lac-{pupil.pupil_code}-hk{term.number}.pdf")


@bp.route("/classes/<int:class_id>/report-cards")
@roles_required(Role.TEACHER, *access.STAFF)
def class_report_cards(class_id: int):
    cls = access.overview_class_or_404(class_id)
    term = _term_of(cls)
    return report_cards.render(
        cls,
        term,
        report_cards.cards(cls, term),
        back_url=url_for("contactbook_teacher.class_overview", class_id=cls.id, term=term.id),
        pdf_url=url_for(".class_report_cards_pdf", class_id=cls.id, term=term.id),
    )


@bp.route("/classes/<int:class_id>/report-cards.pdf")
@roles_required(Role.TEACHER, *access.STAFF)
@limiter.limit(PDF_LIMIT)
def class_report_cards_pdf(class_id: int):
    cls = access.overview_class_or_404(class_id)
    term = _term_of(cls)
    cards = report_cards.cards(cls, term)[: report_cards.MAX_CLASS]
    html = report_cards.render(cls, term, cards, for_pdf=True)
    return _pdf(html, f"phieu-lien-lac-lop-{cls.name}-hk{term.number}.pdf")
