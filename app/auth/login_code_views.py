"""Logging in with a code by SMS after many failed logins (blueprint `auth`). Rules: lockout.py."""

from flask import redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..authz import public
from ..models import CodePurpose
from . import lockout, throttle
from .code_forms import LoginCodeForm, LoginCodeStartForm
from .code_views import CODE_ERRORS, _anonymous_waiting, _code_checks, _code_entered, _code_limits, _login_key
from .views import _safe_next, bp

PENDING = "login_code"  # session key: the id of the login code this browser waits on

# A wrong code and a wrong password read alike: the page tells a stranger nothing about either.
ERRORS = {**CODE_ERRORS, "wrong": lambda: _("The code or the password is wrong.")}


@bp.route("/login/code/send", methods=["POST"])
@public
@_code_limits(_login_key)
def login_code_send():
    form = LoginCodeStartForm()
    next_ = request.args.get("next")
    if current_user.is_authenticated or not form.validate_on_submit():
        return redirect(url_for("auth.login", next=next_))
    if not throttle.code_required(throttle.account_key(form.login.data)):
        return redirect(url_for("auth.login", next=next_))  # the password alone works again
    session[PENDING] = lockout.start(form.login.data).id
    return redirect(url_for("auth.login_code", next=next_))


@bp.route("/login/code", methods=["GET", "POST"])
@public
@_code_checks
def login_code():
    row = _anonymous_waiting(CodePurpose.LOGIN, PENDING)
    if row is None:
        return redirect(url_for("auth.login"))
    form = LoginCodeForm()
    if form.validate_on_submit() and _code_entered(
        form, PENDING, lambda: lockout.finish(row, form.code.data, form.password.data), ERRORS
    ):
        return redirect(_safe_next(request.args.get("next")))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login_code.html", form=form), status
