"""The audit log, and academic years: the city administrator creates them and sets the current one
(rules in app.years). Staff accounts: app.staff."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import joinedload
from wtforms import BooleanField, DateField, HiddenField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from . import paging, staff, years
from .audit import describe
from .authz import roles_required
from .extensions import db
from .models import AuditLog, Role
from .views import register_home_card

bp = Blueprint("admin", __name__, url_prefix="/admin")

PAGE_SIZE = 50


def register(app) -> None:
    app.register_blueprint(bp)
    staff.register(app)
    register_home_card(app, _l("Audit log"), "admin.audit_log", roles=(Role.CITY_ADMIN,), order=710)
    register_home_card(app, _l("Academic years"), "admin.years_list", roles=(Role.CITY_ADMIN,), order=690)


@bp.route("/audit")
@roles_required(Role.CITY_ADMIN)
def audit_log():
    """The audit trail: who did what to which record, newest first (ids only, no personal data)."""
    page = paging.page_arg()
    q = sa.select(AuditLog).options(joinedload(AuditLog.actor))
    # Action names are dotted lower-case words; anything else (NUL, markup, %, _) is dropped.
    action = re.sub(r"[^a-z0-9_.]", "", (request.args.get("action") or "").lower())[:60]
    if action:
        q = q.where(AuditLog.action.startswith(action, autoescape=True))
    rows = db.session.scalars(
        q.order_by(AuditLog.id.desc()).limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)
    ).all()
    return render_template(
        "admin/audit.html",
        entries=[describe(e) for e in rows[:PAGE_SIZE]],
        page=page,
        has_next=len(rows) > PAGE_SIZE,
        action=action,
    )


class YearForm(FlaskForm):
    name = StringField(
        _l("Academic year"),
        validators=[DataRequired(_l("Enter the year's name, such as 2027-2028.")), Length(max=20)],
        description=_l("Two following years, such as 2027-2028."),
    )
    starts_on = DateField(_l("First day"), validators=[InputRequired(_l("Enter a date."))])
    ends_on = DateField(_l("Last day"), validators=[InputRequired(_l("Enter a date."))])
    term2_starts_on = DateField(
        _l("Term II starts"),
        validators=[Optional()],
        description=_l("Leave empty for mid-January. Each school may still move its own terms."),
    )
    current = BooleanField(_l("Make it the current year now"))


class CurrentYearForm(FlaskForm):
    year_id = HiddenField(validators=[DataRequired()])


def year_errors():
    return {
        "bad_name": _("Write the name as two following years, such as 2027-2028."),
        "start_outside": _("The year starts in the first year of its name."),
        "end_outside": _("The year ends in the second year of its name."),
        "bad_dates": _("The last day comes after the first, at most a year later."),
        "bad_term": _("Term II starts within the year."),
        "name_taken": _("This year already exists."),
        "overlap": _("These dates overlap another year."),
        "started": _("This year has started or is the current one: its dates can no longer change."),
    }


@bp.route("/years")
@roles_required(Role.CITY_ADMIN)
def years_list():
    return render_template(
        "admin/years.html",
        years=years.all_years(),
        current=years.current_year(),
        form=CurrentYearForm(),
        can_edit=years.can_edit,
    )


@bp.route("/years/new", methods=["GET", "POST"])
@roles_required(Role.CITY_ADMIN)
def new_year():
    form = YearForm(data=years.next_year_suggestion())
    if form.validate_on_submit():
        try:
            year = years.create_year(
                form.name.data,
                form.starts_on.data,
                form.ends_on.data,
                term2_starts_on=form.term2_starts_on.data,
                current=form.current.data,
                actor=current_user,
            )
        except years.YearError as err:
            getattr(form, err.field).errors.append(year_errors()[err.code])
        else:
            flash(_("The academic year %(name)s has been created.", name=year.name), "success")
            return redirect(url_for("admin.years_list"))
    status = 422 if form.is_submitted() else 200
    return render_template("admin/year_form.html", form=form), status


@bp.route("/years/<int:year_id>/edit", methods=["GET", "POST"])
@roles_required(Role.CITY_ADMIN)
def edit_year(year_id: int):
    year = years.year_by_id(year_id)
    if year is None:
        abort(404)
    form = YearForm(obj=year)
    form.name.data = year.name  # the name stays: seasons and classes are filed under it
    if form.validate_on_submit():
        try:
            years.update_year(
                year, form.starts_on.data, form.ends_on.data, form.term2_starts_on.data, current_user
            )
        except years.YearError as err:
            getattr(form, err.field).errors.append(year_errors()[err.code])
        else:
            flash(_("The dates of %(name)s have been saved.", name=year.name), "success")
            return redirect(url_for("admin.years_list"))
    status = 422 if form.is_submitted() else 200
    return render_template("admin/year_form.html", form=form, year=year), status


@bp.route("/years/current", methods=["POST"])
@roles_required(Role.CITY_ADMIN)
def set_current_year():
    form = CurrentYearForm()
    if not form.validate_on_submit():
        abort(400)
    year = years.year_by_id(form.year_id.data)
    if year is None:
        abort(404)
    if years.set_current(year, current_user):
        flash(_("%(name)s is now the current academic year.", name=year.name), "success")
    return redirect(url_for("admin.years_list"))
