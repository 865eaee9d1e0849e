"""Parents: their own children only (any other id answers 404)."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.authz import roles_required
from app.models import Role

from .. import access, circulars, daily, grades, kindergarten, pages, primary
from ..forms import AbsenceRequestForm

bp = Blueprint("contactbook_parent", __name__, url_prefix="/contactbook")

REQUEST_PROBLEMS = {
    "too_old": lambda: _("Requests can cover days up to %(n)d days back.", n=daily.PAST_DAYS),
    "too_far": lambda: _("Requests can cover days up to %(n)d days ahead.", n=daily.AHEAD_DAYS),
}


@bp.route("/children")
@roles_required(Role.PARENT)
def children():
    kids = access.children_of(current_user)
    if len(kids) == 1:
        return redirect(url_for("contactbook_parent.child", pupil_id=kids[0].id))
    return render_template("contactbook/children.html", children=kids)


@bp.route("/children/<int:pupil_id>")
@roles_required(Role.PARENT)
def child(pupil_id: int):
    kids = access.children_of(current_user)  # the switcher, and the scope check in the same query
    pupil = next((k for k in kids if k.id == pupil_id), None)
    if pupil is None:
        abort(404)
    page = pages.child_page(pupil, request.args.get("term", type=int))
    kg = kindergarten.child_records(pupil, page.terms) if kindergarten.is_kindergarten(page.cls) else None
    return render_template(
        "contactbook/child.html",
        page=page,
        kg=kg,
        kg_domains=kindergarten.DOMAIN_LABELS,
        kg_results=kindergarten.RESULT_LABELS,
        children=kids,
        fmt=grades.format_value,
        show=grades.display_result,
        fmt_score=grades.format_score,
        mark_labels=grades.MARK_LABELS,
        mark_names=grades.MARK_NAMES,
        result_names=circulars.RESULT_NAMES,
        **primary.NAMES,
    )


@bp.route("/children/<int:pupil_id>/absence", methods=["GET", "POST"])
@roles_required(Role.PARENT)
def absence_request(pupil_id: int):
    pupil = access.child_or_404(pupil_id)
    cls = access.current_class_of(pupil.id)
    if cls is None:
        abort(404)
    form = AbsenceRequestForm()
    if form.validate_on_submit():
        problem = daily.request_problem(form.from_date.data, form.to_date.data)
        if problem is None:
            daily.file_request(
                pupil, cls, current_user, form.from_date.data, form.to_date.data, form.reason.data
            )
            flash(_("Your request has been sent to the homeroom teacher."), "success")
            return redirect(url_for("contactbook_parent.child", pupil_id=pupil.id))
        form.from_date.errors.append(REQUEST_PROBLEMS[problem]())
    status = 422 if form.is_submitted() else 200
    return render_template(
        "contactbook/absence_form.html",
        pupil=pupil,
        cls=cls,
        form=form,
        requests=daily.pupil_requests(pupil.id),
    ), status
