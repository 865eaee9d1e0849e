"""Logging in with a code by SMS after many failed logins (blueprint `auth`). Rules: lockout.py."""

from flask import redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..authz import public
from ..jobs import keep_writes
from ..models import CodePurpose
from . import lockout, throttle, verification
from .code_forms import LoginCodeForm, LoginCodeStartForm
from .code_views import CODE_ERRORS, _code_checks, _code_limits, _fresh_session, _login_key
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
    row = verification.pending(session.get(PENDING))
    if current_user.is_authenticated or row is None or row.purpose != CodePurpose.LOGIN:
        return redirect(url_for("auth.login"))
    form = LoginCodeForm()
    if form.validate_on_submit():
        try:
            user = lockout.finish(row, form.code.data, form.password.data)
        except verification.CodeError as err:
            form.code.errors.append(ERRORS[err.reason]())
            keep_writes()  # a wrong try counts
        else:
            session.pop(PENDING, None)
            _fresh_session(user)
            return redirect(_safe_next(request.args.get("next")))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login_code.html", form=form), status
