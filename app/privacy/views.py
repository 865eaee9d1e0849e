"""The privacy notice (public) and a parent's consents (blueprint `privacy`, /privacy/…)."""

from __future__ import annotations

import json
from datetime import date

from flask import Blueprint, Response, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from ..authz import public, roles_required
from ..i18n import select_locale
from ..models import Role, utcnow
from . import consent, corrections, deletion, downloads, reading
from .children import age_on, children_of, needs_own_consent
from .forms import AnswerForm, CorrectionForm

bp = Blueprint("privacy", __name__, url_prefix="/privacy")


@bp.route("/notice")
@public
def notice():
    lang = "vi" if str(select_locale() or "vi").startswith("vi") else "en"
    return render_template("privacy/notice.html", version=consent.notice_version(), lang=lang)


@bp.route("/")
@roles_required(Role.PARENT)
def account():
    today = date.today()
    from_age = current_app.config["PRIVACY_CHILD_CONSENT_AGE"]
    kids = [
        (
            c,
            age_on(c.date_of_birth, today),
            needs_own_consent(c, today, from_age),
            consent.active(current_user.id, consent.CHILD_CONTACT_BOOK, c.subject),
        )
        for c in children_of(current_user)
        if c.purpose == consent.CONTACT_BOOK
    ]
    return render_template(
        "privacy/account.html",
        purposes=consent.PURPOSES.values(),
        given={p: consent.active(current_user.id, p) for p in consent.PURPOSES},
        history=consent.history(current_user.id),
        labels=consent.LABELS,
        corrections=corrections.mine(current_user.id),
        children=kids,
        from_age=from_age,
        version=consent.notice_version(),
    )


@bp.route("/consents/<purpose>", methods=["POST"])
@roles_required(Role.PARENT)
def change(purpose: str):
    if purpose not in consent.PURPOSES:
        abort(404)
    if request.form.get("action") == "withdraw":
        if consent.withdraw(current_user.id, purpose):
            flash(_("Consent withdrawn: %(effect)s", effect=consent.PURPOSES[purpose].effect), "success")
    else:
        consent.give(current_user.id, purpose)
        flash(_("Consent recorded."), "success")
    return redirect(url_for("privacy.account"))


@bp.route("/children/consent", methods=["POST"])
@roles_required(Role.PARENT)
def child_consent():
    subject = request.form.get("subject", "")
    if subject not in {c.subject for c in children_of(current_user) if c.purpose == consent.CONTACT_BOOK}:
        abort(404)
    if request.form.get("action") == "withdraw":
        consent.withdraw(current_user.id, consent.CHILD_CONTACT_BOOK, subject)
        flash(_("Your child's consent is recorded as withdrawn."), "success")
    else:
        consent.give(current_user.id, consent.CHILD_CONTACT_BOOK, subject)
        flash(_("Your child's consent is recorded."), "success")
    return redirect(url_for("privacy.account"))


@bp.route("/downloads", methods=["POST"])
@roles_required(Role.PARENT)
def request_download():
    row = downloads.request_download(current_user)
    return redirect(url_for("privacy.download", request_id=row.id))


def _own_or_404(request_id: int):
    row = downloads.own_request_or_none(current_user.id, request_id)
    if row is None:
        abort(404)
    return row


@bp.route("/downloads/<int:request_id>")
@roles_required(Role.PARENT)
def download(request_id: int):
    row = _own_or_404(request_id)
    return render_template("privacy/download.html", row=row, expired=downloads.is_expired(row))


def _ready_or_410(request_id: int):
    row = _own_or_404(request_id)
    if row.content is None or downloads.is_expired(row):
        abort(410)
    return row


@bp.route("/downloads/<int:request_id>/data.json")
@roles_required(Role.PARENT)
def download_json(request_id: int):
    row = _ready_or_410(request_id)
    name = f"du-lieu-ca-nhan-{row.ready_at:%Y%m%d}.json"
    return Response(
        row.content,
        mimetype="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@bp.route("/downloads/<int:request_id>/document")
@roles_required(Role.PARENT)
def download_document(request_id: int):
    row = _ready_or_410(request_id)
    doc = json.loads(row.content)
    return render_template(
        "privacy/document.html", parts=reading.readable(doc), generated=reading.when(doc["generated_at"])
    )


@bp.route("/corrections/new", methods=["GET", "POST"])
@roles_required(Role.PARENT)
def new_correction():
    kids = {c.subject: c for c in children_of(current_user) if c.purpose == consent.ADMISSIONS}
    form = CorrectionForm()
    form.subject.choices = [SelectChoice(s, c.name) for s, c in kids.items()]
    if form.validate_on_submit():
        corrections.ask(current_user, kids[form.subject.data], form.details.data)
        flash(_("Your request is in the office's queue. You will find its answer on this page."), "success")
        return redirect(url_for("privacy.account"))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "privacy/correction.html", form=form, hours=current_app.config["PRIVACY_ANSWER_HOURS"]
    ), status


@bp.route("/queue")
@roles_required(Role.CITY_ADMIN, Role.DISTRICT_OFFICER)
def queue():
    rows = corrections.queue(current_user)
    statements = {r.id: json.loads(r.details) for r in rows if r.kind == "deletion"}
    return render_template(
        "privacy/queue.html", rows=rows, statements=statements, form=AnswerForm(), now=utcnow()
    )


@bp.route("/queue/<int:request_id>", methods=["POST"])
@roles_required(Role.CITY_ADMIN, Role.DISTRICT_OFFICER)
def answer(request_id: int):
    row = corrections.in_scope(current_user, request_id)
    if row is None:
        abort(404)
    form = AnswerForm()
    if not form.validate_on_submit():
        flash(_("Write the answer the family will read."), "error")
    elif corrections.answer(row, current_user, form.outcome.data, form.answer.data):
        flash(_("Answer recorded."), "success")
    else:
        flash(_("This request was answered already."), "info")
    return redirect(url_for("privacy.queue"))


@bp.route("/delete", methods=["GET", "POST"])
@roles_required(Role.PARENT)
def delete_account():
    if request.method == "POST" and request.form.get("confirm") == "yes":
        deletion.ask(current_user)
        flash(_("Your request to delete the account is in the office's queue."), "success")
        return redirect(url_for("privacy.account"))
    error = request.method == "POST"
    items = deletion.plan(current_user)
    return render_template("privacy/delete.html", items=items, error=error), 422 if error else 200
