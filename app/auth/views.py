"""Login, logout, parent registration and password change (blueprint `auth`, /auth/…)."""

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_limiter.util import get_remote_address
from flask_login import current_user, login_user, logout_user

from .. import pagecache, privacy
from ..authz import login_required_any, public
from ..extensions import limiter
from ..models import STAFF_ROLES
from ..security import normalize_phone, safe_next_path
from . import devices, lockout, services, throttle, verification
from .code_forms import LoginCodeStartForm
from .forms import ChangePasswordForm, LoginForm, NewPasswordForm, RegisterForm

bp = Blueprint("auth", __name__, url_prefix="/auth")


def _failed(response) -> bool:
    # Only failed attempts count: many families share one carrier-grade NAT address.
    return response.status_code != 302


def _safe_next(target: str | None) -> str:
    # Only same-site paths: never redirect to another host after login.
    return safe_next_path(target) or url_for("core.home")


def _try_again_in(seconds: int) -> str:
    return ngettext(
        "Too many failed attempts for this account. Try again in %(num)d second.",
        "Too many failed attempts for this account. Try again in %(num)d seconds.",
        seconds,
    )


def _needs_code() -> str:
    return _(
        "Too many failed attempts for this account. To log in, ask for a code by SMS to the "
        "account's phone and enter it with the password."
    )


def _begin_session(user) -> None:
    session.clear()  # a new session at login: nothing from before survives
    services.start_session(
        user, request.headers.get("User-Agent", ""), devices.ip_prefix(request.remote_addr)
    )
    session.permanent = True
    if user.locale:
        session["lang"] = user.locale
    login_user(user)


@bp.route("/login", methods=["GET", "POST"])
@public
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], deduct_when=_failed)
# Per account: a growing delay after repeated failures, never a lockout of the owner (throttle.py).
def login():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    page = pagecache.public_form_page("auth/login.html", lambda: {"form": LoginForm()})
    if page is not None:
        return page
    form = LoginForm()
    if form.validate_on_submit():
        key = throttle.account_key(form.login.data)
        state = throttle.login_state(key)
        if state.code_required and lockout.needs_code(form.login.data):
            # The password alone is no longer taken: a code by SMS to the account's phone is.
            form.password.errors.append(_needs_code())
            start = LoginCodeStartForm(login=form.login.data)
            return render_template("auth/login.html", form=form, code_form=start), 429
        if state.wait:
            form.password.errors.append(_try_again_in(state.wait))
            return render_template("auth/login.html", form=form), 429
        user = services.authenticate(form.login.data, form.password.data)
        if user is None:
            wait = throttle.failed(key)
        if user is not None:
            throttle.succeeded(key, state)
            lang = session.get("lang")
            _begin_session(user)
            if lang and not user.locale:
                session["lang"] = lang
            return redirect(_safe_next(request.args.get("next")))
        # One message whether the account exists or not (no account enumeration).
        form.password.errors.append(_("Wrong phone number/email or password."))
        if wait:
            form.password.errors.append(_try_again_in(wait))
        return render_template("auth/login.html", form=form), 200
    status = 422 if form.is_submitted() else 200
    return render_template("auth/login.html", form=form), status


@bp.route("/logout", methods=["POST"])
@login_required_any
def logout():
    services.end_session(current_user.get_id())
    logout_user()
    session.clear()
    flash(_("You have logged out."), "info")
    return redirect(url_for("auth.login"))


def _succeeded(response) -> bool:
    return response.status_code == 302


@bp.route("/register", methods=["GET", "POST"])
@public
# Failed sign-ups (guessing which phones have accounts, bad forms) count like failed logins;
# accounts created count against a separate, much higher cap: on opening day many families
# register from behind one carrier-grade NAT address.
@limiter.limit(lambda: current_app.config["LOGIN_LIMIT_PER_IP"], methods=["POST"], deduct_when=_failed)
@limiter.limit(
    lambda: current_app.config["REGISTER_LIMIT_PER_IP"],
    methods=["POST"],
    deduct_when=_succeeded,
    key_func=lambda: "register-ip:" + get_remote_address(),
)
@limiter.limit(
    lambda: current_app.config["CODE_LIMIT_PER_PHONE"],
    methods=["POST"],
    deduct_when=_succeeded,
    key_func=lambda: "code-phone:" + (normalize_phone(request.form.get("phone")) or "-"),
)
@limiter.limit(
    lambda: current_app.config["CODE_LIMIT_PER_IP"],
    methods=["POST"],
    deduct_when=_succeeded,
    key_func=lambda: "code-ip:" + get_remote_address(),
)
def register():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    page = pagecache.public_form_page("auth/register.html", lambda: {"form": RegisterForm()})
    if page is not None:
        return page
    form = RegisterForm()
    if form.validate_on_submit() & privacy.notice_accepted(form):  # both report their errors
        # The same answer whether or not the number has an account: the SMS says what to do.
        row = verification.start_registration(
            form.full_name.data, normalize_phone(form.phone.data), form.password.data
        )
        session["phone_code"] = row.id
        return redirect(url_for("auth.verify"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/register.html", form=form), status


# Pages an account that must choose its first password may still open (see first_password_gate).
FIRST_PASSWORD_OPEN = {None, "static", "core.set_language", "auth.logout", "auth.change_password"}


@bp.before_app_request
def first_password_gate():
    """An administrator's initial password or activation code opens one page: choosing a new one."""
    if request.endpoint in FIRST_PASSWORD_OPEN or not current_user.is_authenticated:
        return None
    if current_user.must_change_password:
        return redirect(url_for("auth.change_password"))
    return None


@bp.route("/password", methods=["GET", "POST"])
@login_required_any
def change_password():
    user = current_user._get_current_object()
    # After an administrator's initial password or activation code the holder chooses their own
    # (the gate in lifecycle_views keeps every other page closed until then): no current password.
    first = user.must_change_password
    staff = user.role in STAFF_ROLES
    form = NewPasswordForm(staff=staff) if first else ChangePasswordForm(staff=staff)
    if form.validate_on_submit():
        if not first and not services.passwords().verify(user.password_hash, form.current.data):
            form.current.errors.append(_("The current password is wrong."))
        else:
            services.change_password(user, form.password.data)
            _begin_session(user)
            flash(_("Your password has been changed. Other devices have been logged out."), "success")
            return redirect(url_for("core.home"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/password.html", form=form, first=first), status
