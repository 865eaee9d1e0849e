"""Changes in capacities or schools reach the parents' choice lists at once (the spare seats
cache keeps only the catchment demand; capacities are read on every page)."""

from __future__ import annotations

import time

from app import jobs
from app.extensions import db
from app.models import ImportJob, ImportStatus, utcnow
from tests.admissions_factories import (
    add_child_for,
    create_area,
    create_catchment,
    create_roster_entry,
    create_season,
    level_of,
)
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
