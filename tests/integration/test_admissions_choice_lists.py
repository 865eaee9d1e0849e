"""Changes in capacities or schools reach the parents' choice lists at once, whether made on a page
or by an Excel import (the families' pages cache the district's places per season and
`places_version`, which the database's triggers bump on every such write)."""

from __future__ import annotations

import time

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import ImportJob, ImportStatus, School, utcnow
from tests.admissions_factories import (
    add_child_for,
    create_area,
    create_catchment,
    create_roster_entry,
    create_season,
    level_of,
)
from tests.admissions_import_cases import EN, upload, xlsx
from tests.factories import create_district, create_school, create_user
from tests.querycount import count_queries


def _choices(page: str) -> str:
    """The first choice's list (the sibling list names every school of the district)."""
    start = page.index('name="choice_1"')
    return page[start : page.index("</select>", start)]


def _option(school) -> str:
    return f'<option value="{school.id}"'


def _family(make_client):
    district = create_district()
    area = create_area(district, n_children=3)
    season = create_season()
    parent = create_user("parent")
    child = add_child_for(parent, area.children[0], season)
    jobs.commit()
    client = make_client()
    client.login_as(parent)
    return district, area, level_of(season), child, client


def test_a_new_capacity_or_school_is_offered_at_once(app, make_client):
    district, area, level, child, client = _family(make_client)
    url = f"/children/{child.id}/application"
    page = _choices(client.get(url).get_data(as_text=True))
    assert _option(area.other) in page and _option(area.full) not in page  # no seats at all

    area.full.capacity = 30  # the office raises a capacity
    newcomer = create_school(district, "grade1", capacity=50, name="Tiểu học Mới Mở")
    jobs.commit()
    page = _choices(client.get(url).get_data(as_text=True))
    assert _option(area.full) in page and _option(newcomer) in page

    area.other.capacity = 0
    jobs.commit()
    assert _option(area.other) not in _choices(client.get(url).get_data(as_text=True))


def test_an_uploaded_catchment_changes_the_demand_at_once(app, make_client):
    district, area, level, child, client = _family(make_client)
    url = f"/children/{child.id}/application"
    area.other.capacity = 3  # three seats, no catchment demand yet in ward W…
    jobs.commit()
    assert _option(area.other) in _choices(client.get(url).get_data(as_text=True))
    # …then a catchment upload gives it ward W's group 2, where three children live.
    for _ in range(3):
        create_roster_entry(area.ward, area.groups[1])
    create_catchment(area.other, area.ward, area.groups[1])
    db.session.add(
        ImportJob(kind="catchments", status=ImportStatus.DONE, file_token="t-1", finished_at=utcnow())
    )
    jobs.commit()
    assert _option(area.other) not in _choices(client.get(url).get_data(as_text=True))


def test_the_choose_page_cost(app, make_client, capsys):
    """Statements and time of the choice page, warm (figures printed for the record)."""
    district, area, level, child, client = _family(make_client)
    url = f"/children/{child.id}/application"
    client.get(url)
    with count_queries(app) as counter:
        started = time.perf_counter()
        for _ in range(20):
            assert client.get(url).status_code == 200
        elapsed = (time.perf_counter() - started) / 20
    per_page = counter.count / 20
    with capsys.disabled():
        print(f"\nchoose page: {per_page:.1f} statements, {elapsed * 1000:.1f} ms per page (warm)")
    assert per_page <= 20


def test_an_imported_capacity_or_school_is_offered_at_once(app, make_client, runner, tmp_path, run_jobs):
    """The office's Excel import of schools (an upload run as a job, or the command): a raised
    capacity and a new school are on the family's next page, a capacity set to 0 is gone."""
    district, area, level, child, client = _family(make_client)
    officer = create_user("district_officer", district=district)
    jobs.commit()
    url = f"/children/{child.id}/application"
    full, other = area.full, area.other
    before = _choices(client.get(url).get_data(as_text=True))
    assert _option(full) not in before and "Tiểu học Mới Mở" not in before

    def row(code, name, capacity):  # blank address and coordinates: kept as stored
        return [code, name, "grade1", district.name, area.ward.name, None, capacity, None, None]

    office = make_client()
    office.login_as(officer)
    rows = [row(full.code, full.name, 30), row("TH-MOI-MO", "Tiểu học Mới Mở", 50)]
    resp = upload(office, "schools", xlsx("schools", EN["schools"], rows))
    assert resp.status_code == 302, resp.get_data(as_text=True)
    run_jobs()
    page = _choices(client.get(url).get_data(as_text=True))
    newcomer = db.session.scalar(sa.select(School).where(School.code == "TH-MOI-MO"))
    assert _option(full) in page and newcomer is not None and _option(newcomer) in page

    # The same through the command (not a job): no wait either.
    sheet = tmp_path / "schools.xlsx"
    sheet.write_bytes(xlsx("schools", EN["schools"], [row(other.code, other.name, 0)]))
    result = runner.invoke(args=["admissions", "import-schools", str(sheet)])
    assert result.exit_code == 0, result.output
    assert _option(other) not in _choices(client.get(url).get_data(as_text=True))


def test_any_write_to_schools_lines_or_an_import_job_bumps_the_places_version(app, db):
    """The families' pages cache the district's places per season and `places_version`
    (admissions.places); the database's triggers keep the version. A migration that recreates
    one of these tables (SQLite batch mode drops its triggers with it) fails here."""
    district = create_district()
    area = create_area(district, n_children=1)
    season = create_season()
    jobs.commit()
    table = sa.text("SELECT places_version FROM admission_season WHERE id = :id")

    def bumped(sql: str, **params) -> bool:
        before = db.session.scalar(table, {"id": season.id})
        db.session.execute(sa.text(sql), params)
        jobs.commit()
        return db.session.scalar(table, {"id": season.id}) > before

    sid, ward = area.other.id, area.ward.id
    assert bumped("UPDATE school SET capacity = capacity + 1 WHERE id = :id", id=sid)
    assert bumped("DELETE FROM catchment WHERE school_id = :id", id=area.home.id)
    assert bumped("INSERT INTO catchment (school_id, ward_id) VALUES (:s, :w)", s=area.home.id, w=ward)
    code = f"NEW-{time.time_ns()}"
    assert bumped(
        "INSERT INTO school (code, name, level, district_id, capacity, address) "
        "VALUES (:c, 'TH Mới', 'grade1', :d, 10, '')",
        c=code,
        d=district.id,
    )
    assert bumped("DELETE FROM school WHERE code = :c", c=code)
    job = ImportJob(kind="schools", status=ImportStatus.RUNNING, file_token=f"t{time.time_ns()}")
    db.session.add(job)
    jobs.commit()
    assert bumped(
        "UPDATE import_job SET status = 'done', finished_at = :t WHERE id = :id", t=utcnow(), id=job.id
    )
    assert not bumped("UPDATE ward SET name = name WHERE id = :id", id=ward)
