"""Pages of the one-time codes (blueprint `auth`): entering a code, sending it again, confirming
an account's phone, changing it, and forgot password. Rules: verification.py, recovery.py."""

from flask import current_app, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_limiter.util import get_remote_address
from flask_login import current_user

from .. import pagecache, privacy
from ..authz import login_required_any, public
from ..extensions import limiter
from ..jobs import keep_writes
from ..models import STAFF_ROLES, CodePurpose
from ..security import mask_phone, normalize_phone
from . import recovery, services, verification
from .code_forms import CodeForm, ForgotForm, NewPasswordForm, PhoneForm, ResetForm, SendCodeForm
from .views import _begin_session, bp

PENDING = "phone_code"  # session key: the id of the code this browser waits on

CODE_ERRORS = {
    "wrong": lambda: _("Wrong code. Check the SMS and try again."),
    "tries": lambda: _("Too many wrong codes. Ask for a new code."),
    "expired": lambda: _("This code is no longer valid. Ask for a new code."),
}

# Pages a parent whose phone is unproven may still open (see gate below).
GATE_OPEN = {
    None,
    "static",
    "core.set_language",
    "auth.logout",
    "auth.confirm_phone",
    "auth.verify",
    "auth.verify_resend",
}


def _sent(response) -> bool:
    return response.status_code == 302


def _failed(response) -> bool:
    return response.status_code != 302


def _phone_key(field: str):
    def key() -> str:
        raw = (request.form.get(field) or "").strip().lower().replace("\x00", "")
        return "code-phone:" + (normalize_phone(raw) or raw[:254])

    return key


def _login_key() -> str:
    # Forgot password: the number the code goes to, whether the visitor typed it or an email.
    user = services.find_by_login(request.form.get("login") or "")
    return "code-phone:" + user.phone if user is not None and user.phone else _phone_key("login")()


def _pending_key() -> str:
    return "code-phone:" + verification.pending_phone(session.get(PENDING))


def _code_limits(phone_key):
    """Codes sent, per number and per address (only requests that sent one count)."""

    def decorate(view):
        view = limiter.limit(
            lambda: current_app.config["CODE_LIMIT_PER_PHONE"],
            key_func=phone_key,
            methods=["POST"],
            deduct_when=_sent,
        )(view)
        return limiter.limit(
            lambda: current_app.config["CODE_LIMIT_PER_IP"],
            key_func=lambda: "code-ip:" + get_remote_address(),
            methods=["POST"],
            deduct_when=_sent,
        )(view)

    return decorate


def _fresh_session(user) -> None:
    """A new login session that keeps the language the visitor chose before (as login does)."""
    lang = session.get("lang")
    _begin_session(user)
    if lang and not user.locale:
        session["lang"] = lang


def _wait_for(row) -> None:
    session[PENDING] = row.id


def _anonymous_waiting(purpose: CodePurpose, pending_key: str = PENDING):
    """The code of `purpose` this browser waits on, logged out; None otherwise."""
    row = verification.pending(session.get(pending_key))
    if current_user.is_authenticated or row is None or row.purpose != purpose:
        return None
    return row


def _code_entered(form, pending_key: str, finish, errors=CODE_ERRORS):
    """A code entered (with a password) on `form`: the account `finish()` returns, logged in with
    a fresh session and the browser no longer waiting on the code; or None, the reason on the
    code field (a wrong try counts: kept although the page answers an error)."""
    try:
        user = finish()
    except verification.CodeError as err:
        form.code.errors.append(errors[err.reason]())
        keep_writes()
        return None
    session.pop(pending_key, None)
    _fresh_session(user)
    return user


@bp.before_app_request
def gate():
    """A parent account whose phone is unproven sees nothing until it enters a code."""
    if request.endpoint in GATE_OPEN or not current_user.is_authenticated:
        return None
    if verification.must_confirm(current_user):
        return redirect(url_for("auth.confirm_phone"))
    return None


# Entering a code: failed tries per address, shared by every page that takes one.
_code_checks = limiter.limit(
    lambda: current_app.config["CODE_CHECK_LIMIT_PER_IP"],
    key_func=lambda: "code-check:" + get_remote_address(),
    methods=["POST"],
    deduct_when=_failed,
)


_PHONE = pagecache.marker("phone")


def _verify_page_context() -> dict:
    return {"form": CodeForm(), "resend": SendCodeForm(), "phone": _PHONE, "purpose": CodePurpose.REGISTER}


@bp.route("/verify", methods=["GET", "POST"])
@public
@_code_checks
def verify():
    if request.method == "POST":  # entering it: the number's account comes in the same statement
        row, holder = verification.pending_with_holder(session.get(PENDING))
    else:
        row, holder = verification.pending(session.get(PENDING)), None
    if row is None or row.purpose == CodePurpose.RESET:
        return redirect(url_for("auth.register"))
    for_account = row.purpose != CodePurpose.REGISTER
    if for_account and (not current_user.is_authenticated or current_user.id != row.user_id):
        return redirect(url_for("auth.login"))
    if request.method == "GET" and not for_account:  # a new family's: the same page for all
        page = pagecache.public_form_page(
            "auth/verify.html", _verify_page_context, {_PHONE: mask_phone(row.phone)}
        )
        if page is not None:
            return page
    form = CodeForm()
    if form.validate_on_submit():
        try:
            if for_account:
                verification.check(row, form.code.data)
                user = current_user._get_current_object()
                verification.finish_for_account(row, user)
            else:
                user = verification.finish_registration(row, form.code.data, holder)
                privacy.record(user.id, "admissions")  # the register form's ticked notice
        except verification.CodeError as err:
            form.code.errors.append(CODE_ERRORS[err.reason]())
            keep_writes()  # a wrong try counts
        else:
            session.pop(PENDING, None)
            if not for_account or row.purpose == CodePurpose.PHONE:
                _fresh_session(user)
            flash(
                _("Your phone number is confirmed.") if for_account else _("Welcome! Your account is ready."),
                "success",
            )
            return redirect(url_for("core.home"))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "auth/verify.html", form=form, resend=SendCodeForm(), phone=mask_phone(row.phone), purpose=row.purpose
    ), status


@bp.route("/verify/resend", methods=["POST"])
@public
@_code_limits(_pending_key)
def verify_resend():
    row = verification.pending(session.get(PENDING))
    form = SendCodeForm()
    if row is None or not form.validate_on_submit():
        return redirect(url_for("auth.register"))
    for_account = row.purpose in (CodePurpose.CONFIRM, CodePurpose.PHONE)
    if for_account and (not current_user.is_authenticated or current_user.id != row.user_id):
        return redirect(url_for("auth.login"))
    _wait_for(verification.resend(row))
    flash(_("We sent a new code. The earlier one no longer works."), "info")
    return redirect(url_for("auth.reset" if row.purpose == CodePurpose.RESET else "auth.verify"))


@bp.route("/confirm-phone", methods=["GET", "POST"])
@login_required_any
@_code_limits(lambda: "code-phone:" + (current_user.phone or "") if current_user.is_authenticated else "")
def confirm_phone():
    if not verification.must_confirm(current_user):
        return redirect(url_for("core.home"))
    form = SendCodeForm()
    if form.validate_on_submit():
        row = verification.start_confirmation(current_user._get_current_object())
        if row is not None:
            _wait_for(row)
            return redirect(url_for("auth.verify"))
    return render_template("auth/confirm_phone.html", form=form, phone=mask_phone(current_user.phone))


@bp.route("/phone", methods=["GET", "POST"])
@login_required_any
@_code_limits(_phone_key("phone"))
def change_phone():
    # (A parent whose number is unproven never gets here: the gate sends it to confirm the number
    # first. Otherwise a stranger holding a parent's number from before the codes could move the
    # account, with the children the school linked to that number, to a number of their own.)
    form = PhoneForm()
    if form.validate_on_submit():
        if not services.passwords().verify(current_user.password_hash, form.password.data):
            form.password.errors.append(_("The current password is wrong."))
        elif normalize_phone(form.phone.data) == current_user.phone and verification.is_proven(current_user):
            form.phone.errors.append(_("This is already your phone number."))
        else:
            user = current_user._get_current_object()
            _wait_for(verification.start_phone_change(user, normalize_phone(form.phone.data)))
            return redirect(url_for("auth.verify"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/phone.html", form=form, phone=mask_phone(current_user.phone)), status


@bp.route("/forgot", methods=["GET", "POST"])
@public
@_code_limits(_login_key)
def forgot():
    if current_user.is_authenticated:
        return redirect(url_for("auth.change_password"))
    form = ForgotForm()
    if form.validate_on_submit():
        _wait_for(recovery.start_reset(form.login.data))
        return redirect(url_for("auth.reset"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/forgot.html", form=form), status


@bp.route("/reset", methods=["GET", "POST"])
@public
@_code_checks
def reset():
    row = _anonymous_waiting(CodePurpose.RESET)
    if row is None:
        return redirect(url_for("auth.forgot"))
    form = ResetForm(staff=row.user is not None and row.user.role in STAFF_ROLES)
    if form.validate_on_submit() and _code_entered(
        form, PENDING, lambda: recovery.finish_reset(row, form.code.data, form.password.data)
    ):
        flash(_("Your password has been changed. Other devices have been logged out."), "success")
        return redirect(url_for("core.home"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/reset.html", form=form, resend=SendCodeForm()), status


@bp.route("/reset/link", methods=["GET", "POST"])
@public
def reset_link():
    """The link emailed to an account without a phone: a new password (the link works once)."""
    user = recovery.link_user(request.args.get("t", ""))
    if current_user.is_authenticated or user is None:
        return render_template("auth/reset_link.html", form=None), 404
    form = NewPasswordForm(staff=user.role in STAFF_ROLES)
    if form.validate_on_submit():
        recovery.finish_link_reset(user, form.password.data)
        _fresh_session(user)
        flash(_("Your password has been changed. Other devices have been logged out."), "success")
        return redirect(url_for("core.home"))
    status = 422 if form.is_submitted() else 200
    return render_template("auth/reset_link.html", form=form), status
