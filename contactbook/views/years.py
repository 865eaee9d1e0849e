"""School staff: next year's classes, prepared from this year's (the rollover: a preview with its
counts, then one confirmed step)."""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from flask_wtf import FlaskForm

from app.authz import roles_required, school_or_404
from app.jobs import rollback
from app.models import Role

from .. import intake, rollover
from ..access import STAFF, homeroom_class_or_404

bp = Blueprint("contactbook_years", __name__, url_prefix="/contactbook")


def problems() -> dict[str, str]:
    return {
        "no_year": _("There is no current academic year; ask the city administrator to set one."),
        "no_next_year": _(
            "The academic year after %(year)s does not exist yet; ask the city administrator to create it."
        ),
        "already_done": _("This school's classes of %(year)s are already prepared."),
        "unknown_pupil": _("Some of these codes are not pupils of this class."),
        "bad_name": _("Enter a class name of at most 20 characters."),
        "name_exists": _("Next year already has a class of this name."),
        "name_twice": _("Two classes would have this name next year."),
        "not_ready": _("Correct the highlighted classes first."),
    }


@bp.route("/schools/<int:school_id>/rollover", methods=["GET", "POST"])
@roles_required(STAFF)
def rollover_page(school_id: int):
    school = school_or_404(school_id)
    form = FlaskForm()
    names, kept = rollover.edits_from(request.form) if request.method == "POST" else ({}, {})
    try:
        preview = rollover.plan(school, names, kept)
    except rollover.RolloverError as err:
        message = problems()[err.code] % err.params
        return render_template(
            "contactbook/rollover.html", school=school, error=message, preview=None, form=form
        )
    confirming = form.validate_on_submit() and request.form.get("action") == "confirm"
    unconfirmed = confirming and request.form.get("confirmed") != "y"
    if confirming and preview.ok and not unconfirmed:
        counts = rollover.apply(preview, current_user)
        flash(
            _(
                "Next year's classes are ready: %(classes)d classes, %(promoted)d pupils promoted, %(kept_back)d kept back, %(leaving)d leaving.",
                **counts,
            ),
            "success",
        )
        return redirect(url_for("contactbook_staff.school", school_id=school.id))
    status = 422 if form.is_submitted() and (not preview.ok or unconfirmed) else 200
    return render_template(
        "contactbook/rollover.html",
        school=school,
        preview=preview,
        problems=problems(),
        form=form,
        error=None,
        unconfirmed=unconfirmed,
        typed_kept=kept,
    ), status


@bp.route("/schools/<int:school_id>/intake", methods=["GET", "POST"])
@roles_required(STAFF)
def intake_page(school_id: int):
    """Incoming pupils: split into classes, moves, then one confirmed step."""
    school = school_or_404(school_id)
    form = FlaskForm()
    year = intake.target_year(request.values.get("year"))
    if year is None:
        return render_template(
            "contactbook/intake.html", school=school, error=problems()["no_year"], form=form
        )
    incoming = intake.load(school, year)
    if not form.validate_on_submit():
        status = 422 if form.is_submitted() else 200
        return render_template("contactbook/intake.html", school=school, incoming=incoming, form=form), status
    try:
        message = _intake_action(incoming, request.form.get("action"))
    except intake.IntakeError as err:
        rollback()  # a move refused half-way wrote the first ones
        error = intake.problems()[err.code] % err.params
        incoming = intake.load(school, year)
        return render_template(
            "contactbook/intake.html", school=school, incoming=incoming, form=form, error=error
        ), 422
    flash(message, "success")
    return redirect(url_for("contactbook_years.intake_page", school_id=school.id, year=year.id))


def _intake_action(incoming: intake.Intake, action: str | None) -> str:
    if action == "split":
        raw = request.form.get("count", "").strip()
        count = int(raw) if raw.isdigit() and len(raw) < 4 else 0
        if not 1 <= count <= 30:
            raise intake.IntakeError("split_count")
        n = intake.split(incoming, count, current_user)
        return _("%(n)d pupils split into %(count)d classes.", n=n, count=count)
    if action == "confirm":
        if request.form.get("confirmed") != "y":
            raise intake.IntakeError("tick")
        counts = intake.confirm(incoming, current_user)
        return _(
            "%(pupils)d pupils are now in their classes (%(classes)d classes); %(guardians)d guardians linked; the families have been told.",
            **counts,
        )
    n = intake.move(incoming, intake.moves_from(request.form), current_user)
    return _("%(n)d pupils moved.", n=n)


@bp.route("/classes/<int:class_id>/repeaters", methods=["GET", "POST"])
@roles_required(Role.TEACHER)
def repeaters(class_id: int):
    """The homeroom teacher marks the pupils who repeat the grade (the rollover keeps them back)."""
    cls = homeroom_class_or_404(class_id)
    form = FlaskForm()
    if form.validate_on_submit():
        ids = {int(v) for v in request.form.getlist("pupil") if v.isdigit() and len(v) < 10}
        n = rollover.mark_repeaters(cls, ids, current_user)
        flash(_("Saved: %(n)d pupils repeat the grade next year.", n=n), "success")
        return redirect(url_for("contactbook_years.repeaters", class_id=cls.id))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "contactbook/repeaters.html", cls=cls, rows=rollover.repeaters_of(cls), form=form
    ), status
