"""Kindergarten classes' homeroom teachers: the developmental evaluation at the end of each
term and the height and weight checks (a kindergarten class has no grade book)."""

from __future__ import annotations

from datetime import date

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from app.authz import roles_required
from app.i18n import local_today
from app.models import Role

from .. import classes, kindergarten, years
from ..access import homeroom_class_or_404

bp = Blueprint("contactbook_kindergarten", __name__, url_prefix="/contactbook")


def _class(class_id: int):
    cls = homeroom_class_or_404(class_id)
    if not kindergarten.is_kindergarten(cls):
        abort(404)
    return cls


@bp.route("/classes/<int:class_id>/development", methods=["GET", "POST"])
@roles_required(Role.TEACHER)
def development(class_id: int):
    """The end-of-term evaluation by domain: Đạt / Chưa đạt with a comment."""
    cls = _class(class_id)
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
@roles_required(Role.TEACHER)
def growth(class_id: int):
    """A day's height and weight checks of the class."""
    cls = _class(class_id)
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
        day=day or local_today(),
        pupils=classes.class_pupils(cls),
        saved=kindergarten.growth_on(cls, day or local_today()),
        typed=request.form if problems else None,
        problems=problems,
        texts=kindergarten.problem_texts(),
        form=form,
    ), status
