"""A class's overall results of a term or the year (Circular 22): the homeroom teacher sets the
conduct and confirms; the school's staff read them; families see them on the child's page."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_babel import ngettext
from flask_login import current_user

from app.authz import roles_required
from app.models import Role

from .. import access, circulars, grades, results
from ..forms import ResultsForm

bp = Blueprint("contactbook_results", __name__, url_prefix="/contactbook")

PROBLEMS = {
    "primary": _l(
        "Primary classes are assessed by Circular 27: their overall results are not computed here yet."
    ),
    "empty": _l("This class has no pupils."),
    "missing": _l(
        "Some pupils still miss a published subject result, so their learning result cannot be computed:"
    ),
    "conduct": _l("Choose the conduct of every pupil:"),
}


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
