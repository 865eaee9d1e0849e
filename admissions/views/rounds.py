"""Allocation rounds: the office's pages (create, run, publish, lists, what-if runs, placement of
the unplaced) and their public side (seed commitments, seeds once published, the exchange files,
so that anyone can re-run a published round). Rules: admissions/rounds.py and docs/allocation.md.
"""

from __future__ import annotations

import json
from pathlib import Path

from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    send_file,
    url_for,
)
from flask_babel import gettext as _
from flask_login import current_user

from app.audit import audit
from app.authz import public, roles_required
from app.models import OFFICER_ROLES
from app.paging import cursor_arg, page_arg

from .. import allocation, eligibility, freeze, notify, reports, rounds, rules, seasons, transcript
from ..access import (
    district_or_404,
    level_or_404,
    public_district_or_404,
    public_round_or_404,
    round_or_404,
    round_school_or_404,
    unplaced_or_404,
    what_if_or_404,
)
from ..forms import AssignForm, BeaconForm, ConfirmForm, PublishForm, RunForm, level_labels, what_if_form
from ..models import AllocationRound
from ..placement import assign_seat, level_schools, offer_nearest, placement_rows
from .round_texts import round_error_text, round_messages, round_status_labels

bp = Blueprint("admissions_rounds", __name__, url_prefix="/admissions")
VERIFIER = Path(allocation.__file__).with_name("verify_round.py")

LIST_SIZE = 100


def _page_arg() -> int:
    return page_arg()


def _json_download(data: dict | None, name: str):
    if data is None:
        abort(404)
    resp = Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")), mimetype="application/json")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


def _round_file(rnd: AllocationRound, which: str):
    """A round's input or result file, streamed as stored (reports.round_file)."""
    text = reports.round_file(rnd.id, which)
    if text is None or text == "null":
        abort(404)
    resp = Response(reports.pieces(text), mimetype="application/json")
    resp.headers["Content-Disposition"] = f'attachment; filename="round-{rnd.id}-{which}.json"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


# ---- the office ---------------------------------------------------------------------------------


@bp.route("/office/districts/<int:district_id>/levels/<int:level_id>/rounds", methods=["GET", "POST"])
@roles_required(OFFICER_ROLES)
def rounds_index(district_id: int, level_id: int):
    district, lv = district_or_404(district_id), level_or_404(level_id)
    form = ConfirmForm()
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        try:
            rnd = rounds.create_official_round(lv, district.id, current_user)
        except rules.RoundError as err:
            flash(round_error_text(err.code), "error")
            return redirect(url_for(".rounds_index", district_id=district.id, level_id=lv.id))
        flash(
            _(
                "Round %(n)d created. Its seed's SHA-256 is now public; run the round when registration has closed.",
                n=rnd.number,
            ),
            "success",
        )
        return redirect(url_for(".round_view", round_id=rnd.id))
    items = rounds.rounds_of(lv.id, district.id)
    latest = next((r for r in items if r.is_official), None)
    return render_template(
        "admissions/office_rounds.html",
        district=district,
        level=lv,
        rounds=items,
        form=form,
        can_create=latest is None or latest.is_published,
        next_number=(latest.number + 1) if latest else 1,
        labels=level_labels(),
        statuses=round_status_labels(),
    )


def _round_page(rnd: AllocationRound, publish_form: PublishForm | None = None, status: int = 200):
    if publish_form is None:
        publish_form = PublishForm(formdata=None)
        default = rounds.default_confirm_by(rnd)
        publish_form.confirm_by.data = rules.utc_to_local(default, seasons.timezone()) if default else None
    if rounds.default_confirm_by(rnd) is None:  # the hint must not promise a default the round refuses
        publish_form.confirm_by.description = _(
            "Vietnam time. Required for this round: the level's confirmation deadline is used only "
            "by round 1, and only while it is still ahead."
        )
    return render_template(
        "admissions/office_round.html",
        rnd=rnd,
        level=rnd.admission_level,
        district=public_district_or_404(rnd.district_id),
        schools=eligibility.district_schools(rnd.admission_level, rnd.district_id),
        summary=rnd.summary or {},
        publish_form=publish_form,
        run_form=RunForm(),
        beacon_form=BeaconForm(),
        record=transcript.ledger(rnd.admission_level, rnd.district_id) if rnd.is_official else None,
        attempts=freeze.attempts_of(rnd),
        what_ifs=rounds.what_ifs_of(rnd),
        labels=level_labels(),
        statuses=round_status_labels(),
        classes=notify.CLASS_LABELS,
        error=round_error_text(rnd.error),
    ), status


@bp.route("/office/rounds/<int:round_id>")
@roles_required(OFFICER_ROLES)
def round_view(round_id: int):
    return _round_page(round_or_404(round_id))


@bp.route("/office/rounds/<int:round_id>/status.json")
@roles_required(OFFICER_ROLES)
def round_status(round_id: int):
    rnd = round_or_404(round_id)
    resp = jsonify(
        status=rnd.status,
        progress=rnd.progress,
        final=rnd.is_final,
        status_label=str(round_status_labels().get(rnd.status, rnd.status)),
        error=rnd.error,
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/office/rounds/<int:round_id>/run", methods=["POST"])
@roles_required(OFFICER_ROLES)
def round_run(round_id: int):
    rnd = round_or_404(round_id)
    form = RunForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        rounds.queue_round(rnd, current_user, form.reason.data or "")
    except rules.RoundError as err:
        flash(round_error_text(err.code), "error")  # a new entry version found on the way is kept
    return redirect(url_for(".round_view", round_id=rnd.id))


@bp.route("/office/rounds/<int:round_id>/beacon", methods=["POST"])
@roles_required(OFFICER_ROLES)
def round_beacon(round_id: int):
    rnd = round_or_404(round_id)
    form = BeaconForm()
    commitment = freeze.commitment_of(rnd.admission_level, rnd.district_id)
    if not form.validate_on_submit() or commitment is None:
        flash(round_error_text("beacon_value" if commitment else "not_frozen"), "error")
    else:
        try:
            freeze.enter_beacon(commitment, form.randomness.data, form.source.data, current_user)
        except rules.RoundError as err:
            flash(round_error_text(err.code), "error")
        else:
            flash(_("The beacon value is recorded and public."), "success")
    return redirect(url_for(".round_view", round_id=rnd.id))


@bp.app_template_global("entry_code")
def entry_code(application_id: int) -> str:
    """The entry code of an application (receipts, the public record)."""
    return freeze.entry_code_of(application_id)


@bp.route("/office/rounds/<int:round_id>/publish", methods=["POST"])
@roles_required(OFFICER_ROLES)
def round_publish(round_id: int):
    rnd = round_or_404(round_id)
    form = PublishForm()
    if not form.validate_on_submit():
        return _round_page(rnd, form, 422)
    try:
        counts = rounds.publish_round(
            rnd, current_user, rules.local_to_utc(form.confirm_by.data, seasons.timezone())
        )
    except rules.RoundError as err:
        if err.code == "confirm_by":
            form.confirm_by.errors = [*form.confirm_by.errors, round_error_text(err.code)]
            return _round_page(rnd, form, 422)
        flash(round_error_text(err.code), "error")
        return redirect(url_for(".round_view", round_id=rnd.id))
    # "Without a seat" as the round's page counts it (a later round stores no new "unplaced" rows).
    counts["unplaced"] = (rnd.summary or {}).get("unassigned", counts["unplaced"])
    flash(
        _(
            "Round %(n)d published: %(offered)d offers, %(moved)d moved up, %(unplaced)d without a seat. "
            "The seed is now public and the families are being notified.",
            n=rnd.number,
            **counts,
        ),
        "success",
    )
    auto = offer_nearest(rnd.admission_level, rnd.district_id, current_user)
    if auto:
        flash(
            _(
                "%(n)d catchment children without a seat were offered the nearest school with seats; "
                "you can change it on the placement page.",
                n=auto,
            ),
            "info",
        )
    return redirect(url_for(".round_view", round_id=rnd.id))


@bp.route("/office/rounds/<int:round_id>/input.json")
@roles_required(OFFICER_ROLES)
def round_input(round_id: int):
    rnd = round_or_404(round_id)
    audit("admissions.round.download", rnd, file="input")
    return _round_file(rnd, "input")


@bp.route("/office/rounds/<int:round_id>/result.json")
@roles_required(OFFICER_ROLES)
def round_result(round_id: int):
    rnd = round_or_404(round_id)
    audit("admissions.round.download", rnd, file="result")
    return _round_file(rnd, "result")


def _list_page(rnd: AllocationRound, school, rows, total: int, page: int):
    return render_template(
        "admissions/office_round_list.html",
        rnd=rnd,
        school=school,
        rows=rows,
        total=total,
        page=page,
        per_page=LIST_SIZE,
        figures=(rnd.summary or {}).get("schools", {}).get(school.code, {}) if school else {},
        classes=notify.CLASS_LABELS,
        labels=level_labels(),
    )


@bp.route("/office/rounds/<int:round_id>/schools/<int:school_id>")
@roles_required(OFFICER_ROLES)
def round_school(round_id: int, school_id: int):
    rnd = round_or_404(round_id)
    school = round_school_or_404(rnd, school_id)
    page = _page_arg()
    rows, total = reports.outcome_page(rnd, school_id=school.id, page=page, per_page=LIST_SIZE)
    audit("admissions.round.list_view", rnd, school_id=school.id, page=page, rows=len(rows))
    return _list_page(rnd, school, rows, total, page)


@bp.route("/office/rounds/<int:round_id>/unplaced")
@roles_required(OFFICER_ROLES)
def round_unplaced(round_id: int):
    rnd = round_or_404(round_id)
    page = _page_arg()
    rows, total = reports.outcome_page(rnd, unplaced=True, page=page, per_page=LIST_SIZE)
    audit("admissions.round.list_view", rnd, unplaced=True, page=page, rows=len(rows))
    return _list_page(rnd, None, rows, total, page)


@bp.route("/office/rounds/<int:round_id>/what-if", methods=["GET", "POST"])
@roles_required(OFFICER_ROLES)
def round_what_if(round_id: int):
    base = round_or_404(round_id)
    if not base.is_official or base.is_published:
        flash(round_error_text("what_if_base"), "error")
        return redirect(url_for(".round_view", round_id=base.id))
    schools = eligibility.district_schools(base.admission_level, base.district_id)
    form = what_if_form(schools)
    if form.validate_on_submit():
        try:
            rnd = rounds.create_what_if(base, {s.id: form[f"cap_{s.id}"].data for s in schools}, current_user)
        except rules.RoundError as err:
            flash(round_error_text(err.code), "error")
        else:
            return redirect(url_for(".round_view", round_id=rnd.id))
    return render_template(
        "admissions/office_round_what_if.html", base=base, form=form, schools=schools, labels=level_labels()
    ), (422 if form.is_submitted() else 200)


@bp.route("/office/rounds/<int:round_id>/compare")
@roles_required(OFFICER_ROLES)
def round_compare(round_id: int):
    rnd = what_if_or_404(round_id)
    rows, moved, total = reports.compare(rnd)
    audit("admissions.round.compare", rnd, base_round_id=rnd.base_round_id, moved=total)
    return render_template(
        "admissions/office_round_compare.html",
        rnd=rnd,
        base=rnd.base_round,
        rows=rows,
        moved=moved,
        total=total,
        names=eligibility.school_names({s for _r, _n, a, b in moved for s in (a, b) if s}),
        classes=notify.CLASS_LABELS,
        labels=level_labels(),
        statuses=round_status_labels(),
    )


@bp.route("/office/districts/<int:district_id>/levels/<int:level_id>/placement")
@roles_required(OFFICER_ROLES)
def placement(district_id: int, level_id: int):
    district, lv = district_or_404(district_id), level_or_404(level_id)
    result = placement_rows(
        lv, district.id, page=_page_arg(), after=cursor_arg("after"), before=cursor_arg("before")
    )
    audit(
        "admissions.placement.view",
        ("admission_level", lv.id),
        district_id=district.id,
        page=result.page,
        rows=len(result.rows),
    )
    forms = {
        row.application.id: AssignForm(formdata=None, prefix=f"a{row.application.id}").offer(
            s for s, _km, _n in row.suggestions
        )
        for row in result.rows
    }
    return render_template(
        "admissions/office_round_placement.html",
        standings={
            "unplaced": _("Left without a seat by the round"),
            "declined": _("The family declined the place"),
            "expired": _("The offer expired unanswered"),
            "office_offer": _("Offered by the office, awaiting the family's answer"),
        },
        district=district,
        level=lv,
        result=result,
        forms=forms,
        labels=level_labels(),
    )


@bp.route(
    "/office/districts/<int:district_id>/levels/<int:level_id>/placement/<int:application_id>",
    methods=["POST"],
)
@roles_required(OFFICER_ROLES)
def placement_assign(district_id: int, level_id: int, application_id: int):
    district, lv = district_or_404(district_id), level_or_404(level_id)
    app_ = unplaced_or_404(application_id, lv, district.id)
    schools = level_schools(lv)  # the nearest school may be in a neighbouring district
    form = AssignForm(prefix=f"a{app_.id}").offer(schools)
    if not form.validate_on_submit():
        flash(round_messages()["unknown_school"], "error")
        return redirect(url_for(".placement", district_id=district.id, level_id=lv.id))
    school = next(s for s in schools if s.id == form.school_id.data)
    try:
        assign_seat(app_, school, current_user, district.id)
    except rules.RoundError as err:
        flash(round_error_text(err.code), "error")
    else:
        flash(
            _(
                "%(name)s has been offered a place at %(school)s; the family is notified.",
                name=app_.child.full_name,
                school=school.name,
            ),
            "success",
        )
    return redirect(url_for(".placement", district_id=district.id, level_id=lv.id))


# ---- the public: commitments, seeds, files (no personal data) -------------------------------------


@bp.route("/rounds/")
@public
def public_index():
    return render_template(
        "admissions/office_rounds_public.html",
        rounds=reports.public_rounds(),
        records=transcript.public_records(),
        districts=reports.district_names(),
        labels=level_labels(),
        statuses=round_status_labels(),
    )


@bp.route("/rounds/<int:round_id>")
@public
def public_round(round_id: int):
    rnd = public_round_or_404(round_id)
    return render_template(
        "admissions/office_round_public.html",
        rnd=rnd,
        record=transcript.ledger(rnd.admission_level, rnd.district_id),
        district=public_district_or_404(rnd.district_id),
        schools=eligibility.district_schools(rnd.admission_level, rnd.district_id)
        if rnd.is_published
        else [],
        summary=rnd.summary or {},
        labels=level_labels(),
        statuses=round_status_labels(),
        classes=notify.CLASS_LABELS,
    )


@bp.route("/rounds/<int:round_id>/input.json")
@public
def public_input(round_id: int):
    rnd = public_round_or_404(round_id, published=True)
    return _round_file(rnd, "input")


@bp.route("/rounds/<int:round_id>/result.json")
@public
def public_result(round_id: int):
    rnd = public_round_or_404(round_id, published=True)
    return _round_file(rnd, "result")


@bp.route("/rounds/<int:round_id>/transcript.json")
@public
def public_transcript(round_id: int):
    rnd = public_round_or_404(round_id, published=True)
    try:
        body = transcript.transcript(rnd)
    except rules.RoundError:
        abort(404)
    return _json_download(body, f"round-{rnd.id}-transcript.json")


@bp.route("/rounds/verify_round.py")
@public
def public_verifier():
    """The standalone verifier (standard library only) that checks a transcript."""
    return send_file(VERIFIER, mimetype="text/x-python", as_attachment=True, download_name="verify_round.py")
