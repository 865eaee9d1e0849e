"""Urgent notices (contactbook.urgent): school staff and district officers write one, see how
many families and SMS it reaches, confirm, and watch its delivery report."""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from app.authz import roles_required
from app.models import Role

from .. import announcements as notices
from .. import urgent
from ..forms import UrgentNoticeForm

bp = Blueprint("contactbook_urgent", __name__, url_prefix="/contactbook")


def _error(form: UrgentNoticeForm, code: str) -> None:
    """Word a refusal beside the field it is about."""
    if code == "rate":
        form.body.errors.append(
            _(
                "You have sent %(n)d urgent notices in the last hour: wait before sending another.",
                n=urgent.limit_per_hour(),
            )
        )
    elif code == "empty":
        form.body.errors.append(_("Write a title and the notice."))
    elif code == "too_long":
        form.body.errors.append(
            _("The notice is too long: at most 120 characters of title and 1000 of text.")
        )
    elif code == "nobody":
        form.audience.errors.append(
            _("No family is reached by this choice: no pupil there has a guardian account.")
        )
    elif code == "no_classes":
        form.classes.errors.append(_("Choose at least one class."))
    elif code == "no_schools":
        form.schools.errors.append(_("Choose at least one school."))
    elif code == "other_class":
        form.classes.errors.append(_("Choose classes of your school only."))
    elif code == "other_school":
        form.schools.errors.append(_("Choose schools of your district only."))
    else:
        form.audience.errors.append(_("Choose who receives it."))


def _form(schools) -> UrgentNoticeForm:
    form = UrgentNoticeForm()
    if current_user.role == Role.SCHOOL_STAFF:
        form.audience.choices = [("school", _("The whole school")), ("classes", _("Chosen classes"))]
        form.classes.choices = [(str(c.id), c.name) for c in urgent.school_classes(current_user.school_id)]
        form.schools.choices = []
    else:
        form.audience.choices = [
            ("district", _("Every school of the district")),
            ("schools", _("Chosen schools")),
        ]
        form.classes.choices = []
        form.schools.choices = [(str(s.id), s.name) for s in schools]
    return form


def _to(form: UrgentNoticeForm) -> str:
    """Who the confirmation says it goes to: the audience, and the chosen classes or schools."""
    label = str(dict(form.audience.choices).get(form.audience.data, ""))
    chosen = form.classes if form.audience.data == "classes" else form.schools
    if form.audience.data in ("classes", "schools"):
        names = dict(chosen.choices)
        label += ": " + ", ".join(str(names[v]) for v in chosen.data or [] if v in names)
    return label


@bp.route("/urgent/new", methods=["GET", "POST"])
@roles_required(urgent.SENDERS)
def new():
    """The form; its first POST shows the confirmation (families, SMS), the second sends."""
    schools = urgent.sender_schools(current_user)
    if not schools:
        abort(404)
    form = _form(schools)
    editing = "edit" in request.form
    if form.validate_on_submit() and not editing:
        try:
            audience = urgent.audience_for(
                current_user, form.audience.data, school_ids=form.schools.data, class_ids=form.classes.data
            )
            if request.form.get("confirm") != "1":
                return render_template(
                    "contactbook/urgent_confirm.html",
                    form=form,
                    preview=urgent.preview(audience),
                    to=_to(form),
                )
            sent, p = urgent.send(
                current_user,
                audience,
                title=form.title.data,
                body=form.body.data,
                requires_ack=form.requires_ack.data,
            )
        except urgent.UrgentError as err:
            _error(form, err.code)
        else:
            flash(
                ngettext(
                    "Urgent notice sent to %(num)d family.",
                    "Urgent notice sent to %(num)d families.",
                    p.families,
                ),
                "success",
            )
            report_id = notices.delivery_report_id(sent[0]) if len(sent) == 1 else None
            if report_id is not None:
                return redirect(url_for("notifications.report", notification_id=report_id))
            return redirect(url_for("contactbook_messages.announcements"))
    status = 422 if form.is_submitted() and not editing else 200
    return render_template("contactbook/urgent_form.html", form=form, schools=schools), status
