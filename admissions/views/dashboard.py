"""Office dashboard and result exports: applications against seats, registrations per hour.

Scope (see admissions/dashboard.py): the city view is for city administrators; a district's page
for its officers (and city administrators); a school's page and its admitted list for its staff
and the officers above it. Anything outside answers 404; teachers and parents get 403.
Every export is audited (ids and counts only).
"""

from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from app import xlsx
from app.audit import audit
from app.authz import roles_required
from app.models import OFFICER_ROLES, Role

from .. import dashboard, exports, rules, seasons
from ..access import district_or_404, level_or_404, level_school_or_404
from ..forms import level_labels
from ..models import AdmissionLevel

bp = Blueprint("admissions_dashboard", __name__, url_prefix="/admissions/dashboard")

VIEWERS = (*OFFICER_ROLES, Role.SCHOOL_STAFF)


def _page(level: AdmissionLevel, scope: str, **ctx):
    tz = seasons.timezone()
    window = seasons.level_window(level)
    now = seasons.now()
    series = dashboard.hourly(
        level, tz, window=window, now=now, district_id=ctx.get("district_id"), school_id=ctx.get("school_id")
    )
    hbars, htop = rules.hour_bars(series.hours)
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
    school = current_user.school if current_user.role == Role.SCHOOL_STAFF else None
    return render_template(
        "admissions/dashboard_index.html",
        season=season,
        levels=levels,
        district=current_user.district,
        school=school,
        labels=level_labels(),
    )


@bp.route("/levels/<int:level_id>")
@roles_required(Role.CITY_ADMIN)
def city(level_id: int):
    level = level_or_404(level_id)
    rows = dashboard.district_rows(level)
    bars, height, top = rules.capacity_bars([(r.name, r.applications, r.capacity) for r in rows])
    return _page(
        level, "city", rows=rows, totals=dashboard.totals(rows), bars=bars, chart_height=height, chart_top=top
    )


@bp.route("/levels/<int:level_id>/districts/<int:district_id>")
@roles_required(OFFICER_ROLES)
def district(level_id: int, district_id: int):
    level = level_or_404(level_id)
    district = district_or_404(district_id)
    rows = dashboard.school_rows(level, district_id=district.id)
    bars, height, top = rules.capacity_bars([(r.name, r.first_choice, r.capacity) for r in rows])
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
    bars, height, top = rules.capacity_bars([(r.name, r.first_choice, r.capacity) for r in rows])
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


@bp.route("/levels/<int:level_id>/schools/<int:school_id>/admitted.xlsx")
@roles_required(VIEWERS)
def export_admitted(level_id: int, school_id: int):
    level = level_or_404(level_id)
    school = level_school_or_404(school_id, level)
    data, n = exports.admitted_workbook(level, school)
    audit("admissions.admitted.export", school, level_id=level.id, rows=n)
    return xlsx.download(data, f"trung-tuyen-{level.level}-{school.code}.xlsx")


@bp.route("/levels/<int:level_id>/districts/<int:district_id>/summary.xlsx")
@roles_required(OFFICER_ROLES)
def export_district_summary(level_id: int, district_id: int):
    level = level_or_404(level_id)
    district = district_or_404(district_id)
    data, n = exports.district_summary_workbook(level, district)
    audit("admissions.summary.export", district, level_id=level.id, schools=n)
    return xlsx.download(data, f"tong-hop-{level.level}-{district.code}.xlsx")


@bp.route("/levels/<int:level_id>/summary.xlsx")
@roles_required(Role.CITY_ADMIN)
def export_city_summary(level_id: int):
    level = level_or_404(level_id)
    data, n = exports.city_summary_workbook(level)
    audit("admissions.summary.export", ("admission_level", level.id), level_id=level.id, districts=n)
    return xlsx.download(data, f"tong-hop-{level.level}-thanh-pho.xlsx")
