"""A parent's email address, proven by a link (blueprint `auth`): rules in email_link.py."""

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..authz import public, roles_required
from ..extensions import limiter
from ..models import Role
from . import email_link, services
from .code_forms import EmailForm, SendCodeForm
from .views import bp

LINK_ERRORS = {
    "invalid": lambda: _("This link is not valid any more. Ask for a new one from your account."),
    "taken": lambda: _("Another account already uses this email address."),
}


@bp.route("/email", methods=["GET", "POST"])
@roles_required(Role.PARENT)
@limiter.limit(
    "5/hour",
    key_func=lambda: f"email-link:{current_user.id}" if current_user.is_authenticated else "email-link",
    methods=["POST"],
    deduct_when=lambda response: response.status_code == 302,
)
def email():
    form = EmailForm()
    if form.validate_on_submit():
        if not services.passwords().verify(current_user.password_hash, form.password.data):
            form.password.errors.append(_("The current password is wrong."))
        else:
            email_link.start(current_user._get_current_object(), form.email.data)
            flash(
                _(
                    "We sent a link to %(email)s. Open it within 24 hours to confirm the address.",
                    email=form.email.data,
                ),
                "info",
            )
            return redirect(url_for("auth.email"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/email.html", form=form, user=current_user), status


@bp.route("/email/confirm", methods=["GET", "POST"])
@public
def confirm_email():
    token = request.args.get("t", "")
    form = SendCodeForm()
    try:
        user, address = email_link.read(token)
        if form.validate_on_submit():
            email_link.confirm(token)
            flash(_("Your email address is confirmed."), "success")
            return redirect(url_for("core.home"))
    except email_link.LinkError as err:
        status = 404 if err.reason == "invalid" else 422
        return render_template("auth/confirm_email.html", error=LINK_ERRORS[err.reason](), form=None), status
    return render_template("auth/confirm_email.html", form=form, address=address, error=None)
