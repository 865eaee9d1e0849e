"""The placement page at scale: keyset pages (next / previous by the last child shown), the other
district refused whatever the cursor, and a bounded number of queries on every page.

Uses the small map of tests/rounds_cases.py (`rw`), a round published, then many more children
left without a seat."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from admissions.models import Application, ApplicationStatus
from app import jobs
from tests.admissions_factories import add_child_for, create_application, create_roster_entry, login_en
from tests.factories import create_district, create_user
from tests.querycount import count_queries
from tests.rounds_cases import as_worker


@pytest.fixture
def run_jobs(app, run_jobs):
    return as_worker(app, run_jobs)


EXTRA = 57


def text(resp) -> str:
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def _link(page: str, rel: str) -> str | None:
    found = re.search(rf'<a href="([^"]+)" rel="{rel}">', page)
    return found.group(1).replace("&amp;", "&") if found else None


def test_placement_pages_by_keyset(app, db, rw, published, client, make_client):
    names = [f"Chờ Xếp {i:03d}" for i in range(EXTRA)]
    for name in names:
        kid = add_child_for(
            rw.parent, create_roster_entry(rw.area.ward, rw.area.groups[0], full_name=name), rw.season
        )
        app_ = create_application(kid, rw.level, rw.parent, choices=[rw.area.other], catchment=rw.area.home)
        app_.status = ApplicationStatus.UNPLACED
    jobs.commit()
    waiting = db.session.scalar(
        sa.select(sa.func.count())
        .select_from(Application)
        .where(Application.status == ApplicationStatus.UNPLACED)
    )
    login_en(client, rw.officer)
    url = f"/admissions/office/districts/{rw.district.id}/levels/{rw.level.id}/placement"
    with count_queries(app) as first_q:
        first = text(client.get(url))
    assert f'data-without-seat="{waiting}"' in first and "Page 1" in first and _link(first, "prev") is None
    link = _link(first, "next")
    assert "after=" in link and "page=2" in link
    with count_queries(app) as second_q:
        second = text(client.get(link))
    assert second_q.count <= first_q.count + 1, second_q.statements  # + the anchor's sort key
    on_first = [n for n in names if n in first]
    on_second = [n for n in names if n in second]
    assert on_first and on_second and not set(on_first) & set(on_second)
    assert "Page 2" in second and f'data-without-seat="{waiting}"' in second
    back = text(client.get(_link(second, "prev")))
    assert [n for n in names if n in back] == on_first
    # an officer of another district gets 404, cursor or not
    stranger = create_user("district_officer", district=create_district())
    jobs.commit()
    other = make_client()
    login_en(other, stranger)
    assert other.get(link).status_code == 404
    assert other.get(url).status_code == 404
