"""Live dashboard and result exports: figures, scope, queries, audit."""

from __future__ import annotations

import io
import re
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from admissions import council, counters, dashboard, rounds
from admissions.models import Application, Child
from admissions.rules import Window
from app import jobs
from app.extensions import db as database
from app.models import AuditLog, utcnow
from tests.admissions_factories import (
    add_child_for,
    close_window,
    create_application,
    create_area,
    create_roster_entry,
    create_round,
    create_season,
    level_of,
    login_en,
)
from tests.factories import create_district, create_school, create_user
from tests.querycount import count_queries


@dataclass
class Season:
    level: object
    season: object
    a: object  # district A's area
    b: object  # district B's area
    parent: object
    apps: dict
    users: dict


def build_season(*, trial: bool = False) -> Season:
    """District A: six applications of one family's children (two ranked `other` first, one the
    catchment only, one withdrawn, one offered at home, one confirmed at other); district B: one."""
    da, db_ = create_district(name="Quận Alpha"), create_district(name="Quận Beta")
    a, b = create_area(da, n_children=6), create_area(db_, n_children=1)
    season = create_season(trial=trial)
    level = level_of(season)
    parent = create_user("parent", full_name="Trần Thị Phụ Huynh")
    kids = [add_child_for(parent, r, season) for r in a.children]
    apps = {
        "other1": create_application(kids[0], level, parent, choices=[a.other], catchment=a.home),
        "other2": create_application(
            kids[1], level, parent, choices=[a.other, a.group_school], catchment=a.home
        ),
        "home": create_application(kids[2], level, parent, catchment=a.home),
        "withdrawn": create_application(
            kids[3], level, parent, choices=[a.group_school], catchment=a.home, status="withdrawn"
        ),
        "offered": create_application(kids[4], level, parent, catchment=a.home, status="offered"),
        "confirmed": create_application(
            kids[5], level, parent, choices=[a.other], catchment=a.home, status="confirmed"
        ),
    }
    apps["offered"].allocated_school_id, apps["offered"].allocated_rank = a.home.id, 1
    apps["confirmed"].allocated_school_id, apps["confirmed"].allocated_rank = a.other.id, 1
    apps["confirmed"].confirmed_at = utcnow()
    database.session.flush()
    counters.recompute_for_season(level.id)  # the seats above were set directly, not by a round
    other_parent = create_user("parent")
    kid_b = add_child_for(other_parent, b.children[0], season)
    apps["b"] = create_application(kid_b, level, other_parent, catchment=b.home)
    users = {
        "officer_a": create_user("district_officer", district=da),
        "officer_b": create_user("district_officer", district=db_),
        "city": create_user("city_admin"),
        "staff_home": create_user("school_staff", school=a.home),
        "staff_b": create_user("school_staff", school=b.home),
        "teacher_home": create_user("teacher", school=a.home),
        "parent": parent,
    }
    jobs.commit()
    return Season(level, season, a, b, parent, apps, users)


@pytest.fixture
def world2(app, db):
    return build_season()


def text(resp) -> str:
    return resp.get_data(as_text=True)


def test_school_rows_count_choices_catchments_and_placements(world2):
    rows = {r.school_id: r for r in dashboard.school_rows(world2.level, district_id=world2.a.district.id)}
    a = world2.a
    assert set(rows) == {
        a.home.id,
        a.group_school.id,
        a.other.id,
        a.full.id,
    }  # district B's school is not there
    home, other, group = rows[a.home.id], rows[a.other.id], rows[a.group_school.id]
    # withdrawn applications do not count anywhere
    assert (home.first_choice, home.catchment, home.any_choice) == (2, 5, 5)
    assert (other.first_choice, other.catchment, other.any_choice) == (3, 0, 3)
    assert (group.first_choice, group.any_choice) == (0, 1)
    assert (home.placed, home.confirmed, other.placed, other.confirmed) == (1, 0, 1, 1)
    assert other.percent == round(100 * 3 / 80) and not other.over
    assert rows[a.full.id].percent is None  # no seats: no percentage


def test_district_rows_count_children_by_residence(world2):
    rows = {r.district_id: r for r in dashboard.district_rows(world2.level)}
    ra, rb = rows[world2.a.district.id], rows[world2.b.district.id]
    assert (ra.schools, ra.capacity, ra.applications, ra.placed, ra.confirmed) == (4, 180, 5, 2, 1)
    assert (rb.schools, rb.applications) == (4, 1)


def test_registrations_per_hour_are_bucketed_in_vietnam_time(world2, db):
    lv = world2.level
    opens = datetime(2026, 7, 1, 17, 0)  # 00:00 on 2 July in Hanoi (UTC+7)
    lv.opens_at, lv.closes_at = opens, opens + timedelta(days=3)
    stamps = [
        opens + timedelta(minutes=5),
        opens + timedelta(minutes=59),
        opens + timedelta(hours=1, minutes=1),
        opens + timedelta(hours=30),
        opens - timedelta(hours=2),
        opens + timedelta(minutes=30),
    ]
    for app_, at in zip(world2.apps.values(), stamps, strict=False):
        app_.submitted_at = at
    world2.apps["b"].submitted_at = opens + timedelta(minutes=10)
    db.session.flush()
    counters.recompute_for_season(lv.id)  # the hours were set directly, not by a submission
    jobs.commit()

    now = opens + timedelta(hours=40)
    series = dashboard.hourly(
        lv,
        "Asia/Ho_Chi_Minh",
        window=Window(lv.opens_at, lv.closes_at),
        now=now,
        district_id=world2.a.district.id,
    )
    hours = dict(series.hours)
    # one registered at 22:00 local on 1 July, before the window: still shown
    assert hours[datetime(2026, 7, 1, 22)] == 1
    assert hours[datetime(2026, 7, 2, 0)] == 3  # 00:05, 00:30, 00:59; district B's 00:10 is not counted
    assert hours[datetime(2026, 7, 2, 1)] == 1
    assert hours[datetime(2026, 7, 3, 6)] == 1  # the withdrawn one still registered at that hour
    assert hours[datetime(2026, 7, 2, 5)] == 0  # empty hours are there, with zero
    assert series.hours[-1][0] == datetime(2026, 7, 3, 16)  # up to now (40 h after opening), not beyond
    assert series.total == 6 and series.peak == (datetime(2026, 7, 2, 0), 3)
    city = dashboard.hourly(lv, "Asia/Ho_Chi_Minh", window=Window(lv.opens_at, lv.closes_at), now=now)
    assert dict(city.hours)[datetime(2026, 7, 2, 0)] == 4
    school = dashboard.hourly(
        lv, "Asia/Ho_Chi_Minh", window=Window(lv.opens_at, lv.closes_at), now=now, school_id=world2.a.other.id
    )
    assert school.total == 3


def test_district_page_for_its_officer(make_client, world2):
    client = make_client()
    login_en(client, world2.users["officer_a"])
    resp = client.get(f"/admissions/dashboard/levels/{world2.level.id}/districts/{world2.a.district.id}")
    assert resp.status_code == 200
    page = text(resp)
    assert world2.a.home.name in page and world2.a.other.name in page and world2.b.home.name not in page
    assert "<svg" in page and 'aria-hidden="true"' in page and "admissions_office.css" in page
    assert " style=" not in page and "<script>" not in page  # CSP: no inline style or script
    assert "Registrations per hour" in page
    assert resp.headers["Cache-Control"] == "no-store"
    # the school links and exports are there
    assert f"/admissions/dashboard/levels/{world2.level.id}/schools/{world2.a.home.id}" in page
    assert "summary.xlsx" in page


def test_scope_of_each_page(make_client, world2):
    lv, a, u = world2.level.id, world2.a, world2.users
    pages = {
        "city": f"/admissions/dashboard/levels/{lv}",
        "district_a": f"/admissions/dashboard/levels/{lv}/districts/{a.district.id}",
        "school_home": f"/admissions/dashboard/levels/{lv}/schools/{a.home.id}",
        "summary_a": f"/admissions/dashboard/levels/{lv}/districts/{a.district.id}/summary.xlsx",
        "admitted_home": f"/admissions/dashboard/levels/{lv}/schools/{a.home.id}/admitted.xlsx",
        "city_summary": f"/admissions/dashboard/levels/{lv}/summary.xlsx",
        "index": "/admissions/dashboard/",
    }
    expected = {
        "officer_a": {
            "city": 403,
            "district_a": 200,
            "school_home": 200,
            "summary_a": 200,
            "admitted_home": 200,
            "city_summary": 403,
            "index": 200,
        },
        "officer_b": {
            "city": 403,
            "district_a": 404,
            "school_home": 404,
            "summary_a": 404,
            "admitted_home": 404,
            "city_summary": 403,
            "index": 200,
        },
        "city": dict.fromkeys(pages, 200),
        "staff_home": {
            "city": 403,
            "district_a": 403,
            "school_home": 200,
            "summary_a": 403,
            "admitted_home": 200,
            "city_summary": 403,
            "index": 200,
        },
        "staff_b": {
            "city": 403,
            "district_a": 403,
            "school_home": 404,
            "summary_a": 403,
            "admitted_home": 404,
            "city_summary": 403,
            "index": 200,
        },
        "teacher_home": dict.fromkeys(pages, 403),
        "parent": dict.fromkeys(pages, 403),
    }
    for who, codes in expected.items():
        client = make_client()
        client.login_as(u[who])
        got = {name: client.get(url).status_code for name, url in pages.items()}
        assert got == codes, who
    # a school of another level is not found under this level
    kinder = create_school(a.district, level="kindergarten")
    jobs.commit()
    client = make_client()
    client.login_as(u["officer_a"])
    assert client.get(f"/admissions/dashboard/levels/{lv}/schools/{kinder.id}").status_code == 404
    assert client.get(f"/admissions/dashboard/levels/999999/districts/{a.district.id}").status_code == 404


def test_city_page_has_one_row_per_district(make_client, world2):
    client = make_client()
    login_en(client, world2.users["city"])
    page = text(client.get(f"/admissions/dashboard/levels/{world2.level.id}"))
    assert world2.a.district.name in page and world2.b.district.name in page
    assert f"/districts/{world2.b.district.id}" in page


def test_school_staff_see_their_school_only(make_client, world2):
    client = make_client()
    login_en(client, world2.users["staff_home"])
    page = text(client.get("/admissions/dashboard/"))
    assert f"/schools/{world2.a.home.id}" in page and "/districts/" not in page
    page = text(client.get(f"/admissions/dashboard/levels/{world2.level.id}/schools/{world2.a.home.id}"))
    assert world2.a.home.name in page and world2.a.other.name not in page


def _grow(world2, schools: int, per_school: int):
    """More schools and applications in district A (same family, new roster children)."""
    a = world2.a
    for _ in range(schools):
        s = create_school(a.district, "grade1", capacity=30)
        for _ in range(per_school):
            r = create_roster_entry(a.ward, a.groups[0])
            kid = add_child_for(world2.parent, r, world2.season)
            create_application(kid, world2.level, world2.parent, choices=[s], catchment=a.home)
    jobs.commit()


def test_pages_run_a_bounded_number_of_queries(app, make_client, world2):
    lv, a = world2.level.id, world2.a
    urls = [
        f"/admissions/dashboard/levels/{lv}/districts/{a.district.id}",
        f"/admissions/dashboard/levels/{lv}",
        f"/admissions/dashboard/levels/{lv}/schools/{a.home.id}",
    ]
    client = make_client()
    client.login_as(world2.users["city"])

    def counts():
        out = []
        for url in urls:
            with count_queries(app) as q:
                assert client.get(url).status_code == 200
            out.append(q.count)
        return out

    before = counts()
    _grow(world2, schools=6, per_school=3)
    after = counts()
    assert after == before, (before, after)
    assert max(after) <= 14


# ---- exports -----------------------------------------------------------------------------------


def _sheet_rows(data: bytes, sheet: str | None = None):
    wb = load_workbook(io.BytesIO(data), read_only=True)
    ws = wb[sheet] if sheet else wb.worksheets[0]
    return [list(r) for r in ws.iter_rows(values_only=True)]


def test_admitted_list_export_is_escaped_and_audited(make_client, world2, db):
    offered = world2.apps["offered"]
    offered.child.full_name = '=HYPERLINK("http://evil")'
    jobs.commit()
    client = make_client()
    login_en(client, world2.users["staff_home"])
    resp = client.get(
        f"/admissions/dashboard/levels/{world2.level.id}/schools/{world2.a.home.id}/admitted.xlsx"
    )
    assert resp.status_code == 200 and resp.headers["Cache-Control"] == "no-store"
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    rows = _sheet_rows(resp.data)
    header = rows.index(next(r for r in rows if r and r[0] == "No."))
    body = [r for r in rows[header + 1 :] if any(r)]
    # only the child offered a place at this school (not the ones who merely applied)
    assert len(body) == 1
    assert body[0][1] == offered.reference and body[0][2] == '\'=HYPERLINK("http://evil")'
    assert body[0][9] == "Offered a place" and body[0][11] == "To check"
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admissions.admitted.export"))
    assert entry.target_type == "school" and entry.target_id == str(world2.a.home.id)
    assert entry.details == {"level_id": world2.level.id, "rows": 1}
    assert entry.actor_id == world2.users["staff_home"].id


def test_admitted_list_shows_the_confirmation_day_in_vietnam_time(make_client, world2):
    confirmed = world2.apps["confirmed"]
    confirmed.confirmed_at = datetime(2026, 7, 10, 18, 30)  # UTC: 01:30 on 11 July in Hanoi
    jobs.commit()
    client = make_client()
    login_en(client, world2.users["city"])
    resp = client.get(
        f"/admissions/dashboard/levels/{world2.level.id}/schools/{world2.a.other.id}/admitted.xlsx"
    )
    rows = _sheet_rows(resp.data)
    row = next(r for r in rows if len(r) > 1 and r[1] == confirmed.reference)
    assert row[10] == "11/07/2026"


def test_district_summary_export(make_client, world2, db):
    client = make_client()
    login_en(client, world2.users["officer_a"])
    resp = client.get(
        f"/admissions/dashboard/levels/{world2.level.id}/districts/{world2.a.district.id}/summary.xlsx"
    )
    assert resp.status_code == 200
    rows = _sheet_rows(resp.data, "schools")
    by_code = {r[0]: r for r in rows if r and r[0] in {world2.a.home.code, world2.a.other.code}}
    home = by_code[world2.a.home.code]
    assert home[2:9] == [60, 2, 5, 5, 1, 0, 59]
    assert rows[-1][0] == "Total" and rows[-1][2] == 180
    statuses = dict(r for r in _sheet_rows(resp.data, "statuses")[1:])
    assert statuses["Submitted"] == 3 and statuses["Withdrawn"] == 1 and statuses["Place confirmed"] == 1
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admissions.summary.export"))
    assert entry.target_type == "district" and entry.details == {"level_id": world2.level.id, "schools": 4}


def test_city_summary_export(make_client, world2):
    client = make_client()
    login_en(client, world2.users["city"])
    resp = client.get(f"/admissions/dashboard/levels/{world2.level.id}/summary.xlsx")
    assert resp.status_code == 200
    rows = _sheet_rows(resp.data)
    names = {r[0]: r for r in rows if r}
    assert names["Quận Alpha"][3] == 5 and names["Quận Beta"][3] == 1


def test_home_links_to_the_dashboard(make_client, world2):
    client = make_client()
    login_en(client, world2.users["officer_a"])
    assert "/admissions/dashboard/" in text(client.get("/home"))
    client = make_client()
    login_en(client, world2.users["staff_home"])
    home = text(client.get("/home"))
    assert "/admissions/dashboard/" in home and "/admissions/council/" in home


def test_trial_figures_are_labelled(make_client, app, db):
    w = build_season(trial=True)
    client = make_client()
    login_en(client, w.users["officer_a"])
    page = text(client.get(f"/admissions/dashboard/levels/{w.level.id}/districts/{w.a.district.id}"))
    assert "Trial phase" in page
    assert re.search(r"ranking these schools first\S*\s*<strong>5</strong>", page)
    assert (
        db.session.scalar(sa.select(sa.func.count(Application.id)).where(Application.is_trial.is_(True))) == 7
    )


# ---- cross-cutting: every staff view or export of a child's record is logged ---------------------


def test_every_staff_page_showing_a_child_is_audited(app, make_client, world2, db, run_jobs):
    """Walk every admissions GET route a city administrator may open, with real ids: any page that
    shows a child's name, and any download (Excel, JSON files), must have written an audit entry."""

    close_window(world2.level)
    rnd = create_round(world2.level, world2.a.district, world2.users["officer_a"])
    jobs.commit()
    rounds.queue_round(rnd, world2.users["officer_a"])
    jobs.commit()
    with app.app_context():
        run_jobs()
    db.session.expire_all()
    council.update_documents(
        world2.apps["home"],
        world2.a.home,
        world2.users["staff_home"],
        {"birth_certificate": ("problem", "Bản sao mờ.")},
    )
    jobs.commit()
    ids = {
        "level_id": world2.level.id,
        "district_id": world2.a.district.id,
        "school_id": world2.a.home.id,
        "application_id": world2.apps["home"].id,
        "round_id": rnd.id,
        "season_id": world2.season.id,
    }
    names = set(db.session.scalars(sa.select(Child.full_name)))
    client = make_client()
    client.login_as(world2.users["city"])
    checked, shown = [], []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if (
            not rule.endpoint.startswith("admissions")
            or "GET" not in rule.methods
            or view.access_public
            or "city_admin" not in view.access_roles
            or set(rule.arguments) - set(ids)
        ):
            continue
        url = rule.build({a: ids[a] for a in rule.arguments})[1]
        before = db.session.scalar(sa.select(sa.func.count(AuditLog.id)))
        resp = client.get(url)
        if resp.status_code != 200:
            continue
        after = db.session.scalar(sa.select(sa.func.count(AuditLog.id)))
        download = "attachment" in resp.headers.get("Content-Disposition", "")
        html = "" if download else text(resp)
        if download or any(n in html for n in names):
            shown.append(rule.endpoint)
            assert after > before, f"{url} shows or exports children's records without an audit entry"
        checked.append(rule.endpoint)
    expected = {
        "admissions_council.queue",
        "admissions_council.application",
        "admissions_dashboard.export_admitted",
        "admissions_rounds.round_school",
        "admissions_office.eligible",
    }
    assert expected <= set(shown), sorted(set(shown))
    # and the dashboard itself shows no child
    assert "admissions_dashboard.district" in checked and "admissions_dashboard.district" not in shown
