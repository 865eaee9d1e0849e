"""Kindergarten classes: the homeroom teacher records the developmental evaluation at the end of
each term and the height and weight checks (a kindergarten class has no grade book); the
school's staff read both. Each term's reports: a family's child (page and PDF), a whole class for
the homeroom teacher and the staff to print."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from app.audit import audit
from app.authz import roles_required
from app.extensions import limiter
from app.i18n import local_today
from app.models import Role

from .. import access, classes, kindergarten, years
from .results import PDF_LIMIT
from .results import _pdf as pdf_attachment

bp = Blueprint("contactbook_kindergarten", __name__, url_prefix="/contactbook")

KEEPERS = (Role.TEACHER, *access.STAFF)


def _class(class_id: int):
    """A kindergarten class: its homeroom teacher writes (this year's class), the staff read."""
    cls, editable = access.homeroom_records_or_404(class_id)
    if not kindergarten.is_kindergarten(cls):
        abort(404)
    if current_user.role in access.STAFF:
        audit("contactbook.view_kg", cls, page=request.endpoint)
    return cls, editable


def _term(cls):
    term = years.pick_term(years.school_terms(cls), request.args.get("term", type=int))
    if term is None:
        abort(404)
    return term


def _class_term(class_id: int):
    cls, _editable = _class(class_id)
    return cls, _term(cls)


def _back(cls):
    if current_user.role in access.STAFF:
        return url_for("contactbook_staff.class_page", class_id=cls.id)
    return url_for("contactbook_teacher.teach")


@bp.route("/classes/<int:class_id>/development", methods=["GET", "POST"])
@roles_required(*KEEPERS)
def development(class_id: int):
    """The end-of-term evaluation by domain: Đạt / Chưa đạt with a comment."""
    cls, editable = _class(class_id)
    terms = years.school_terms(cls)
    term = years.pick_term(terms, request.args.get("term", type=int))
    if term is None:
        abort(404)
    form, problems = FlaskForm(), {}
    if form.validate_on_submit():
        try:
            n = kindergarten.save_evaluations(cls, term, request.form, current_user)
        except kindergarten.KindergartenError as err:
            problems = err.problems
        else:
            flash(_("Saved: %(n)d evaluations changed.", n=n), "success")
            return redirect(url_for("contactbook_kindergarten.development", class_id=cls.id, term=term.id))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "contactbook/kg_development.html",
        cls=cls,
        editable=editable,
        back_url=_back(cls),
        terms=terms,
        term=term,
        pupils=classes.class_pupils(cls),
        saved=kindergarten.evaluations(cls, term),
        typed=request.form if problems else None,
        problems=problems,
        texts=kindergarten.problem_texts(),
        domains=kindergarten.DOMAIN_LABELS,
        results=kindergarten.RESULT_LABELS,
        form=form,
    ), status


@bp.route("/classes/<int:class_id>/growth", methods=["GET", "POST"])
@roles_required(*KEEPERS)
def growth(class_id: int):
    """A day's height and weight checks of the class."""
    cls, editable = _class(class_id)
    raw = request.values.get("date", "")
    try:
        day = date.fromisoformat(raw) if raw else local_today()
    except ValueError:
        day = None
    form, problems = FlaskForm(), {}
    if day is None:
        problems = {"date": _("Enter a date as yyyy-mm-dd.")}
    elif form.validate_on_submit():
        try:
            n = kindergarten.save_growth(cls, day, request.form, current_user)
        except kindergarten.KindergartenError as err:
            problems = err.problems
        else:
            flash(_("Saved: %(n)d height and weight checks changed.", n=n), "success")
            return redirect(url_for("contactbook_kindergarten.growth", class_id=cls.id, date=day.isoformat()))
    status = 422 if form.is_submitted() or day is None else 200
    return render_template(
        "contactbook/kg_growth.html",
        cls=cls,
        editable=editable,
        back_url=_back(cls),
        day=day or local_today(),
        pupils=classes.class_pupils(cls),
        saved=kindergarten.growth_on(cls, day or local_today()),
        typed=request.form if problems else None,
        problems=problems,
        texts=kindergarten.problem_texts(),
        form=form,
    ), status


# ---- term reports ------------------------------------------------------------------------------


def _child(pupil_id: int):
    pupil = access.child_or_404(pupil_id)
    cls = access.current_class_of(pupil.id)
    if not kindergarten.is_kindergarten(cls):
        abort(404)
    return pupil, cls, _term(cls)


@bp.route("/children/<int:pupil_id>/kindergarten-report")
@roles_required(Role.PARENT)
def child_report(pupil_id: int):
    pupil, cls, term = _child(pupil_id)
    back = url_for("contactbook_parent.child", pupil_id=pupil.id)
    pdf = url_for(".child_report_pdf", pupil_id=pupil.id, term=term.id)
    return kindergarten.reports_page(cls, term, [pupil], back_url=back, pdf_url=pdf)


@bp.route("/children/<int:pupil_id>/kindergarten-report.pdf")
@roles_required(Role.PARENT)
@limiter.limit(PDF_LIMIT)
def child_report_pdf(pupil_id: int):
    pupil, cls, term = _child(pupil_id)
    html = kindergarten.reports_page(cls, term, [pupil], for_pdf=True)
    return pdf_attachment(html, f"phieu-danh-gia-tre-{pupil.pupil_code}-hk{term.number}.pdf")


@bp.route("/classes/<int:class_id>/kindergarten-reports")
@roles_required(*KEEPERS)
def class_reports(class_id: int):
    cls, term = _class_term(class_id)
    pdf = url_for(".class_reports_pdf", class_id=cls.id, term=term.id)
    return kindergarten.reports_page(cls, term, back_url=_back(cls), pdf_url=pdf)


@bp.route("/classes/<int:class_id>/kindergarten-reports.pdf")
@roles_required(*KEEPERS)
@limiter.limit(PDF_LIMIT)
def class_reports_pdf(class_id: int):
    cls, term = _class_term(class_id)
    html = kindergarten.reports_page(cls, term, for_pdf=True)
    return pdf_attachment(html, f"phieu-danh-gia-tre-lop-{cls.name}-hk{term.number}.pdf")
