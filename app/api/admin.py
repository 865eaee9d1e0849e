"""The city administrator's page of machine clients (/admin/api-clients): create one (its token
shown once), see scopes, expiry and call counts, revoke."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, SelectField, StringField
from wtforms.validators import DataRequired, Length, NumberRange

from app.authz import roles_required
from app.extensions import db
from app.forms import clean_text
from app.models import ApiClient, District, Role, School

from .clients import MAX_DAYS, ClientError, all_clients, create_client, revoke

bp = Blueprint("admin_api", __name__, url_prefix="/admin/api-clients")


class ClientForm(FlaskForm):
    name = StringField(
        _l("Name of the system"),
        filters=[clean_text],  # control characters (a NUL) dropped, as in every text field
        validators=[DataRequired(_l("Give the system a name.")), Length(max=120)],
    )
    scope = SelectField(_l("Scope"), validators=[DataRequired()])
    can_write = BooleanField(_l("May write (roster upsert)"))
    days = IntegerField(_l("Valid for (days)"), default=365, validators=[NumberRange(1, MAX_DAYS)])


def scope_choices() -> list[tuple[str, str]]:
    choices = [("city", str(_l("The whole city")))]
    for d in db.session.scalars(sa.select(District).order_by(District.name)):
        choices.append((f"d{d.id}", _("District: %(name)s", name=d.name)))
    for s in db.session.scalars(sa.select(School).order_by(School.name)):
        choices.append((f"s{s.id}", _("School: %(name)s", name=s.name)))
    return choices


@bp.route("/", methods=["GET", "POST"])
@roles_required(Role.CITY_ADMIN)
def clients():
    form = ClientForm()
    form.scope.choices = scope_choices()
    token = None
    if form.validate_on_submit():
        kind, ident = form.scope.data[:1], form.scope.data[1:]
        try:
            client, token = create_client(
                form.name.data,
                district_id=int(ident) if kind == "d" else None,
                school_id=int(ident) if kind == "s" else None,
                can_write=form.can_write.data,
                days=form.days.data,
                actor=current_user,
            )
        except ClientError as err:
            form.name.errors.append(str(err))
            token = None
        else:
            flash(
                _(
                    "The client %(name)s has been created. Copy its token now: it is not shown again.",
                    name=client.name,
                ),
                "success",
            )
    status = 422 if form.is_submitted() and token is None else 200
    return render_template("api/clients.html", form=form, clients=all_clients(), token=token), status


@bp.route("/<int:client_id>/revoke", methods=["POST"])
@roles_required(Role.CITY_ADMIN)
def revoke_client(client_id: int):
    client = db.session.get(ApiClient, client_id)
    if client is None:
        abort(404)
    if FlaskForm().validate_on_submit():
        revoke(client, actor=current_user)
        flash(_("The client %(name)s has been revoked.", name=client.name), "success")
    return redirect(url_for("admin_api.clients"))
