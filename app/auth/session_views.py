"""The sessions page (blueprint `auth`): where the account is logged in, and logging out the others.
Rules: sessions.py."""

from flask import abort, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from ..authz import login_required_any
from . import sessions
from .code_forms import SendCodeForm
from .views import bp


@bp.route("/sessions")
@login_required_any
def sessions_page():
    return render_template(
        "auth/sessions.html", lines=sessions.account_sessions(current_user), form=SendCodeForm()
    )


@bp.route("/sessions/others", methods=["POST"])
@login_required_any
def end_other_sessions():
    if not SendCodeForm().validate_on_submit():
        abort(400)
    ended = sessions.end_others(current_user._get_current_object())
    flash(
        ngettext(
            "%(num)d other session has been logged out.",
            "%(num)d other sessions have been logged out.",
            ended,
        )
        if ended
        else _("There was no other session."),
        "success",
    )
    return redirect(url_for("auth.sessions_page"))


@bp.route("/sessions/<int:session_id>/end", methods=["POST"])
@login_required_any
def end_session(session_id: int):
    if not SendCodeForm().validate_on_submit():
        abort(400)
    if not sessions.end_one(current_user._get_current_object(), session_id):
        abort(404)
    flash(_("That session has been logged out."), "success")
    return redirect(url_for("auth.sessions_page"))
