"""Education office: the season calendar, eligible children, admission codes and their export.

Seasons are city-wide (city administrators set them up); district officers work on their own
district: `/districts/<district_id>/…` answers 404 outside it, as do schools of other districts.
"""

from __future__ import annotations

import json

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateTimeLocalField, IntegerField, SelectField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from app import xlsx
from app.audit import audit
from app.authz import can_manage_district, can_manage_school, public, roles_required
from app.extensions import db
from app.models import OFFICER_ROLES, AcademicYear, District, Role, School, Ward

from . import applications, codes, eligibility, notify, reports, rounds, rules, seasons
from .access import level_or_404
from .models import AdmissionLevel, AdmissionSeason, AllocationRound, Application, LevelState, RoundStatus
from .placement import assign_seat, placement_rows
from .season_forms import (
    DATETIME_FORMATS,
    ConfirmForm,
    ScheduleForm,
    SeasonForm,
    WipeTrialForm,
    level_labels,
    state_labels,
)

bp = Blueprint("admissions_office", __name__, url_prefix="/admissions/office")
# The public side of the rounds (no personal data): seed commitments, seeds once published, the
# exchange files and per-school figures, so that anyone can re-run a published round.
public_bp = Blueprint("admissions_rounds_public", __name__, url_prefix="/admissions/rounds")

PAGE_SIZE = 50


def schedule_messages() -> dict[str, str]:
    return {
        "incomplete": _("Enter both the opening and the closing time."),
        "close_before_open": _("The window must close after it opens."),
        "confirm_before_close": _("The confirmation deadline must come after the window closes."),
        "overlap": _("The windows of two levels overlap: stagger them (one level at a time)."),
        "trial_after_official": _("The trial must end before the first official window opens."),
        "wrong_year": _("This window is not in the year of the intake."),
        "window_required": _("Set the window before publishing the level."),
    }


def error_messages() -> dict[str, str]:
    return {
        "no_year": _("Choose an academic year."),
        "season_exists": _("A season for this academic year already exists."),
        "not_trial": _("This season is not in its trial phase."),
        "official_open": _(
            "An official window has already opened: trial data can no longer be wiped. Move the windows later first."
        ),
    }


def _district_or_404(district_id: int) -> District:
    district = db.session.get(District, district_id)
    if district is None or not can_manage_district(current_user, district.id):
        abort(404)
    return district


def _season_or_404(season_id: int) -> AdmissionSeason:
    season = db.session.get(AdmissionSeason, season_id)
    if season is None:
        abort(404)
    return season


def _districts_for_user():
    q = sa.select(District).order_by(District.name)
    if current_user.role != Role.CITY_ADMIN:
        q = q.where(District.id == current_user.district_id)
    return db.session.scalars(q).all()


@bp.route("/")
@roles_required(OFFICER_ROLES)
def index():
    return render_template(
        "admissions/office_index.html",
        seasons=seasons.seasons(),
        districts=_districts_for_user(),
        labels=level_labels(),
        states=state_labels(),
        now=seasons.now(),
        in_order=lambda levels: sorted(levels, key=lambda lv: rules.LEVELS.index(lv.level)),
    )


@bp.route("/seasons/new", methods=["GET", "POST"])
@roles_required(Role.CITY_ADMIN)
def new_season():
    form = SeasonForm()
    form.academic_year_id.choices = [
        SelectChoice(y.id, y.name)
        for y in db.session.scalars(sa.select(AcademicYear).order_by(AcademicYear.starts_on.desc()))
    ]
    if form.validate_on_submit():
        try:
            season = seasons.create_season(form.academic_year_id.data, form.trial.data, current_user)
        except rules.AdmissionError as err:
            form.academic_year_id.errors.append(error_messages()[err.code])
        else:
            flash(_("The season has been created. Now set the registration windows."), "success")
            return redirect(url_for(".edit_season", season_id=season.id))
    return render_template("admissions/office_season_new.html", form=form), (
        422 if form.is_submitted() else 200
    )


@bp.route("/seasons/<int:season_id>", methods=["GET", "POST"])
@roles_required(Role.CITY_ADMIN)
def edit_season(season_id: int):
    season = _season_or_404(season_id)
    tz = seasons.timezone()
    by_level = {lv.level: lv for lv in season.levels}
    form = ScheduleForm()
    states = state_labels()
    for lvl, sub in form.level_forms():
        allowed = [LevelState.DRAFT, LevelState.SCHEDULED]
        if by_level[lvl].state not in allowed:
            allowed.append(by_level[lvl].state)
        sub.form.state.choices = [SelectChoice(s, states[s]) for s in allowed]
    if request.method == "GET":
        form.trial_opens_at.data = rules.utc_to_local(season.trial_opens_at, tz)
        form.trial_closes_at.data = rules.utc_to_local(season.trial_closes_at, tz)
        for lvl, sub in form.level_forms():
            lv = by_level[lvl]
            sub.form.opens_at.data = rules.utc_to_local(lv.opens_at, tz)
            sub.form.closes_at.data = rules.utc_to_local(lv.closes_at, tz)
            sub.form.confirm_by.data = rules.utc_to_local(lv.confirm_by, tz)
            sub.form.state.data = lv.state
    if form.validate_on_submit():
        settings = {
            lvl: seasons.LevelSetting(
                rules.local_to_utc(sub.form.opens_at.data, tz),
                rules.local_to_utc(sub.form.closes_at.data, tz),
                rules.local_to_utc(sub.form.confirm_by.data, tz),
                sub.form.state.data,
            )
            for lvl, sub in form.level_forms()
        }
        trial = rules.Window(
            rules.local_to_utc(form.trial_opens_at.data, tz),
            rules.local_to_utc(form.trial_closes_at.data, tz),
        )
        try:
            seasons.update_schedule(season, settings, trial)
        except rules.AdmissionError as err:
            messages = schedule_messages()
            for where, problem in err.params["problems"]:
                scope, _dot, name = where.partition(".")
                target = (
                    getattr(form, f"trial_{name}")
                    if scope == "trial"
                    else getattr(getattr(form, scope).form, name)
                )
                target.errors = [*target.errors, messages[problem]]
        else:
            flash(_("The season calendar has been saved."), "success")
            return redirect(url_for(".index"))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "admissions/office_season_edit.html",
        form=form,
        season=season,
        labels=level_labels(),
        wipe_form=WipeTrialForm(formdata=None),
        tz=tz,
    ), status


@bp.route("/seasons/<int:season_id>/wipe-trial", methods=["POST"])
@roles_required(Role.CITY_ADMIN)
def wipe_trial(season_id: int):
    season = _season_or_404(season_id)
    form = WipeTrialForm()
    if not form.validate_on_submit():
        flash(_("Tick the box to confirm."), "error")
        return redirect(url_for(".edit_season", season_id=season.id))
    try:
        counts = seasons.wipe_trial(season)
    except rules.AdmissionError as err:
        flash(error_messages()[err.code], "error")
        return redirect(url_for(".edit_season", season_id=season.id))
    flash(
        _(
            "Trial data wiped (%(apps)d applications, %(children)d children, %(codes)d codes). The season is now official.",
            apps=counts["applications"],
            children=counts["children"],
            codes=counts["codes"],
        ),
        "success",
    )
    return redirect(url_for(".index"))


@bp.route("/districts/<int:district_id>/levels/<int:level_id>")
@roles_required(OFFICER_ROLES)
def level(district_id: int, level_id: int):
    district = _district_or_404(district_id)
    lv = level_or_404(level_id)
    rows, totals = eligibility.level_overview(lv, district.id)
    return render_template(
        "admissions/office_level.html",
        district=district,
        level=lv,
        rows=rows,
        totals=totals,
        labels=level_labels(),
        states=state_labels(),
        form=ConfirmForm(),
        window=seasons.level_window(lv),
        now=seasons.now(),
    )


@bp.route("/districts/<int:district_id>/levels/<int:level_id>/codes", methods=["POST"])
@roles_required(OFFICER_ROLES)
def generate_codes(district_id: int, level_id: int):
    district = _district_or_404(district_id)
    lv = level_or_404(level_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    created = codes.generate_codes(lv, district.id)
    flash(
        _("%(n)d new admission codes generated. Children who already had a code keep it.", n=created),
        "success",
    )
    return redirect(url_for(".level", district_id=district.id, level_id=lv.id))


@bp.route("/districts/<int:district_id>/levels/<int:level_id>/eligible")
@roles_required(OFFICER_ROLES)
def eligible(district_id: int, level_id: int):
    district = _district_or_404(district_id)
    lv = level_or_404(level_id)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    school_id = request.args.get("school_id", 0, type=int) or None
    ward_id = request.args.get("ward_id", 0, type=int) or None
    unassigned = request.args.get("unassigned") == "1"
    schools = db.session.scalars(
        sa.select(School)
        .where(School.district_id == district.id, School.level == lv.level)
        .order_by(School.name)
    ).all()
    wards = db.session.scalars(
        sa.select(Ward).where(Ward.district_id == district.id).order_by(Ward.name)
    ).all()
    if school_id and school_id not in {s.id for s in schools}:
        school_id = None
    if ward_id and ward_id not in {w.id for w in wards}:
        ward_id = None
    result = eligibility.eligible_not_registered(
        lv,
        district.id,
        school_id=school_id,
        ward_id=ward_id,
        unassigned=unassigned,
        page=page,
        per_page=PAGE_SIZE,
    )
    # An officer looked at children's records: who, when, which list (ids only).
    audit(
        "admissions.eligible.view",
        ("admission_level", lv.id),
        district_id=district.id,
        school_id=school_id,
        ward_id=ward_id,
        page=page,
        rows=len(result.rows),
    )
    return render_template(
        "admissions/office_eligible.html",
        district=district,
        level=lv,
        result=result,
        schools=schools,
        wards=wards,
        school_id=school_id,
        ward_id=ward_id,
        unassigned=unassigned,
        labels=level_labels(),
        format_code=rules.format_code,
    )


def _export_labels() -> dict:
    return {
        "headers": {
            "admission_code": _("Admission code"),
            "full_name": _("Full name"),
            "date_of_birth": _("Date of birth"),
            "gender": _("Gender"),
            "ward": _("Ward"),
            "residential_group": _("Residential group"),
            "residence_type": _("Residence"),
            "catchment_school": _("Catchment school"),
        },
        "gender": {"male": _("Male"), "female": _("Female")},
        "residence": {"permanent": _("Permanent"), "temporary": _("Temporary")},
        "no_catchment": _("No catchment school: the office assigns one"),
    }


@bp.route("/levels/<int:level_id>/schools/<int:school_id>/codes.xlsx")
@roles_required(OFFICER_ROLES)
def export_school_codes(level_id: int, school_id: int):
    school = db.session.get(School, school_id)
    if school is None or not can_manage_school(current_user, school):
        abort(404)
    lv = level_or_404(level_id)
    if school.level != lv.level:
        abort(404)
    data, n = codes.export_codes(lv, school.district_id, school, _export_labels())
    audit("admissions.codes.export", school, level_id=lv.id, rows=n)
    return xlsx.download(data, f"ma-tuyen-sinh-{lv.level}-{school.code}.xlsx")


@bp.route("/districts/<int:district_id>/levels/<int:level_id>/codes-unassigned.xlsx")
@roles_required(OFFICER_ROLES)
def export_unassigned_codes(district_id: int, level_id: int):
    district = _district_or_404(district_id)
    lv = level_or_404(level_id)
    data, n = codes.export_codes(lv, district.id, None, _export_labels())
    audit("admissions.codes.export", district, level_id=lv.id, rows=n, unassigned=True)
    return xlsx.download(data, f"ma-tuyen-sinh-{lv.level}-{district.code}-chua-co-tuyen.xlsx")


# =============================================================================================
# Allocation rounds (issue 4, points 6-8): see admissions/rounds.py for the rules
# =============================================================================================


def round_status_labels() -> dict[str, str]:
    return {
        RoundStatus.DRAFT: _l("Seed drawn, not run yet"),
        RoundStatus.QUEUED: _l("Waiting to start"),
        RoundStatus.RUNNING: _l("Running"),
        RoundStatus.DONE: _l("Done (not published)"),
        RoundStatus.FAILED: _l("Failed"),
        RoundStatus.PUBLISHED: _l("Published"),
    }


def round_messages() -> dict[str, str]:
    return {
        "previous_not_published": _("Publish the previous round first."),
        "running": _("This round is already running."),
        "published": _("This round has been published; it cannot run again."),
        "window_not_closed": _(
            "The registration window has not closed yet: run the first round after it closes "
            "(a what-if run is possible any time)."
        ),
        "what_if_base": _("What-if runs compare against an official round that is not published yet."),
        "unknown_school": _("Choose a school of this level in the district."),
        "bad_capacity": _("Capacities are whole numbers, 0 or more."),
        "what_if_publish": _("A what-if run is never published."),
        "not_done": _("Only a finished round can be published."),
        "confirm_by": _("Set an answer-by time in the future for the families."),
        "stale": _(
            "Applications changed since this round ran (declines, expiries or assignments). Run it again, "
            "then publish."
        ),
        "guarantee": _("A child would lose the seat she holds: the round was not stored. Check capacities."),
        "not_unplaced": _("This child is not waiting for a seat any more."),
        "school_full": _("This school has no seat left. Choose another school."),
        "school_claimed": _(
            "Children waiting for this school have a claim to its free seats: run a later round "
            "to give them out, or choose another school."
        ),
        "internal": _("The round stopped because of an error on our side. Run it again."),
    }


def round_error_text(code: str | None) -> str:
    if not code:
        return ""
    return round_messages().get(code, code)


class PublishForm(FlaskForm):
    confirm_by = DateTimeLocalField(
        _l("Families confirm their place by"),
        format=DATETIME_FORMATS,
        validators=[Optional()],
        description=_l("Vietnam time. Left empty: the level's confirmation deadline."),
    )
    confirm = BooleanField(
        _l("I have checked the results: publish them and tell the families."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class AssignForm(FlaskForm):
    school_id = SelectField(_l("School"), coerce=int, choices=[], validate_choice=True)


def what_if_form(schools: list[School], formdata=None):
    """A form with one capacity field per school (defaults: the schools' capacities)."""
    fields = {
        f"cap_{s.id}": IntegerField(
            s.name,
            default=s.capacity,
            validators=[
                InputRequired(_l("Enter a number of seats.")),
                NumberRange(min=0, max=100000, message=_l("Capacities are whole numbers, 0 or more.")),
            ],
        )
        for s in schools
    }
    cls = type("WhatIfForm", (FlaskForm,), fields)
    return cls(formdata=formdata) if formdata is not None else cls()


def _round_or_404(round_id: int) -> AllocationRound:
    rnd = db.session.get(AllocationRound, round_id)
    if rnd is None or not can_manage_district(current_user, rnd.district_id):
        abort(404)
    return rnd


def _level_in_district(district_id: int, level_id: int) -> tuple[District, AdmissionLevel]:
    return _district_or_404(district_id), level_or_404(level_id)


@bp.route("/districts/<int:district_id>/levels/<int:level_id>/rounds", methods=["GET", "POST"])
@roles_required(OFFICER_ROLES)
def rounds_index(district_id: int, level_id: int):
    district, lv = _level_in_district(district_id, level_id)
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
    can_create = latest is None or latest.is_published
    return render_template(
        "admissions/office_rounds.html",
        district=district,
        level=lv,
        rounds=items,
        form=form,
        can_create=can_create,
        next_number=(latest.number + 1) if latest else 1,
        labels=level_labels(),
        statuses=round_status_labels(),
    )


def _round_page(rnd: AllocationRound, publish_form: PublishForm | None = None, status: int = 200):
    lv = rnd.admission_level
    district = db.session.get(District, rnd.district_id)
    schools = eligibility.district_schools(lv, rnd.district_id)
    if publish_form is None:
        publish_form = PublishForm(formdata=None)
        default = rounds.default_confirm_by(rnd)
        publish_form.confirm_by.data = rules.utc_to_local(default, seasons.timezone()) if default else None
    what_ifs = []
    if rnd.is_official:
        what_ifs = db.session.scalars(
            sa.select(AllocationRound)
            .where(AllocationRound.base_round_id == rnd.id)
            .order_by(AllocationRound.id.desc())
        ).all()
    return render_template(
        "admissions/office_round.html",
        rnd=rnd,
        level=lv,
        district=district,
        schools=schools,
        summary=rnd.summary or {},
        publish_form=publish_form,
        run_form=ConfirmForm(),
        what_ifs=what_ifs,
        labels=level_labels(),
        statuses=round_status_labels(),
        error=round_error_text(rnd.error),
    ), status


@bp.route("/rounds/<int:round_id>")
@roles_required(OFFICER_ROLES)
def round_view(round_id: int):
    return _round_page(_round_or_404(round_id))


@bp.route("/rounds/<int:round_id>/status.json")
@roles_required(OFFICER_ROLES)
def round_status(round_id: int):
    rnd = _round_or_404(round_id)
    labels = round_status_labels()
    resp = jsonify(
        status=rnd.status,
        progress=rnd.progress,
        final=rnd.is_final,
        status_label=str(labels.get(rnd.status, rnd.status)),
        error=rnd.error,
    )
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/rounds/<int:round_id>/run", methods=["POST"])
@roles_required(OFFICER_ROLES)
def round_run(round_id: int):
    rnd = _round_or_404(round_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    try:
        rounds.queue_round(rnd, current_user)
    except rules.RoundError as err:
        flash(round_error_text(err.code), "error")
    return redirect(url_for(".round_view", round_id=rnd.id))


@bp.route("/rounds/<int:round_id>/publish", methods=["POST"])
@roles_required(OFFICER_ROLES)
def round_publish(round_id: int):
    rnd = _round_or_404(round_id)
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
    flash(
        _(
            "Round %(n)d published: %(offered)d offers, %(moved)d moved up, %(unplaced)d without a seat. "
            "The seed is now public and the families are being notified.",
            n=rnd.number,
            **counts,
        ),
        "success",
    )
    return redirect(url_for(".round_view", round_id=rnd.id))


def _json_download(data: dict | None, name: str):
    if data is None:
        abort(404)
    resp = Response(json.dumps(data, ensure_ascii=False, separators=(",", ":")), mimetype="application/json")
    resp.headers["Content-Disposition"] = f'attachment; filename="{name}"'
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/rounds/<int:round_id>/input.json")
@roles_required(OFFICER_ROLES)
def round_input(round_id: int):
    rnd = _round_or_404(round_id)
    audit("admissions.round.download", rnd, file="input")
    return _json_download(rnd.input_snapshot, f"round-{rnd.id}-input.json")


@bp.route("/rounds/<int:round_id>/result.json")
@roles_required(OFFICER_ROLES)
def round_result(round_id: int):
    rnd = _round_or_404(round_id)
    audit("admissions.round.download", rnd, file="result")
    return _json_download(rnd.result, f"round-{rnd.id}-result.json")


def _page_arg() -> int:
    return max(request.args.get("page", 1, type=int) or 1, 1)


@bp.route("/rounds/<int:round_id>/schools/<int:school_id>")
@roles_required(OFFICER_ROLES)
def round_school(round_id: int, school_id: int):
    rnd = _round_or_404(round_id)
    school = db.session.get(School, school_id)
    if school is None or school.district_id != rnd.district_id or school.level != rnd.admission_level.level:
        abort(404)
    page = _page_arg()
    rows, total = reports.outcome_page(rnd, school_id=school.id, page=page)
    audit("admissions.round.list_view", rnd, school_id=school.id, page=page, rows=len(rows))
    return render_template(
        "admissions/office_round_list.html",
        rnd=rnd,
        school=school,
        rows=rows,
        total=total,
        page=page,
        per_page=100,
        figures=(rnd.summary or {}).get("schools", {}).get(school.code, {}),
        classes=notify.CLASS_LABELS,
        labels=level_labels(),
    )


@bp.route("/rounds/<int:round_id>/unplaced")
@roles_required(OFFICER_ROLES)
def round_unplaced(round_id: int):
    rnd = _round_or_404(round_id)
    page = _page_arg()
    rows, total = reports.outcome_page(rnd, unplaced=True, page=page)
    audit("admissions.round.list_view", rnd, unplaced=True, page=page, rows=len(rows))
    return render_template(
        "admissions/office_round_list.html",
        rnd=rnd,
        school=None,
        rows=rows,
        total=total,
        page=page,
        per_page=100,
        figures={},
        classes=notify.CLASS_LABELS,
        labels=level_labels(),
    )


@bp.route("/rounds/<int:round_id>/what-if", methods=["GET", "POST"])
@roles_required(OFFICER_ROLES)
def round_what_if(round_id: int):
    base = _round_or_404(round_id)
    if not base.is_official or base.is_published:
        flash(round_error_text("what_if_base"), "error")
        return redirect(url_for(".round_view", round_id=base.id))
    schools = eligibility.district_schools(base.admission_level, base.district_id)
    form = what_if_form(schools)
    if form.validate_on_submit():
        caps = {s.id: form[f"cap_{s.id}"].data for s in schools}
        try:
            rnd = rounds.create_what_if(base, caps, current_user)
        except rules.RoundError as err:
            flash(round_error_text(err.code), "error")
        else:
            return redirect(url_for(".round_view", round_id=rnd.id))
    return render_template(
        "admissions/office_round_what_if.html", base=base, form=form, schools=schools, labels=level_labels()
    ), (422 if form.is_submitted() else 200)


@bp.route("/rounds/<int:round_id>/compare")
@roles_required(OFFICER_ROLES)
def round_compare(round_id: int):
    rnd = _round_or_404(round_id)
    if rnd.base_round_id is None:
        abort(404)
    rows, moved, total = reports.compare(rnd)
    names = eligibility.school_names({s for _r, _n, a, b in moved for s in (a, b) if s})
    audit("admissions.round.compare", rnd, base_round_id=rnd.base_round_id, moved=total)
    return render_template(
        "admissions/office_round_compare.html",
        rnd=rnd,
        base=rnd.base_round,
        rows=rows,
        moved=moved,
        total=total,
        names=names,
        labels=level_labels(),
        statuses=round_status_labels(),
    )


@bp.route("/districts/<int:district_id>/levels/<int:level_id>/placement")
@roles_required(OFFICER_ROLES)
def placement(district_id: int, level_id: int):
    district, lv = _level_in_district(district_id, level_id)
    page = _page_arg()
    result = placement_rows(lv, district.id, page=page)
    audit(
        "admissions.placement.view",
        ("admission_level", lv.id),
        district_id=district.id,
        page=page,
        rows=len(result.rows),
    )
    forms = {}
    for row in result.rows:
        f = AssignForm(formdata=None, prefix=f"a{row.application.id}")
        f.school_id.choices = [SelectChoice(s.id, s.name) for s, _km, _n in row.suggestions]
        forms[row.application.id] = f
    return render_template(
        "admissions/office_round_placement.html",
        district=district,
        level=lv,
        result=result,
        forms=forms,
        labels=level_labels(),
    )


@bp.route(
    "/districts/<int:district_id>/levels/<int:level_id>/placement/<int:application_id>", methods=["POST"]
)
@roles_required(OFFICER_ROLES)
def placement_assign(district_id: int, level_id: int, application_id: int):
    district, lv = _level_in_district(district_id, level_id)
    app_ = db.session.scalar(
        sa.select(Application).where(
            Application.id == application_id,
            Application.admission_level_id == lv.id,
            applications.in_district(district.id),
        )
    )
    if app_ is None:
        abort(404)
    form = AssignForm(prefix=f"a{app_.id}")
    schools = eligibility.district_schools(lv, district.id)
    form.school_id.choices = [SelectChoice(s.id, s.name) for s in schools]
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


# ---- public: commitments, seeds, files (no personal data) ----------------------------------------


def _public_round_or_404(round_id: int) -> AllocationRound:
    rnd = db.session.get(AllocationRound, round_id)
    if rnd is None or not rnd.is_official:
        abort(404)
    return rnd


@public_bp.route("/")
@public
def public_index():
    items = reports.public_rounds()
    districts = dict(db.session.execute(sa.select(District.id, District.name)).all())
    return render_template(
        "admissions/office_rounds_public.html",
        rounds=items,
        districts=districts,
        labels=level_labels(),
        statuses=round_status_labels(),
    )


@public_bp.route("/<int:round_id>")
@public
def public_round(round_id: int):
    rnd = _public_round_or_404(round_id)
    district = db.session.get(District, rnd.district_id)
    schools = eligibility.district_schools(rnd.admission_level, rnd.district_id) if rnd.is_published else []
    return render_template(
        "admissions/office_round_public.html",
        rnd=rnd,
        district=district,
        schools=schools,
        summary=rnd.summary or {},
        labels=level_labels(),
        statuses=round_status_labels(),
        classes=notify.CLASS_LABELS,
    )


@public_bp.route("/<int:round_id>/input.json")
@public
def public_input(round_id: int):
    rnd = _public_round_or_404(round_id)
    if not rnd.is_published:
        abort(404)
    return _json_download(rnd.input_snapshot, f"round-{rnd.id}-input.json")


@public_bp.route("/<int:round_id>/result.json")
@public
def public_result(round_id: int):
    rnd = _public_round_or_404(round_id)
    if not rnd.is_published:
        abort(404)
    return _json_download(rnd.result, f"round-{rnd.id}-result.json")
