"""Parents: my children, adding a child with an admission code, the application and its receipt,
answering an offer, and answering the school's admission council.

Every child, application and receipt is loaded through the parent's own guardianship links
(family.own_child_with_season, access.child_among_or_404 / own_application_or_404): another
family's ids answer 404.
"""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, url_for
from flask_babel import format_datetime
from flask_babel import gettext as _
from flask_login import current_user

from app import jobs
from app.authz import roles_required
from app.extensions import limiter
from app.models import Role

from .. import applications, council, family, notify, rules, seasons
from ..access import child_among_or_404, own_application_or_404
from ..forms import AddChildForm, ApplicationForm, ConfirmForm, MessageForm, level_labels
from ..offers import offer_views, respond_to_offer, shown_status
from .council import council_labels, error_text

bp = Blueprint("admissions_parent", __name__)


def _add_child_limit() -> str:
    return current_app.config.get("ADD_CHILD_LIMIT", "20/hour")


def _user_key() -> str:
    return f"add-child:{current_user.id}"


def add_child_message(err: rules.AdmissionError) -> str:
    if err.code == "locked":
        until = format_datetime(err.params["until"], "HH:mm dd/MM/yyyy")
        return _(
            "This code is locked after %(n)d failed attempts. Try again after %(time)s.",
            n=rules.MAX_FAILED_ATTEMPTS,
            time=until,
        )
    if err.code == "mismatch":
        return _(
            "The admission code, personal ID and date of birth do not match the residency records. "
            "Check all three against the school's paper and the birth certificate. "
            "%(left)d attempts left before this code is locked for 15 minutes.",
            left=err.params["left"],
        )
    return {
        "bad_code": _("This code has a typing mistake: compare it with the paper from the school."),
        "unknown_code": _("No child has this admission code. Check it against the paper from the school."),
        "registry_down": _(
            "The population registry does not answer right now. Nothing was counted against you: "
            "try again in a few minutes."
        ),
    }[err.code]


def apply_message(code: str, limit: int = rules.MAX_OTHER_CHOICES) -> str:
    return {
        "no_season": _("No admissions season is set up yet."),
        "not_eligible": _("This child is not of the age admitted this year."),
        "not_scheduled": _("Registration for this level has not been published yet."),
        "upcoming": _("Registration has not opened yet."),
        "closed": _("Registration is closed."),
        "too_many": _("Choose at most %(n)d other schools.", n=limit),
        "repeated": _("Each school may be chosen only once."),
        "catchment_listed": _(
            "Your catchment school is already guaranteed as the last choice: do not list it."
        ),
        "not_allowed": _("Choose schools from the list."),
        "locked_status": _("This application can no longer be changed: the allocation has started."),
        "no_application": _("There is no application to withdraw."),
    }[code]


def _common():
    return {"labels": level_labels(), "statuses": notify.StatusLabels(), "format_code": rules.format_code}


def submitted_message(outcome: str, name: str) -> str:
    return {
        "created": _("The application for %(name)s has been submitted.", name=name),
        "updated": _("The application for %(name)s has been changed.", name=name),
        "resubmitted": _("The application for %(name)s has been submitted again.", name=name),
        "replayed": _("The application for %(name)s was already received.", name=name),
        "exists": _(
            "An application for %(name)s had already been submitted (perhaps from another "
            "tab or by the other parent). Nothing was changed: review it below.",
            name=name,
        ),
    }[outcome]


def offer_message(code: str) -> str:
    return {
        "expired": _(
            "The answer-by time has passed: the offer has expired and the seat has been given back."
        ),
        "no_offer": _("There is no offer to answer for this child."),
    }[code]


def _applications_with_offers(child_ids: list[int]):
    """Every application of these children, with the explanation of each result."""
    apps = family.applications_by_child(child_ids)
    return apps, offer_views([a for lst in apps.values() for a in lst])


@bp.route("/children/")
@roles_required(Role.PARENT)
def my_children():
    children = family.children_of(current_user)
    apps, offers = _applications_with_offers([c.id for c in children])
    return render_template(
        "admissions/parent_children.html", children=children, apps=apps, offers=offers, **_common()
    )


@bp.route("/children/add", methods=["GET", "POST"])
@roles_required(Role.PARENT)
@limiter.limit(
    _add_child_limit, key_func=_user_key, methods=["POST"], deduct_when=lambda r: r.status_code != 302
)
def add_child():
    form = AddChildForm()
    if form.validate_on_submit():
        try:
            child, new, season = applications.link_child(
                current_user, form.code.data, form.personal_id.data, form.date_of_birth.data
            )
        except rules.AdmissionError as err:
            form.code.errors.append(add_child_message(err))
            if err.code in ("mismatch", "locked"):
                jobs.keep_writes()  # the failed attempt counts towards the lockout
            return render_template("admissions/parent_add_child.html", form=form), 422
        if new:
            flash(_("%(name)s has been added to your account.", name=child.full_name), "success")
        else:
            flash(_("%(name)s is already in your account.", name=child.full_name), "info")
        if applications.closed_without_application(child, season):
            flash(
                _(
                    "Registration is already closed: %(name)s has no application this season. "
                    "Read the next step on the child's page.",
                    name=child.full_name,
                ),
                "warning",
            )
        return redirect(url_for(".child", child_id=child.id))
    return render_template("admissions/parent_add_child.html", form=form), (
        422 if form.is_submitted() else 200
    )


@bp.route("/children/<int:child_id>")
@roles_required(Role.PARENT)
def child(child_id: int):
    children, season, apps = family.child_page(current_user, child_id)
    kid = child_among_or_404(children, child_id)
    offers = offer_views(apps)
    ctx = applications.apply_context(kid, season, loaded=apps, choosable=False)
    return render_template(
        "admissions/parent_child.html",
        child=kid,
        ctx=ctx,
        children=children,
        apps=apps,
        offers=offers,
        withdraw_form=ConfirmForm(),
        offer_form=ConfirmForm(),
        reason=ctx.reason and apply_message(ctx.reason),
        **_common(),
    )


@bp.route("/children/<int:child_id>/application", methods=["GET", "POST"])
@roles_required(Role.PARENT)
def apply(child_id: int):
    kid, season, loaded = family.own_child_with_season(current_user, child_id)
    ctx = applications.apply_context(kid, season, loaded=loaded)
    if ctx.level is None:
        flash(apply_message(ctx.reason or "not_eligible"), "error")
        return redirect(url_for(".child", child_id=kid.id))
    form = ApplicationForm()
    form.set_options(ctx.options, ctx.sibling_options, ctx.level.max_other_choices)
    if not form.is_submitted():
        form.start(ctx.application)
    if form.validate_on_submit():
        try:
            result = applications.submit_application(
                ctx,
                current_user,
                form.ranked(),
                form.sibling_school.data or None,
                form.token.data,
                form.expected_id(),
            )
        except rules.AdmissionError as err:
            if err.field == "choices":
                form.choice_1.errors.append(apply_message(err.code, ctx.level.max_other_choices))
            elif err.field == "sibling_school":
                form.sibling_school.errors.append(apply_message(err.code))
            else:
                flash(apply_message(err.code), "error")
                return redirect(url_for(".child", child_id=kid.id))
        else:
            flash(
                submitted_message(result.outcome, kid.full_name),
                "warning" if result.outcome == "exists" else "success",
            )
            return redirect(url_for(".receipt", application_id=result.application.id))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "admissions/parent_apply.html",
        form=form,
        child=kid,
        ctx=ctx,
        reason=ctx.reason and apply_message(ctx.reason),
        labels=level_labels(),  # the form shows no status (the statuses' labels are not built)
    ), status


@bp.route("/children/<int:child_id>/application/withdraw", methods=["POST"])
@roles_required(Role.PARENT)
def withdraw(child_id: int):
    kid, season, loaded = family.own_child_with_season(current_user, child_id)
    ctx = applications.apply_context(kid, season, loaded=loaded)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        applications.withdraw_application(ctx, current_user)
    except rules.AdmissionError as err:
        flash(apply_message(err.code), "error")
    else:
        flash(
            _(
                "The application for %(name)s has been withdrawn. You can apply again until the window closes.",
                name=kid.full_name,
            ),
            "success",
        )
    return redirect(url_for(".child", child_id=kid.id))


@bp.route("/children/applications/<int:application_id>/receipt")
@roles_required(Role.PARENT)
def receipt(application_id: int):
    app_ = own_application_or_404(application_id)
    return render_template(
        "admissions/parent_receipt.html",
        app=app_,
        status=shown_status(app_, seasons.now()),
        child=app_.child,
        level=app_.admission_level,
        **_common(),
    )


def _answer(application_id: int, accept: bool):
    app_ = own_application_or_404(application_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    name = app_.child.full_name
    try:
        respond_to_offer(app_, current_user, accept)
    except rules.RoundError as err:
        flash(offer_message(err.code), "error")
    else:
        school = app_.allocated_school.name if app_.allocated_school else ""
        if accept:
            flash(_("The place of %(name)s at %(school)s is confirmed.", name=name, school=school), "success")
        else:
            flash(
                _(
                    "You declined the place of %(name)s at %(school)s; the seat has been given back.",
                    name=name,
                    school=school,
                ),
                "success",
            )
    return redirect(url_for(".child", child_id=app_.child_id))


@bp.route("/children/applications/<int:application_id>/confirm", methods=["POST"])
@roles_required(Role.PARENT)
def confirm_offer(application_id: int):
    return _answer(application_id, True)


@bp.route("/children/applications/<int:application_id>/decline", methods=["POST"])
@roles_required(Role.PARENT)
def decline_offer(application_id: int):
    return _answer(application_id, False)


# ---- the school's admission council -------------------------------------------------------------


@bp.route("/admissions/council/replies/<int:application_id>", methods=["POST"])
@roles_required(Role.PARENT)
def family_reply(application_id: int):
    app_ = own_application_or_404(application_id)
    form = MessageForm()
    if form.validate_on_submit():
        try:
            council.family_reply(app_, current_user, form.body.data)
        except council.CouncilError as err:
            form.body.errors = [*form.body.errors, error_text(err.code)]
        else:
            flash(_("Your answer has been sent to the school's admission council."), "success")
            return redirect(url_for(".child", child_id=app_.child_id))
    return render_template(
        "admissions/council_reply.html", a=app_, child=app_.child, form=form, **council_labels()
    ), 422


@bp.app_template_global("council_kind_labels")
def council_kind_labels():
    return notify.kind_labels()


@bp.app_template_global("council_status_labels")
def council_status_labels():
    return notify.document_status_labels()


@bp.app_template_global("council_flags")
def council_flags(application):
    """For templates/admissions/_council_flags.html on the parent's pages: the council's findings
    about one of the current user's own children (None otherwise). Loaded once per request for all
    of the parent's children (two queries), so that pages listing many children stay bounded."""
    if application is None or not current_user.is_authenticated or current_user.role != Role.PARENT:
        return None
    views = g.get("council_family_views")
    if views is None:
        views = g.council_family_views = council.family_views(current_user)
    return views.get(application.id)
