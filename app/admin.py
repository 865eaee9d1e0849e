"""Staff accounts: admins and officers create the accounts of the people they oversee. Academic
years: the city administrator creates them and sets the current one (rules in app.years)."""

from __future__ import annotations

import re

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import joinedload
from wtforms import BooleanField, DateField, EmailField, HiddenField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, InputRequired, Length, Optional

from . import paging, years
from .audit import audit, describe
from .auth import services as accounts
from .authz import can_manage_school, roles_required, scoped_schools_query
from .extensions import db
from .forms import PasswordPolicy, PersonName, VietnameseMobile
from .models import AuditLog, District, Role, School, User
from .views import register_home_card

bp = Blueprint("admin", __name__, url_prefix="/admin")

MANAGERS = (Role.CITY_ADMIN, Role.DISTRICT_OFFICER, Role.SCHOOL_STAFF)
PAGE_SIZE = 50


def register(app) -> None:
    app.register_blueprint(bp)
    register_home_card(app, _l("Staff accounts"), "admin.users", roles=MANAGERS, order=700)
    register_home_card(app, _l("Audit log"), "admin.audit_log", roles=(Role.CITY_ADMIN,), order=710)
    register_home_card(app, _l("Academic years"), "admin.years_list", roles=(Role.CITY_ADMIN,), order=690)


def role_labels():
    return {
        Role.PARENT: _l("Parent"),
        Role.TEACHER: _l("Teacher"),
        Role.SCHOOL_STAFF: _l("School staff"),
        Role.DISTRICT_OFFICER: _l("District officer"),
        Role.CITY_ADMIN: _l("City administrator"),
    }


def creatable_roles(user: User) -> list[str]:
    """Whom each role may create: nobody creates a role above their own scope."""
    if user.role == Role.CITY_ADMIN:
        return [Role.TEACHER, Role.SCHOOL_STAFF, Role.DISTRICT_OFFICER, Role.CITY_ADMIN]
    if user.role == Role.DISTRICT_OFFICER:
        return [Role.TEACHER, Role.SCHOOL_STAFF, Role.DISTRICT_OFFICER]
    if user.role == Role.SCHOOL_STAFF:
        return [Role.TEACHER, Role.SCHOOL_STAFF]
    return []


def visible_users_query(user: User):
    q = sa.select(User).where(User.role != Role.PARENT)
    if user.role == Role.CITY_ADMIN:
        return q
    if user.role == Role.DISTRICT_OFFICER:
        schools = sa.select(School.id).where(School.district_id == user.district_id)
        return q.where(sa.or_(User.district_id == user.district_id, User.school_id.in_(schools)))
    return q.where(User.school_id == user.school_id)


class StaffForm(FlaskForm):
    full_name = StringField(
        _l("Full name"), validators=[DataRequired(_l("Enter the full name.")), PersonName()]
    )
    email = EmailField(
        _l("Email"),
        validators=[
            DataRequired(_l("Enter an email address.")),
            Email(_l("Enter a valid email address.")),
            Length(max=254),
        ],
    )
    phone = StringField(_l("Mobile phone number"), validators=[Optional(), VietnameseMobile()])
    role = SelectField(_l("Role"), choices=[])
    school_id = SelectField(_l("School"), coerce=int, choices=[], validate_choice=True)
    district_id = SelectField(_l("District"), coerce=int, choices=[], validate_choice=True)
    password = PasswordField(
        _l("Initial password"),
        validators=[
            DataRequired(_l("Choose a password.")),
            PasswordPolicy(staff=True, context_fields=("full_name", "email", "phone")),
        ],
        description=_l("At least 12 characters. The person changes it at first login."),
    )


def _build_form(user: User) -> StaffForm:
    form = StaffForm()
    labels = role_labels()
    form.role.choices = [SelectChoice(r, labels[r]) for r in creatable_roles(user)]
    schools = db.session.scalars(scoped_schools_query(user).order_by(School.name)).all()
    form.school_id.choices = [SelectChoice(0, _l("— none —"))] + [SelectChoice(s.id, s.name) for s in schools]
    dq = sa.select(District).order_by(District.name)
    if user.role != Role.CITY_ADMIN:
        dq = dq.where(District.id == user.district_id)
    form.district_id.choices = [SelectChoice(0, _l("— none —"))] + [
        SelectChoice(d.id, d.name) for d in db.session.scalars(dq)
    ]
    return form


@bp.route("/users")
@roles_required(MANAGERS)
def users():
    page = paging.page_arg()
    search = paging.search_arg()
    q = visible_users_query(current_user).options(joinedload(User.school), joinedload(User.district))
    if search:
        q = q.where(paging.contains(search, User.full_name, User.email, User.phone))
    rows = db.session.scalars(
        q.order_by(User.full_name, User.id).limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE)
    ).all()
    return render_template(
        "admin/users.html",
        users=rows[:PAGE_SIZE],
        page=page,
        has_next=len(rows) > PAGE_SIZE,
        labels=role_labels(),
        q=search,
    )


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(MANAGERS)
def new_user():
    form = _build_form(current_user)
    if form.validate_on_submit():
        error = _check_scope(form)
        if error:
            form.role.errors.append(error)
        else:
            try:
                accounts.create_staff(
                    full_name=form.full_name.data,
                    email=form.email.data,
                    phone=form.phone.data or None,
                    role=form.role.data,
                    password=form.password.data,
                    school_id=form.school_id.data or None,
                    district_id=form.district_id.data or None,
                    actor=current_user,
                )
            except accounts.AccountError as err:
                messages = {
                    "email_taken": _("An account with this email already exists."),
                    "phone_taken": _("An account with this phone number already exists."),
                    "bad_phone": _("Enter a valid mobile number."),
                    "bad_role": _("Choose a role."),
                }
                getattr(form, err.field).errors.append(messages[err.code])
            else:
                flash(_("The account has been created and a welcome email is on its way."), "success")
                return redirect(url_for("admin.users"))
    status = 422 if form.is_submitted() else 200
    return render_template("admin/user_form.html", form=form), status


def _check_scope(form: StaffForm) -> str | None:
    """A school role needs a school in the creator's scope; a district role needs a district."""
    role = form.role.data
    if role in (Role.TEACHER, Role.SCHOOL_STAFF):
        school = db.session.get(School, form.school_id.data) if form.school_id.data else None
        if school is None or not can_manage_school(current_user, school):
            return _("Choose the school this person works at.")
        form.district_id.data = 0
    elif role == Role.DISTRICT_OFFICER:
        if not form.district_id.data:
            return _("Choose the district this officer works for.")
        form.school_id.data = 0
    else:
        form.school_id.data = form.district_id.data = 0
    return None


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@roles_required(MANAGERS)
def deactivate_user(user_id: int):
    target = db.session.scalar(visible_users_query(current_user).where(User.id == user_id))
    if target is None:
        abort(404)
    if target.id == current_user.id:
        flash(_("You cannot deactivate your own account."), "error")
        return redirect(url_for("admin.users"))
    target.active = False
    accounts.end_all_sessions(target)
    audit("user.deactivate", target)
    flash(_("The account has been deactivated."), "success")
    return redirect(url_for("admin.users"))


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
