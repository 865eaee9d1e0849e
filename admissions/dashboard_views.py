"""Office dashboard (issue 4, point 5) and result exports (point 9).

Scope (see admissions/dashboard.py): the city view is for city administrators; a district's page
for its officers (and city administrators); a school's page and its admitted list for its staff
and the officers above it. Anything outside answers 404; teachers and parents get 403.
Every export is audited (ids and counts only).
"""

from __future__ import annotations

from flask import Blueprint, abort, render_template
from flask_babel import gettext as _
from flask_login import current_user

from app import xlsx
from app.audit import audit
from app.authz import can_manage_district, roles_required
from app.extensions import db
from app.models import OFFICER_ROLES, District, Role

from . import dashboard, notify, reports, rules, seasons
from .access import level_or_404, level_school_or_404
from .models import AdmissionLevel, CouncilState
from .season_forms import level_labels

bp = Blueprint("admissions_dashboard", __name__, url_prefix="/admissions/dashboard")

VIEWERS = (*OFFICER_ROLES, Role.SCHOOL_STAFF)


def _district_or_404(district_id: int) -> District:
    district = db.session.get(District, district_id)
    if district is None or not can_manage_district(current_user, district.id):
        abort(404)
    return district


def _page(level: AdmissionLevel, scope: str, **ctx):
    tz = seasons.timezone()
    window = seasons.level_window(level)
    now = seasons.now()
    series = dashboard.hourly(
        level, tz, window=window, now=now, district_id=ctx.get("district_id"), school_id=ctx.get("school_id")
    )
    hbars, htop = dashboard.hour_bars(series)
    return render_template(
        "admissions/dashboard.html",
        level=level,
        scope=scope,
        labels=level_labels(),
        window=window,
        window_status=window.status(now),
        now=now,
        series=series,
        hour_bars=hbars,
        hour_top=htop,
        **ctx,
    )


@bp.route("/")
@roles_required(VIEWERS)
def index():
    season = seasons.current_season()
    levels = sorted(season.levels, key=lambda lv: rules.LEVELS.index(lv.level)) if season else []
    district = db.session.get(District, current_user.district_id) if current_user.district_id else None
    school = current_user.school if current_user.role == Role.SCHOOL_STAFF else None
    return render_template(
        "admissions/dashboard_index.html",
        season=season,
        levels=levels,
        district=district,
        school=school,
        labels=level_labels(),
    )


@bp.route("/levels/<int:level_id>")
@roles_required(Role.CITY_ADMIN)
def city(level_id: int):
    level = level_or_404(level_id)
    rows = dashboard.district_rows(level)
    bars, height, top = dashboard.capacity_bars([(r.name, r.applications, r.capacity) for r in rows])
    return _page(
        level, "city", rows=rows, totals=dashboard.totals(rows), bars=bars, chart_height=height, chart_top=top
    )


@bp.route("/levels/<int:level_id>/districts/<int:district_id>")
@roles_required(OFFICER_ROLES)
def district(level_id: int, district_id: int):
    level = level_or_404(level_id)
    district = _district_or_404(district_id)
    rows = dashboard.school_rows(level, district_id=district.id)
    bars, height, top = dashboard.capacity_bars([(r.name, r.first_choice, r.capacity) for r in rows])
    return _page(
        level,
        "district",
        district=district,
        district_id=district.id,
        rows=rows,
        totals=dashboard.totals(rows),
        bars=bars,
        chart_height=height,
        chart_top=top,
    )


@bp.route("/levels/<int:level_id>/schools/<int:school_id>")
@roles_required(VIEWERS)
def school(level_id: int, school_id: int):
    level = level_or_404(level_id)
    school = level_school_or_404(school_id, level)
    rows = dashboard.school_rows(level, school_id=school.id)
    bars, height, top = dashboard.capacity_bars([(r.name, r.first_choice, r.capacity) for r in rows])
    return _page(
        level,
        "school",
        school=school,
        school_id=school.id,
        district=school.district,
        rows=rows,
        totals=dashboard.totals(rows),
        bars=bars,
        chart_height=height,
        chart_top=top,
    )


# ---- exports ----------------------------------------------------------------------------------


def _stamp() -> str:
    return reports.stamp(rules.utc_to_local(seasons.now(), seasons.timezone()))


def _subtitle(level: AdmissionLevel) -> str:
    return _(
        "%(level)s · season %(year)s · exported at %(when)s",
        level=level_labels()[level.level],
        year=level.season.academic_year.name,
        when=_stamp(),
    )


@bp.route("/levels/<int:level_id>/schools/<int:school_id>/admitted.xlsx")
@roles_required(VIEWERS)
def export_admitted(level_id: int, school_id: int):
    level = level_or_404(level_id)
    school = level_school_or_404(school_id, level)
    labels = {
        "title": _("Admitted children: %(school)s", school=school.name),
        "subtitle": _subtitle(level),
        "headers": {
            "no": _("No."),
            "reference": _("Reference"),
            "full_name": _("Full name"),
            "date_of_birth": _("Date of birth"),
            "gender": _("Gender"),
            "ward": _("Ward"),
            "residential_group": _("Residential group"),
            "residence": _("Residence"),
            "choice": _("Choice no."),
            "status": _("Status"),
            "answered_on": _("Confirmed on"),
            "documents": _("Documents"),
        },
        "gender": {"male": _("Male"), "female": _("Female")},
        "residence": {"permanent": _("Permanent"), "temporary": _("Temporary")},
        "status": notify.status_labels(),
        "assigned": _("Assigned by the office"),
        "documents": {
            CouncilState.INCOMPLETE: _("To check"),
            CouncilState.PROBLEM: _("Problem flagged"),
            CouncilState.COMPLETE: _("Checked"),
        },
    }
    data, n = reports.admitted_workbook(level, school, labels, seasons.timezone())
    audit("admissions.admitted.export", school, level_id=level.id, rows=n)
    return xlsx.download(data, f"trung-tuyen-{level.level}-{school.code}.xlsx")


def _summary_labels(level: AdmissionLevel, title: str) -> dict:
    return {
        "title": title,
        "subtitle": _subtitle(level),
        "round": _("Cutoffs of the latest published round (round %(n)d)."),
        "no_round": _("No round published yet: no cutoffs."),
        "headers": {
            "school_code": _("School code"),
            "school": _("School"),
            "capacity": _("Capacity"),
            "first_choice": _("1st choice"),
            "catchment": _("Catchment applications"),
            "any_choice": _("Any choice"),
            "placed": _("Placed"),
            "confirmed": _("Confirmed"),
            "seats_left": _("Seats left"),
            "cutoff": _("Admitted down to (priority, lottery number)"),
            "district": _("District"),
            "schools": _("Schools"),
            "applications": _("Applications"),
        },
        "classes": notify.CLASS_LABELS,
        "total": _("Total"),
        "status": notify.status_labels(),
        "status_header": _("Application status"),
        "count_header": _("Applications"),
    }


@bp.route("/levels/<int:level_id>/districts/<int:district_id>/summary.xlsx")
@roles_required(OFFICER_ROLES)
def export_district_summary(level_id: int, district_id: int):
    level = level_or_404(level_id)
    district = _district_or_404(district_id)
    labels = _summary_labels(level, _("Admissions summary: %(district)s", district=district.name))
    data, n = reports.district_summary_workbook(level, district, labels)
    audit("admissions.summary.export", district, level_id=level.id, schools=n)
    return xlsx.download(data, f"tong-hop-{level.level}-{district.code}.xlsx")


@bp.route("/levels/<int:level_id>/summary.xlsx")
@roles_required(Role.CITY_ADMIN)
def export_city_summary(level_id: int):
    level = level_or_404(level_id)
    labels = _summary_labels(level, _("Admissions summary: the city"))
    data, n = reports.city_summary_workbook(level, labels)
    audit("admissions.summary.export", ("admission_level", level.id), level_id=level.id, districts=n)
    return xlsx.download(data, f"tong-hop-{level.level}-thanh-pho.xlsx")
