"""Account activation with a one-time code (guardians from the printed class sheet, teachers
from their email). Public, rate-limited like the login form."""

from __future__ import annotations

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user

from app.auth import services as accounts
from app.authz import public
from app.extensions import limiter
from app.forms import PASSWORD_MESSAGES
from app.models import STAFF_ROLES
from app.security import MAX_PASSWORD, normalize_phone, password_problem

from . import activation
from .forms import ActivationForm
from .web import bp


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
        return redirect(url_for("contactbook.index"))
    form = ActivationForm()
    if form.validate_on_submit():
        found = activation.check_code(form.login.data, form.code.data)
        if found is None:
            # One message whatever was wrong (no account enumeration).
            form.code.errors.append(
                _(
                    "This phone number or email and code do not match, or the code has expired or been used. Ask the school for a new code."
                )
            )
        else:
            user, row = found
            staff = user.role in STAFF_ROLES
            context = (user.full_name, user.phone or "", user.email or "")
            problem = password_problem(form.password.data, staff=staff, context=context)
            if problem:
                n = MAX_PASSWORD if problem == "too_long" else (12 if staff else 8)
                form.password.errors.append(PASSWORD_MESSAGES[problem] % {"n": n})
            else:
                activation.activate(user, row, form.password.data)
                session.clear()
                accounts.start_session(user, request.headers.get("User-Agent", ""))
                session.permanent = True
                login_user(user)
                flash(_("Your account is ready. Welcome!"), "success")
                return redirect(url_for("contactbook.index"))
    status = 422 if form.is_submitted() else 200
    return render_template("contactbook/activate.html", form=form), status
