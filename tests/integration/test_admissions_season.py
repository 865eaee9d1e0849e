"""Education office: season calendar, eligible children, admission codes and their export, trial wipe."""

from __future__ import annotations

import io
import re
from datetime import date, datetime, timedelta

import pytest
import sqlalchemy as sa
from openpyxl import load_workbook

from admissions import applications, eligibility, rules
from admissions.codes import generate_codes
from admissions.models import AdmissionCode, AdmissionLevel, AdmissionSeason, Application, Child, ParentChild
from admissions.views.office import PAGE_SIZE
from app import jobs
from app.demo import DEMO_PASSWORD
from app.models import AcademicYear, AuditLog, utcnow
from tests.admissions_factories import (
    add_child_for,
    create_application,
    create_area,
    create_catchment,
    create_roster_entry,
    create_season,
    english,
    intake_year,
    level_of,
    login_en,
)
from tests.admissions_parent_cases import hidden_fields, submit
from tests.factories import create_school, create_user, create_ward
from tests.querycount import count_queries
from tests.sms import register as register_with_code


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def office(app, db, world):
    """Areas in both districts of the `world`, a season with grade 1 open now."""
    da, db_ = world["districts"]
    area_a = create_area(da, n_children=4)
    area_b = create_area(db_, n_children=2)
    # children elsewhere in district A: in the group line of another school, and in ward W2
    create_roster_entry(area_a.ward, area_a.groups[2], full_name="Con Tổ Ba")
    create_roster_entry(area_a.ward2, full_name="Con Phường Hai")
    # too old for grade 1 this year: never listed
    create_roster_entry(
        area_a.ward, area_a.groups[0], dob=date(intake_year() - 7, 6, 1), full_name="Anh Lớn Tuổi"
    )
    season = create_season()
    jobs.commit()
    return {"a": area_a, "b": area_b, "season": season, "level": level_of(season), "world": world}


# ---- season setup ---------------------------------------------------------------------------


def fmt(d: datetime | None) -> str:
    return d.strftime("%Y-%m-%dT%H:%M") if d else ""


def _schedule_data(token: str, starts: dict[str, datetime | None], trial=None) -> dict:
    data = {"csrf_token": token}
    for lvl in rules.LEVELS:
        start = starts.get(lvl)
        data[f"{lvl}-opens_at"] = fmt(start)
        data[f"{lvl}-closes_at"] = fmt(start + timedelta(days=3) if start else None)
        data[f"{lvl}-confirm_by"] = fmt(start + timedelta(days=20) if start else None)
        data[f"{lvl}-state"] = "scheduled" if start else "draft"
    if trial:
        data["trial_opens_at"], data["trial_closes_at"] = (fmt(d) for d in trial)
    return data


def test_city_admin_sets_up_a_season_with_staggered_windows(client, db, world, make_client):
    year = intake_year() + 1
    ay = AcademicYear(name=f"{year}-{year + 1}", starts_on=date(year, 9, 5), ends_on=date(year + 1, 5, 31))
    db.session.add(ay)
    jobs.commit()
    login_en(client, world["users"]["city_admin"])
    resp = client.post_form("/admissions/office/seasons/new", {"academic_year_id": ay.id, "trial": "y"})
    assert resp.status_code == 302
    season = db.session.scalar(sa.select(AdmissionSeason))
    assert season.phase == "trial" and {lv.level for lv in season.levels} == {
        "kindergarten",
        "grade1",
        "grade6",
    }
    # a second season for the same year is refused with a message
    resp = client.post_form("/admissions/office/seasons/new", {"academic_year_id": ay.id})
    assert resp.status_code == 422 and "already exists" in text(resp)

    url = f"/admissions/office/seasons/{season.id}"
    token = client.csrf(url)
    g1 = datetime(year, 7, 1, 0, 0)
    # overlapping windows, and a trial that runs into the official window → 422, nothing stored
    bad = _schedule_data(
        token,
        {"grade1": g1, "kindergarten": g1 + timedelta(days=2), "grade6": g1 + timedelta(days=6)},
        trial=(g1 - timedelta(days=3), g1 + timedelta(hours=1)),
    )
    resp = client.post(url, data=bad)
    assert resp.status_code == 422
    page = text(resp)
    assert "overlap" in page and "trial must end" in page
    db.session.expire_all()
    assert all(lv.opens_at is None for lv in db.session.get(AdmissionSeason, season.id).levels)
    # closing before opening
    data = _schedule_data(token, {"grade1": g1})
    data["grade1-closes_at"] = f"{year}-06-30T00:00"
    assert client.post(url, data=data).status_code == 422
    # a valid calendar: entered in Hanoi time, stored in UTC
    good = _schedule_data(
        token,
        {"grade1": g1, "kindergarten": g1 + timedelta(days=3), "grade6": g1 + timedelta(days=6)},
        trial=(g1 - timedelta(days=10), g1 - timedelta(days=8)),
    )
    resp = client.post(url, data=good)
    assert resp.status_code == 302, text(resp)[-1500:]
    db.session.expire_all()
    levels = {lv.level: lv for lv in db.session.get(AdmissionSeason, season.id).levels}
    assert levels["grade1"].opens_at == datetime(year, 6, 30, 17, 0)  # 00:00 +07:00
    assert levels["grade1"].state == "scheduled"
    assert db.session.get(AdmissionSeason, season.id).trial_opens_at == datetime(year, 6, 20, 17, 0)
    # the form shows local time again
    assert f"{year}-07-01T00:00" in text(client.get(url))
    assert db.session.scalar(sa.select(AuditLog.id).where(AuditLog.action == "admissions.season.schedule"))

    # district officers run their district but do not edit the city calendar
    officer = make_client()
    login_en(officer, world["users"]["district_officer"])
    assert officer.get(url).status_code == 403
    assert officer.get("/admissions/office/").status_code == 200


# ---- eligibility ----------------------------------------------------------------------------


def test_eligible_list_is_scoped_to_the_district_and_excludes_registered(client, db, office):
    a, b, level = office["a"], office["b"], office["level"]
    world = office["world"]
    parent = create_user("parent")
    registered = a.children[0]
    child = add_child_for(parent, registered)
    create_application(child, level, parent, catchment=a.home)
    withdrawn = add_child_for(parent, a.children[1])
    create_application(withdrawn, level, parent, catchment=a.home, status="withdrawn")
    jobs.commit()
    login_en(client, world["users"]["district_officer"])
    da, db_ = world["districts"]
    url = f"/admissions/office/districts/{da.id}/levels/{level.id}/eligible"
    page = text(client.get(url))
    for r in a.children[1:]:
        assert r.full_name in page  # withdrawn counts as not registered
    assert registered.full_name not in page
    assert "Con Tổ Ba" in page and "Con Phường Hai" in page
    assert "Anh Lớn Tuổi" not in page
    assert all(r.full_name not in page for r in b.children)
    assert a.children[1].personal_id not in page  # IDs are masked
    assert rules.mask_personal_id(a.children[1].personal_id) in page
    # per school: the group line of another school takes "Con Tổ Ba" out of the ward's school
    page = text(client.get(url + f"?school_id={a.home.id}"))
    assert a.children[1].full_name in page and "Con Tổ Ba" not in page and "Con Phường Hai" not in page
    page = text(client.get(url + f"?school_id={a.group_school.id}"))
    assert "Con Tổ Ba" in page and a.children[1].full_name not in page
    page = text(client.get(url + f"?ward_id={a.ward2.id}"))
    assert "Con Phường Hai" in page and a.children[1].full_name not in page
    # the other district answers 404, and the view of children's records is audited
    assert client.get(f"/admissions/office/districts/{db_.id}/levels/{level.id}/eligible").status_code == 404
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admissions.eligible.view"))
    assert entry is not None and entry.details["district_id"] == da.id


def test_eligible_list_has_bounded_queries_and_pages(client, db, office, app):
    a, level = office["a"], office["level"]
    da = office["world"]["districts"][0]
    generate_codes(level, da.id)
    jobs.commit()
    login_en(client, office["world"]["users"]["city_admin"])
    url = f"/admissions/office/districts/{da.id}/levels/{level.id}/eligible"
    with count_queries(app) as few:
        assert client.get(url).status_code == 200
    for i in range(PAGE_SIZE + 5):
        create_roster_entry(a.ward, a.groups[i % 3])
    generate_codes(level, da.id)
    jobs.commit()
    with count_queries(app) as more:
        page = client.get(url)
    assert page.status_code == 200
    assert text(page).count("<tr>") - 1 == PAGE_SIZE  # header row + one page
    assert more.count == few.count, more.statements
    assert "page=2" in text(page)
    assert client.get(url + "?page=2").status_code == 200


def _next_link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_eligible_list_pages_by_keyset_keeping_the_filters(client, db, office, app):
    a, level = office["a"], office["level"]
    da, db_ = office["world"]["districts"]
    names = [f"Trẻ Số {i:03d}" for i in range(PAGE_SIZE + 7)]
    for name in names:
        create_roster_entry(a.ward2, full_name=name)
    jobs.commit()
    login_en(client, office["world"]["users"]["district_officer"])
    url = f"/admissions/office/districts/{da.id}/levels/{level.id}/eligible?ward_id={a.ward2.id}"
    with count_queries(app) as first_q:
        first = text(client.get(url))
    assert "Page 1" in first and _next_link(first, "prev") is None
    link = _next_link(first, "next")
    assert f"ward_id={a.ward2.id}" in link and "after=" in link and "page=2" in link  # filter kept
    with count_queries(app) as second_q:
        second = text(client.get(link))
    assert second_q.count <= first_q.count + 1, second_q.statements  # + the anchor's name
    shown_first = [n for n in names if n in first]
    shown_second = [n for n in names if n in second]
    # "Con Phường Hai" (ward 2 too) comes first by name; then the rest, each child once
    assert "Con Phường Hai" in first and len(shown_first) == PAGE_SIZE - 1
    assert shown_first + shown_second == names
    assert "Page 2" in second and _next_link(second, "next") is None
    back = text(client.get(_next_link(second, "prev")))
    assert [n for n in names if n in back] == shown_first and "Page 1" in back
    # another district's list refuses the officer, cursor or not
    other = f"/admissions/office/districts/{db_.id}/levels/{level.id}/eligible"
    assert client.get(other + link[link.index("?") :]).status_code == 404
    # a cursor that is not an id is ignored (first page)
    assert "Page 1" in text(client.get(url + "&after=abc&before=-3"))


def test_catchment_with_no_line_or_several_lines(client, db, office):
    a, level = office["a"], office["level"]
    da = office["world"]["districts"][0]
    lonely = create_ward(da)
    nowhere = create_roster_entry(lonely, full_name="Không Có Tuyến")
    create_catchment(a.other, a.ward, a.groups[2])  # a second group line for g3: ambiguous
    jobs.commit()
    assert eligibility.catchment_for("grade1", lonely.id, None).status == "none"
    result = eligibility.catchment_for("grade1", a.ward.id, a.groups[2].id)
    assert result.status == "ambiguous" and set(result.candidates) == {a.group_school.id, a.other.id}
    login_en(client, office["world"]["users"]["district_officer"])
    page = text(client.get(f"/admissions/office/districts/{da.id}/levels/{level.id}/eligible?unassigned=1"))
    assert nowhere.full_name in page and "Con Tổ Ba" in page and a.children[0].full_name not in page
    assert "Several catchment lines" in page and "None: to assign" in page
    # a family at an ambiguous address may rank the candidate schools; no school is guaranteed
    parent = create_user("parent")
    tobe = create_roster_entry(a.ward, a.groups[2])
    child = add_child_for(parent, tobe)
    jobs.commit()
    ctx = applications.apply_context(child)
    assert ctx.catchment_school is None and {a.group_school.id, a.other.id} <= {s.id for s in ctx.options}
    result = applications.submit_application(ctx, parent, [a.group_school.id], None, "x" * 20, None)
    assert (
        result.application.catchment_status == "ambiguous" and result.application.catchment_school_id is None
    )
    assert [c.is_catchment for c in result.application.choices] == [False]


# ---- admission codes ------------------------------------------------------------------------


def test_generate_codes_is_idempotent_and_scoped(client, db, office):
    level = office["level"]
    world = office["world"]
    da, db_ = world["districts"]
    login_en(client, world["users"]["district_officer"])
    url = f"/admissions/office/districts/{da.id}/levels/{level.id}"
    token = client.csrf(url)
    assert client.post(url + "/codes", data={"csrf_token": token}).status_code == 302
    n = db.session.scalar(sa.select(sa.func.count(AdmissionCode.id)))
    assert n == 6  # district A: 4 + "Con Tổ Ba" + "Con Phường Hai"; not the too-old child, not district B
    codes = set(db.session.scalars(sa.select(AdmissionCode.code)))
    assert all(rules.code_is_well_formed(c) for c in codes)
    assert client.post(url + "/codes", data={"csrf_token": token}).status_code == 302
    assert set(db.session.scalars(sa.select(AdmissionCode.code))) == codes
    assert (
        client.post(
            f"/admissions/office/districts/{db_.id}/levels/{level.id}/codes", data={"csrf_token": token}
        ).status_code
        == 404
    )
    audits = db.session.scalars(
        sa.select(AuditLog).where(AuditLog.action == "admissions.codes.generate")
    ).all()
    assert [e.details["created"] for e in audits] == [6, 0]
    page = text(client.get(url))
    assert office["a"].home.name in page and "codes.xlsx" in page


def test_codes_export_per_school_is_text_escaped_and_audited(client, db, office):
    a, level = office["a"], office["level"]
    world = office["world"]
    da = world["districts"][0]
    sneaky = create_roster_entry(a.ward, a.groups[0], full_name='=HYPERLINK("http://x")')
    generate_codes(level, da.id)
    jobs.commit()
    login_en(client, world["users"]["district_officer"])
    resp = client.get(f"/admissions/office/levels/{level.id}/schools/{a.home.id}/codes.xlsx")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in resp.headers["Content-Disposition"]
    wb = load_workbook(io.BytesIO(resp.data))
    rows = list(wb.active.iter_rows(values_only=True))
    header, body = rows[0], rows[1:]
    assert header[0] == "Admission code" and header[1] == "Full name"
    names = {r[1] for r in body}
    assert {c.full_name for c in a.children} | {
        '\'=HYPERLINK("http://x")'
    } == names  # not Con Tổ Ba / Phường Hai
    for row in body:
        assert re.fullmatch(r"[0-9A-Z]{3}-[0-9A-Z]{3}-[0-9A-Z]{3}", row[0])
        assert rules.code_is_well_formed(row[0].replace("-", ""))
        assert re.fullmatch(r"\d\d/\d\d/\d{4}", row[2])
    for cell in wb.active[2]:
        assert cell.data_type == "s"  # text cells only: no formula, no number, no date
    assert sneaky.id
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admissions.codes.export"))
    assert entry.target_type == "school" and entry.target_id == str(a.home.id)
    assert entry.details == {"level_id": level.id, "rows": len(body)}
    # another district's school: 404 for the district officer
    b = office["b"]
    assert (
        client.get(f"/admissions/office/levels/{level.id}/schools/{b.home.id}/codes.xlsx").status_code == 404
    )
    # the district's children without a catchment school have their own export
    resp = client.get(f"/admissions/office/districts/{da.id}/levels/{level.id}/codes-unassigned.xlsx")
    assert resp.status_code == 200


# ---- trial ----------------------------------------------------------------------------------


def test_trial_wipe_deletes_trial_data_and_goes_official(make_client, db, app, world):
    area = create_area(world["districts"][0], n_children=2)
    season = create_season(trial=True)
    level = level_of(season)
    earlier = create_user("parent")
    old_child = add_child_for(
        earlier, create_roster_entry(area.ward, level="grade6")
    )  # an official child, kept
    generate_codes(level, area.district.id)
    jobs.commit()
    parent = make_client()
    register_with_code(parent, "0971234567", "Mẹ Thử", "correct horse battery staple")
    english(parent)
    roster = area.children[0]
    code = db.session.scalar(sa.select(AdmissionCode).where(AdmissionCode.roster_entry_id == roster.id))
    assert code.is_trial
    resp = parent.post_form(
        "/children/add",
        {
            "code": code.code,
            "personal_id": roster.personal_id,
            "date_of_birth": roster.date_of_birth.isoformat(),
        },
    )
    assert resp.status_code == 302
    child = db.session.scalar(sa.select(Child).where(Child.roster_entry_id == roster.id))
    child_id = child.id
    assert child.trial_season_id == season.id
    page = text(parent.get(f"/children/{child.id}/application"))
    assert "Trial" in text(parent.get(f"/children/{child.id}"))
    resp = submit(parent, child.id, hidden_fields(page), choices=[area.other])
    assert resp.status_code == 302
    assert "TRIAL" in text(parent.get(resp.headers["Location"]))  # the receipt says so
    app_ = db.session.scalar(sa.select(Application))
    assert app_.is_trial

    admin = make_client()
    login_en(admin, world["users"]["city_admin"])
    url = f"/admissions/office/seasons/{season.id}/wipe-trial"
    token = admin.csrf(f"/admissions/office/seasons/{season.id}")
    # without the confirmation tick: nothing happens
    assert admin.post(url, data={"csrf_token": token}).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Application.id))) == 1
    resp = admin.post(url, data={"csrf_token": token, "confirm": "y"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Application.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(AdmissionCode.id))) == 0
    assert db.session.scalar(sa.select(Child.id).where(Child.id == child_id)) is None
    assert db.session.get(Child, old_child.id) is not None
    assert db.session.scalar(sa.select(sa.func.count(ParentChild.id))) == 1
    season = db.session.get(AdmissionSeason, season.id)
    assert season.phase == "official" and season.trial_wiped_at is not None
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admissions.season.wipe_trial"))
    assert entry.details == {"applications": 1, "children": 1, "codes": 2}
    # the parent's page no longer shows the child
    assert roster.full_name not in text(parent.get("/children/"))


def test_trial_wipe_refused_once_an_official_window_has_opened(client, db, world):
    season = create_season(trial=True)
    level_of(season).opens_at = utcnow() - timedelta(minutes=5)
    level_of(season).closes_at = utcnow() + timedelta(days=1)
    jobs.commit()
    login_en(client, world["users"]["city_admin"])
    token = client.csrf(f"/admissions/office/seasons/{season.id}")
    resp = client.post(
        f"/admissions/office/seasons/{season.id}/wipe-trial",
        data={"csrf_token": token, "confirm": "y"},
        follow_redirects=True,
    )
    assert "can no longer be wiped" in text(resp)
    db.session.expire_all()
    assert db.session.get(AdmissionSeason, season.id).phase == "trial"


def test_office_pages_render(client, db, office):
    world = office["world"]
    da = world["districts"][0]
    login_en(client, world["users"]["city_admin"])
    page = text(client.get("/admissions/office/"))
    assert office["season"].academic_year.name in page and "(open now)" in page
    level_page = client.get(f"/admissions/office/districts/{da.id}/levels/{office['level'].id}")
    assert level_page.status_code == 200 and office["a"].home.name in text(level_page)
    assert client.get(f"/admissions/office/seasons/{office['season'].id}").status_code == 200
    assert db.session.scalar(sa.select(sa.func.count(AdmissionLevel.id))) == 3


def test_demo_season_lets_the_demo_parent_apply(runner, client, db):
    assert runner.invoke(args=["demo", "load"]).exit_code == 0
    codes = db.session.scalar(sa.select(sa.func.count(AdmissionCode.id)))
    assert codes > 400
    result = runner.invoke(args=["demo", "load"])
    assert result.exit_code == 0
    assert db.session.scalar(sa.select(sa.func.count(AdmissionCode.id))) == codes
    client.login("0912345678", DEMO_PASSWORD)
    english(client)
    listing = text(client.get("/children/"))
    child_id = int(re.search(r'/children/(\d+)"', listing).group(1))
    page = text(client.get(f"/children/{child_id}"))
    assert "Apply for" in page  # the grade 1 window is open now


def test_level_overview_has_bounded_queries(client, db, office, app):
    a, level = office["a"], office["level"]
    da = office["world"]["districts"][0]
    generate_codes(level, da.id)
    jobs.commit()
    login_en(client, office["world"]["users"]["district_officer"])
    url = f"/admissions/office/districts/{da.id}/levels/{level.id}"
    with count_queries(app) as few:
        assert client.get(url).status_code == 200
    for _ in range(4):
        school = create_school(da, "grade1", capacity=50)
        ward = create_ward_with_child(da)
        create_catchment(school, ward)
    parent = create_user("parent")
    for roster in a.children:
        create_application(add_child_for(parent, roster), level, parent, choices=[a.other], catchment=a.home)
    generate_codes(level, da.id)
    jobs.commit()
    with count_queries(app) as more:
        page = client.get(url)
    assert page.status_code == 200
    assert more.count == few.count, more.statements


def create_ward_with_child(district):
    ward = create_ward(district)
    create_roster_entry(ward)
    return ward


def test_the_level_page_counts_the_districts_own_children_codes_and_applications(db, office):
    a, b, level = office["a"], office["b"], office["level"]
    da, db_ = office["world"]["districts"]
    parent = create_user("parent")
    for roster in a.children[:3]:
        create_application(add_child_for(parent, roster), level, parent, catchment=a.home)
    for roster in b.children:
        create_application(add_child_for(parent, roster), level, parent, catchment=b.home)
    generate_codes(level, db_.id)
    db.session.flush()
    _rows, totals = eligibility.level_overview(level, da.id)
    # District A: 4 + 2 eligible children (the one too old is not), no codes there yet, 3 applied;
    # district B's two children, codes and applications are not A's.
    assert (totals["eligible"], totals["codes"], totals["applications"]) == (6, 0, 3)
    _rows, totals = eligibility.level_overview(level, db_.id)
    assert (totals["eligible"], totals["codes"], totals["applications"]) == (2, 2, 2)
