"""The doors into the contact book: activating an account with a one-time code (guardians from
the printed class sheet, teachers from their email; public, rate-limited like the login form),
and the entry that sends each signed-in role to its own pages."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from app import privacy
from app.auth import services as accounts
from app.authz import login_required_any, public
from app.extensions import limiter
from app.forms import PASSWORD_MESSAGES
from app.models import Role
from app.security import normalize_phone

from ..activation import ActivationRefused, activate_with_code
from ..forms import ActivationForm

bp = Blueprint("contactbook_public", __name__, url_prefix="/contactbook")


@bp.route("/")
@login_required_any
def index():
    """Each role's entry into the contact book."""
    if current_user.role == Role.PARENT:
        return redirect(url_for("contactbook_parent.children"))
    if current_user.role == Role.TEACHER:
        return redirect(url_for("contactbook_teacher.teach"))
    if current_user.role == Role.SCHOOL_STAFF and current_user.school_id:
        return redirect(url_for("contactbook_staff.school", school_id=current_user.school_id))
    return redirect(url_for("contactbook_staff.schools"))


def _account_key() -> str:
    raw = (request.form.get("login") or "").strip().lower()
    return "activate-account:" + (normalize_phone(raw) or raw[:254])


def _failed(response) -> bool:
    return response.status_code != 302


@bp.route("/activate", methods=["GET", "POST"])
@public
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], deduct_when=_failed)
@limiter.limit(
    lambda: current_app.config["LOGIN_LIMIT_PER_ACCOUNT"],
    key_func=_account_key,
    methods=["POST"],
    deduct_when=_failed,
)
def activate():
    if current_user.is_authenticated:
        return redirect(url_for("contactbook_public.index"))
    form = ActivationForm()
    if form.validate_on_submit() & privacy.notice_accepted(form):  # both report their errors
        try:
            user = activate_with_code(form.login.data, form.code.data, form.password.data)
        except ActivationRefused as refused:
            if refused.code == "no_match":  # one message whatever was wrong (no account enumeration)
                form.code.errors.append(
                    _(
                        "This phone number or email and code do not match, or the code has expired or been used. Ask the school for a new code."
                    )
                )
            else:
                form.password.errors.append(PASSWORD_MESSAGES[refused.code] % {"n": refused.n})
        else:
            if user.role == Role.PARENT:
                privacy.record(user.id, "contact_book")  # the notice ticked on this form
            session.clear()
            accounts.start_session(user, request.headers.get("User-Agent", ""))
            session.permanent = True
            login_user(user)
            flash(_("Your account is ready. Welcome!"), "success")
            return redirect(url_for("contactbook_public.index"))
    status = 422 if form.is_submitted() else 200
    return render_template("contactbook/activate.html", form=form), status
