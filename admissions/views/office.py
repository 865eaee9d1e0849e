"""Education office: the season calendar, eligible children, admission codes and their export.

Seasons are city-wide (city administrators set them up); district officers work on their own
district: `/districts/<district_id>/…` answers 404 outside it, as do schools of other districts.
"""

from __future__ import annotations

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from wtforms.fields.choices import SelectChoice

from app import xlsx
from app.audit import audit
from app.authz import roles_required
from app.models import OFFICER_ROLES, Role
from app.paging import cursor_arg, page_arg

from .. import codes, eligibility, exports, rules, seasons
from ..access import district_or_404, districts_of_user, level_or_404, level_school_or_404, season_or_404
from ..forms import (
    ChoiceLimitForm,
    ConfirmForm,
    ScheduleForm,
    SeasonForm,
    WipeTrialForm,
    level_labels,
    state_labels,
)

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
        "official_open": _(
            "An official window has already opened: trial data can no longer be wiped. Move the windows later first."
        ),
    }


@bp.route("/")
@roles_required(OFFICER_ROLES)
def index():
    return render_template(
        "admissions/office_index.html",
        seasons=seasons.seasons(),
        districts=districts_of_user(),
        labels=level_labels(),
        states=state_labels(),
        now=seasons.now(),
        in_order=lambda levels: sorted(levels, key=lambda lv: rules.LEVELS.index(lv.level)),
    )


@bp.route("/seasons/new", methods=["GET", "POST"])
@roles_required(Role.CITY_ADMIN)
def new_season():
    form = SeasonForm()
    form.academic_year_id.choices = [SelectChoice(y.id, y.name) for y in seasons.academic_years()]
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
    season = season_or_404(season_id)
    tz = seasons.timezone()
    form = ScheduleForm()
    form.offer_states(season.levels)
    if request.method == "GET":
        form.fill(season, tz)
    if form.validate_on_submit():
        try:
            seasons.update_schedule(season, *form.settings(tz))
        except rules.AdmissionError as err:
            form.show_problems(err.params["problems"], schedule_messages())
        else:
            flash(_("The season calendar has been saved."), "success")
            return redirect(url_for(".index"))
    return render_template(
        "admissions/office_season_edit.html",
        form=form,
        season=season,
        labels=level_labels(),
        wipe_form=WipeTrialForm(formdata=None),
        limit_forms=[
            (
                lv,
                ChoiceLimitForm(
                    formdata=None, prefix=f"limit{lv.id}", max_other_choices=lv.max_other_choices
                ),
            )
            for lv in sorted(season.levels, key=lambda x: rules.LEVELS.index(x.level))
        ],
        tz=tz,
    ), (422 if form.is_submitted() else 200)


@bp.route("/seasons/<int:season_id>/levels/<int:level_id>/choice-limit", methods=["POST"])
@roles_required(Role.CITY_ADMIN)
def choice_limit(season_id: int, level_id: int):
    season = season_or_404(season_id)
    lv = next((x for x in season.levels if x.id == level_id), None) or abort(404)
    form = ChoiceLimitForm(prefix=f"limit{lv.id}")
    if not form.validate_on_submit():
        flash(_("Enter a number from 0 to %(n)d.", n=rules.MAX_CHOICE_LIMIT), "error")
    else:
        try:
            seasons.set_choice_limit(lv, form.max_other_choices.data, current_user)
        except rules.AdmissionError:
            flash(
                _("Registration for this level has opened: the choice limit can no longer change."), "error"
            )
        else:
            flash(_("The choice limit has been saved."), "success")
    return redirect(url_for(".edit_season", season_id=season.id))


@bp.route("/seasons/<int:season_id>/wipe-trial", methods=["POST"])
@roles_required(Role.CITY_ADMIN)
def wipe_trial(season_id: int):
    season = season_or_404(season_id)
    if not WipeTrialForm().validate_on_submit():
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
    district, lv = district_or_404(district_id), level_or_404(level_id)
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
    district, lv = district_or_404(district_id), level_or_404(level_id)
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
    district, lv = district_or_404(district_id), level_or_404(level_id)
    page = page_arg()
    unassigned = request.args.get("unassigned") == "1"
    schools, wards, school_id, ward_id = eligibility.eligible_filters(
        lv,
        district.id,
        request.args.get("school_id", 0, type=int) or None,
        request.args.get("ward_id", 0, type=int) or None,
    )
    result = eligibility.eligible_not_registered(
        lv,
        district.id,
        school_id=school_id,
        ward_id=ward_id,
        unassigned=unassigned,
        ward_ids=[w.id for w in wards],
        after=cursor_arg("after"),
        before=cursor_arg("before"),
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
        page=result.page,
        rows=len(result.items),
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


@bp.route("/levels/<int:level_id>/schools/<int:school_id>/codes.xlsx")
@roles_required(OFFICER_ROLES)
def export_school_codes(level_id: int, school_id: int):
    lv = level_or_404(level_id)
    school = level_school_or_404(school_id, lv)
    data, n = exports.codes_workbook(lv, school.district_id, school)
    audit("admissions.codes.export", school, level_id=lv.id, rows=n)
    return xlsx.download(data, f"ma-tuyen-sinh-{lv.level}-{school.code}.xlsx")


@bp.route("/districts/<int:district_id>/levels/<int:level_id>/codes-unassigned.xlsx")
@roles_required(OFFICER_ROLES)
def export_unassigned_codes(district_id: int, level_id: int):
    district, lv = district_or_404(district_id), level_or_404(level_id)
    data, n = exports.codes_workbook(lv, district.id, None)
    audit("admissions.codes.export", district, level_id=lv.id, rows=n, unassigned=True)
    return xlsx.download(data, f"ma-tuyen-sinh-{lv.level}-{district.code}-chua-co-tuyen.xlsx")
