"""Primary classes by Circular 27: the homeroom teacher enters the qualities and competences at
each point of the year and confirms the year's results; the school's staff read both. Families
see them on the child's page and report card (views/parent.py, views/results.py)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from app.audit import audit
from app.authz import roles_required
from app.models import Role

from .. import access, circulars, classes, grades, primary
from .results import flash_confirmed

bp = Blueprint("contactbook_primary", __name__, url_prefix="/contactbook")


def _class(class_id: int, **viewed):
    """The class, and whether the current user may write; a staff member's reading is audited."""
    cls, editable = access.results_class_or_404(class_id)
    if not primary.applies_to(cls):
        abort(404)
    if current_user.role in access.STAFF:
        audit("contactbook.view_grades", cls, **viewed)
    return cls, editable


@bp.route("/classes/<int:class_id>/qualities", methods=["GET", "POST"])
@roles_required(Role.TEACHER, *access.STAFF)
def qualities(class_id: int):
    """One point's qualities and competences of the whole class: a grid, one row per pupil."""
    point = request.args.get("point")
    if point is not None and point not in circulars.POINTS:
        abort(404)
    cls, editable = _class(class_id, point=point)
    point = point or primary.current_point(cls)
    form, problems = FlaskForm(), {}
    if form.validate_on_submit():
        try:
            n = primary.save_evaluations(cls, point, request.form, current_user)
        except primary.PrimaryError as err:
            problems = err.problems
        else:
            flash(_("Saved: %(n)d pupils changed.", n=n), "success")
            return redirect(url_for(".qualities", class_id=cls.id, point=point))
    return render_template(
        "contactbook/primary_qualities.html",
        cls=cls,
        point=point,
        editable=editable,
        pupils=classes.class_pupils(cls),
        saved=primary.evaluations(cls, [point]),
        typed=request.form if problems else None,
        problems=problems,
        form=form,
        **primary.NAMES,
    ), 422 if form.is_submitted() else 200


@bp.route("/classes/<int:class_id>/primary-results", methods=["GET", "POST"])
@roles_required(Role.TEACHER, *access.STAFF)
def year_results(class_id: int):
    """The year's overall results: computed, then confirmed by the homeroom teacher."""
    cls, editable = _class(class_id, period="year")
    data = primary.year_results(cls)
    form, problems = FlaskForm(), {}
    if form.validate_on_submit():
        try:
            n = primary.confirm_year(data, request.form, current_user)
        except primary.PrimaryError as err:
            problems = err.problems
        else:
            flash_confirmed(n)
            return redirect(url_for(".year_results", class_id=cls.id))
    return render_template(
        "contactbook/primary_results.html",
        cls=cls,
        data=data,
        editable=editable,
        typed=request.form if problems else None,
        problems=problems,
        form=form,
        show=grades.display_result,
        **primary.NAMES,
    ), 422 if form.is_submitted() else 200
