"""Education office: the season calendar, eligible children, admission codes and their export.

Seasons are city-wide (city administrators set them up); district officers work on their own
district: `/districts/<district_id>/…` answers 404 outside it, as do schools of other districts.
"""
from __future__ import annotations

import io

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from app.audit import audit
from app.authz import can_manage_district, can_manage_school, roles_required
from app.extensions import db
from app.models import OFFICER_ROLES, AcademicYear, District, Role, School, Ward

from . import rules, services
from .models import AdmissionLevel, AdmissionSeason, LevelState
from .season_forms import ConfirmForm, ScheduleForm, SeasonForm, WipeTrialForm, level_labels, state_labels

bp = Blueprint("admissions_office", __name__, url_prefix="/admissions/office")

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
        "official_open": _("An official window has already opened: trial data can no longer be wiped. Move the windows later first."),
    }


def _district_or_404(district_id: int) -> District:
    district = db.session.get(District, district_id)
    if district is None or not can_manage_district(current_user, district.id):
        abort(404)
    return district


def _level_or_404(level_id: int) -> AdmissionLevel:
    level = db.session.get(AdmissionLevel, level_id)
    if level is None:
        abort(404)
    return level


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
    return render_template("admissions/office_index.html", seasons=services.seasons(),
                           districts=_districts_for_user(), labels=level_labels(), states=state_labels(),
                           now=services.now(), in_order=lambda levels: sorted(levels, key=lambda lv: rules.LEVELS.index(lv.level)))


@bp.route("/seasons/new", methods=["GET", "POST"])
@roles_required(Role.CITY_ADMIN)
def new_season():
    form = SeasonForm()
    form.academic_year_id.choices = [(y.id, y.name) for y in db.session.scalars(
        sa.select(AcademicYear).order_by(AcademicYear.starts_on.desc()))]
    if form.validate_on_submit():
        try:
            season = services.create_season(form.academic_year_id.data, form.trial.data, current_user)
        except services.AdmissionError as err:
            form.academic_year_id.errors.append(error_messages()[err.code])
        else:
            flash(_("The season has been created. Now set the registration windows."), "success")
            return redirect(url_for(".edit_season", season_id=season.id))
    return render_template("admissions/office_season_new.html", form=form), (422 if form.is_submitted() else 200)


@bp.route("/seasons/<int:season_id>", methods=["GET", "POST"])
@roles_required(Role.CITY_ADMIN)
def edit_season(season_id: int):
    season = _season_or_404(season_id)
    tz = services.timezone()
    by_level = {lv.level: lv for lv in season.levels}
    form = ScheduleForm()
    states = state_labels()
    for lvl, sub in form.level_forms():
        allowed = [LevelState.DRAFT, LevelState.SCHEDULED]
        if by_level[lvl].state not in allowed:
            allowed.append(by_level[lvl].state)
        sub.form.state.choices = [(s, states[s]) for s in allowed]
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
        settings = {lvl: services.LevelSetting(rules.local_to_utc(sub.form.opens_at.data, tz),
                                               rules.local_to_utc(sub.form.closes_at.data, tz),
                                               rules.local_to_utc(sub.form.confirm_by.data, tz),
                                               sub.form.state.data)
                    for lvl, sub in form.level_forms()}
        trial = rules.Window(rules.local_to_utc(form.trial_opens_at.data, tz),
                             rules.local_to_utc(form.trial_closes_at.data, tz))
        try:
            services.update_schedule(season, settings, trial)
        except services.AdmissionError as err:
            messages = schedule_messages()
            for where, problem in err.params["problems"]:
                scope, _dot, name = where.partition(".")
                target = getattr(form, f"trial_{name}") if scope == "trial" else getattr(getattr(form, scope).form, name)
                target.errors = [*target.errors, messages[problem]]
        else:
            flash(_("The season calendar has been saved."), "success")
            return redirect(url_for(".index"))
    status = 422 if form.is_submitted() else 200
    return render_template("admissions/office_season_edit.html", form=form, season=season, labels=level_labels(),
                           wipe_form=WipeTrialForm(formdata=None), tz=tz), status


@bp.route("/seasons/<int:season_id>/wipe-trial", methods=["POST"])
@roles_required(Role.CITY_ADMIN)
def wipe_trial(season_id: int):
    season = _season_or_404(season_id)
    form = WipeTrialForm()
    if not form.validate_on_submit():
        flash(_("Tick the box to confirm."), "error")
        return redirect(url_for(".edit_season", season_id=season.id))
    try:
        counts = services.wipe_trial(season)
    except services.AdmissionError as err:
        flash(error_messages()[err.code], "error")
        return redirect(url_for(".edit_season", season_id=season.id))
    flash(_("Trial data wiped (%(apps)d applications, %(children)d children, %(codes)d codes). The season is now official.",
            apps=counts["applications"], children=counts["children"], codes=counts["codes"]), "success")
    return redirect(url_for(".index"))


@bp.route("/districts/<int:district_id>/levels/<int:level_id>")
@roles_required(OFFICER_ROLES)
def level(district_id: int, level_id: int):
    district = _district_or_404(district_id)
    lv = _level_or_404(level_id)
    rows, totals = services.level_overview(lv, district.id)
    return render_template("admissions/office_level.html", district=district, level=lv, rows=rows, totals=totals,
                           labels=level_labels(), states=state_labels(), form=ConfirmForm(),
                           window=services.level_window(lv), now=services.now())


@bp.route("/districts/<int:district_id>/levels/<int:level_id>/codes", methods=["POST"])
@roles_required(OFFICER_ROLES)
def generate_codes(district_id: int, level_id: int):
    district = _district_or_404(district_id)
    lv = _level_or_404(level_id)
    if not ConfirmForm().validate_on_submit():
        abort(400)
    created = services.generate_codes(lv, district.id)
    flash(_("%(n)d new admission codes generated. Children who already had a code keep it.", n=created), "success")
    return redirect(url_for(".level", district_id=district.id, level_id=lv.id))


@bp.route("/districts/<int:district_id>/levels/<int:level_id>/eligible")
@roles_required(OFFICER_ROLES)
def eligible(district_id: int, level_id: int):
    district = _district_or_404(district_id)
    lv = _level_or_404(level_id)
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    school_id = request.args.get("school_id", 0, type=int) or None
    ward_id = request.args.get("ward_id", 0, type=int) or None
    unassigned = request.args.get("unassigned") == "1"
    schools = db.session.scalars(sa.select(School).where(School.district_id == district.id, School.level == lv.level)
                                 .order_by(School.name)).all()
    wards = db.session.scalars(sa.select(Ward).where(Ward.district_id == district.id).order_by(Ward.name)).all()
    if school_id and school_id not in {s.id for s in schools}:
        school_id = None
    if ward_id and ward_id not in {w.id for w in wards}:
        ward_id = None
    result = services.eligible_not_registered(lv, district.id, school_id=school_id, ward_id=ward_id,
                                              unassigned=unassigned, page=page, per_page=PAGE_SIZE)
    # An officer looked at children's records: who, when, which list (ids only).
    audit("admissions.eligible.view", ("admission_level", lv.id), district_id=district.id, school_id=school_id,
          ward_id=ward_id, page=page, rows=len(result.rows))
    return render_template("admissions/office_eligible.html", district=district, level=lv, result=result,
                           schools=schools, wards=wards, school_id=school_id, ward_id=ward_id, unassigned=unassigned,
                           labels=level_labels(), format_code=rules.format_code)


def _export_labels() -> dict:
    return {
        "headers": {"admission_code": _("Admission code"), "full_name": _("Full name"),
                    "date_of_birth": _("Date of birth"), "gender": _("Gender"), "ward": _("Ward"),
                    "residential_group": _("Residential group"), "residence_type": _("Residence"),
                    "catchment_school": _("Catchment school")},
        "gender": {"male": _("Male"), "female": _("Female")},
        "residence": {"permanent": _("Permanent"), "temporary": _("Temporary")},
        "no_catchment": _("No catchment school: the office assigns one"),
    }


def _xlsx(data: bytes, name: str):
    resp = send_file(io.BytesIO(data), as_attachment=True, download_name=name,
                     mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/levels/<int:level_id>/schools/<int:school_id>/codes.xlsx")
@roles_required(OFFICER_ROLES)
def export_school_codes(level_id: int, school_id: int):
    school = db.session.get(School, school_id)
    if school is None or not can_manage_school(current_user, school):
        abort(404)
    lv = _level_or_404(level_id)
    if school.level != lv.level:
        abort(404)
    data, n = services.export_codes(lv, school.district_id, school, _export_labels())
    audit("admissions.codes.export", school, level_id=lv.id, rows=n)
    return _xlsx(data, f"ma-tuyen-sinh-{lv.level}-{school.code}.xlsx")


@bp.route("/districts/<int:district_id>/levels/<int:level_id>/codes-unassigned.xlsx")
@roles_required(OFFICER_ROLES)
def export_unassigned_codes(district_id: int, level_id: int):
    district = _district_or_404(district_id)
    lv = _level_or_404(level_id)
    data, n = services.export_codes(lv, district.id, None, _export_labels())
    audit("admissions.codes.export", district, level_id=lv.id, rows=n, unassigned=True)
    return _xlsx(data, f"ma-tuyen-sinh-{lv.level}-{district.code}-chua-co-tuyen.xlsx")
