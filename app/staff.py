"""Staff accounts (blueprint `staff`, /admin/users…): city and district administrators and a
school's staff search, page, create and edit the accounts they manage, deactivate and reactivate
them, and issue one-time activation codes. Rules and scope: app.auth.lifecycle."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from sqlalchemy.orm import joinedload
from wtforms import EmailField, PasswordField, SelectField, StringField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Email, Length, Optional

from . import paging
from .audit import register_wording
from .auth import lifecycle
from .auth import services as accounts
from .authz import roles_required, scoped_schools_query
from .extensions import db
from .forms import PasswordPolicy, PersonName, VietnameseMobile
from .models import District, Role, School, User, utcnow
from .views import register_home_card

bp = Blueprint("staff", __name__, url_prefix="/admin")

MANAGERS = lifecycle.MANAGERS
PAGE_SIZE = 50


def register(app) -> None:
    app.register_blueprint(bp)
    register_home_card(app, _l("Staff accounts"), "staff.users", roles=MANAGERS, order=700)
    register_wording(**lifecycle.audit_wording())


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


class NewStaffForm(StaffForm):
    password = PasswordField(
        _l("Initial password"),
        validators=[
            DataRequired(_l("Choose a password.")),
            PasswordPolicy(staff=True, context_fields=("full_name", "email", "phone")),
        ],
        description=_l("At least 12 characters. The person must choose a new one at first login."),
    )


class ActionForm(FlaskForm):
    """A button (deactivate, reactivate, issue a code): CSRF only."""


def _choices(form: StaffForm, actor: User, target: User | None = None) -> StaffForm:
    labels = lifecycle.role_labels()
    roles = lifecycle.creatable_roles(actor)
    if target is not None and target.id == actor.id:
        roles = [target.role]  # nobody changes their own role
    form.role.choices = [SelectChoice(r, labels[r]) for r in roles]
    schools = db.session.scalars(scoped_schools_query(actor).order_by(School.name, School.id)).all()
    form.school_id.choices = [SelectChoice(0, _l("— none —"))] + [SelectChoice(s.id, s.name) for s in schools]
    dq = sa.select(District).order_by(District.name)
    if actor.role != Role.CITY_ADMIN:
        dq = dq.where(District.id == actor.district_id)
    form.district_id.choices = [SelectChoice(0, _l("— none —"))] + [
        SelectChoice(d.id, d.name) for d in db.session.scalars(dq)
    ]
    return form


def _errors() -> dict:
    return {
        "email_taken": _("An account with this email already exists."),
        "phone_taken": _("An account with this phone number already exists."),
        "bad_phone": _("Enter a valid mobile number."),
        "bad_role": _("Choose a role."),
        "need_school": _("Choose the school this person works at."),
        "need_district": _("Choose the district this officer works for."),
        "own_role": _("You cannot change your own role, school or district."),
    }


def _user_or_404(user_id: int) -> User:
    target = lifecycle.managed_user(current_user, user_id)
    if target is None:
        abort(404)
    return target


@bp.route("/users")
@roles_required(MANAGERS)
def users():
    search = paging.search_arg()
    q = lifecycle.visible_users_query(current_user).options(
        joinedload(User.school), joinedload(User.district)
    )
    if search:
        q = q.where(paging.contains(search, User.full_name, User.email, User.phone))
    page = paging.paginate(q.order_by(User.full_name, User.id), paging.page_arg(), PAGE_SIZE)
    return render_template(
        "admin/users.html",
        users=page.items,
        p=page,
        labels=lifecycle.role_labels(),
        q=search,
        now=utcnow(),
    )


@bp.route("/users/new", methods=["GET", "POST"])
@roles_required(MANAGERS)
def new_user():
    form = _choices(NewStaffForm(), current_user)
    if form.validate_on_submit():
        try:
            school_id, district_id = lifecycle.place_for(
                current_user, form.role.data, form.school_id.data, form.district_id.data
            )
            accounts.create_staff(
                full_name=form.full_name.data,
                email=form.email.data,
                phone=form.phone.data or None,
                role=form.role.data,
                password=form.password.data,
                school_id=school_id,
                district_id=district_id,
                actor=current_user,
                must_change=True,
            )
        except accounts.AccountError as err:
            getattr(form, err.field).errors.append(_errors()[err.code])
        else:
            flash(_("The account has been created and a welcome email is on its way."), "success")
            return redirect(url_for("staff.users"))
    status = 422 if form.is_submitted() else 200
    return render_template("admin/user_form.html", form=form), status


@bp.route("/users/<int:user_id>/edit", methods=["GET", "POST"])
@roles_required(MANAGERS)
def edit_user(user_id: int):
    target = _user_or_404(user_id)
    form = _choices(StaffForm(obj=target), current_user, target)
    if not form.is_submitted():
        form.school_id.data, form.district_id.data = target.school_id or 0, target.district_id or 0
    if form.validate_on_submit():
        try:
            changed = lifecycle.update_staff(
                current_user,
                target,
                full_name=form.full_name.data,
                email=form.email.data,
                phone=form.phone.data or None,
                role=form.role.data,
                school_id=form.school_id.data or None,
                district_id=form.district_id.data or None,
            )
        except accounts.AccountError as err:
            getattr(form, err.field).errors.append(_errors()[err.code])
        else:
            flash(_("The account has been saved.") if changed else _("Nothing was changed."), "success")
            return redirect(url_for("staff.users"))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "admin/user_edit.html", form=form, target=target, action=ActionForm(), labels=lifecycle.role_labels()
    ), status


def _act(user_id: int, act, message: str):
    target = _user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        act(current_user, target)
    except accounts.AccountError:
        flash(_("You cannot do this to your own account."), "error")
        return redirect(url_for("staff.edit_user", user_id=target.id))
    flash(message, "success")
    return redirect(url_for("staff.edit_user", user_id=target.id))


@bp.route("/users/<int:user_id>/deactivate", methods=["POST"])
@roles_required(MANAGERS)
def deactivate_user(user_id: int):
    return _act(
        user_id, lifecycle.deactivate, _("The account has been deactivated and logged out everywhere.")
    )


@bp.route("/users/<int:user_id>/reactivate", methods=["POST"])
@roles_required(MANAGERS)
def reactivate_user(user_id: int):
    return _act(user_id, lifecycle.reactivate, _("The account has been reactivated."))


@bp.route("/users/<int:user_id>/activation", methods=["POST"])
@roles_required(MANAGERS)
def activation_code(user_id: int):
    """The code is shown once, on this answer (never in a cookie or a log)."""
    target = _user_or_404(user_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    try:
        code = lifecycle.issue_activation(current_user, target)
    except accounts.AccountError:
        flash(_("An activation code is only for another person's active account."), "error")
        return redirect(url_for("staff.edit_user", user_id=target.id))
    return render_template(
        "admin/user_code.html", target=target, code=code, expires=target.activation_expires_at
    )
