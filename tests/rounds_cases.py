"""The allocation-round tests' world and steps (a pytest plugin of tests/conftest.py): a small
grade-1 map with its families (`rw`), a published first round (`published`), running and
publishing a round as the office does, and `as_worker`, for modules whose jobs must run as a
worker runs them.

A small grade-1 map (tests.admissions_factories.create_area): ward W is the catchment of `home`
(2 seats here), its group 3 of `group_school`, ward W2 of `other`; `full` has no seat.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from admissions import rounds
from admissions.models import AllocationRound, Application, ApplicationStatus
from app import jobs
from app.extensions import db
from app.models import User, utcnow
from tests.admissions_factories import (
    add_child_for,
    close_window,
    create_application,
    create_area,
    create_roster_entry,
    create_round,
    create_season,
    level_of,
)
from tests.factories import create_district, create_user

S = ApplicationStatus


def text(resp) -> str:
    return resp.get_data(as_text=True)


class World:
    pass


def as_worker(app, run_jobs):
    """`run_jobs` drained in an app context of its own, as a worker would, and the test's session
    expired after it: the jobs' session never touches the test's objects, and the test reads what
    they wrote. A module takes it as its `run_jobs` with a three-line override."""

    def drain():
        with app.app_context():
            run_jobs()
        db.session.expire_all()

    return drain


@pytest.fixture
def rw(app, db):
    """Three children of ward W (catchment `home`, 2 seats), Anh in W2 who ranks `home` above her
    catchment `other`, Bình in group 3 (`group_school`) with a sibling at `other`."""
    w = World()
    w.district = create_district()
    area = w.area = create_area(w.district, n_children=3)
    area.home.capacity, area.group_school.capacity, area.other.capacity = 2, 2, 3
    for i, s in enumerate((area.home, area.group_school, area.other, area.full)):
        s.latitude, s.longitude = 21.03 + i * 0.01, 105.80 + i * 0.01
    w.season = create_season()
    w.level = close_window(level_of(w.season))
    w.officer = create_user("district_officer", district=w.district)
    w.parent = create_user("parent")
    w.parent2 = create_user("parent")
    w.parent.locale = w.parent2.locale = "en"  # notification texts are rendered in the recipient's language
    w.kids = [
        add_child_for(w.parent if i < 2 else w.parent2, r, w.season) for i, r in enumerate(area.children)
    ]
    w.apps = [
        create_application(k, w.level, w.parent if i < 2 else w.parent2, catchment=area.home)
        for i, k in enumerate(w.kids)
    ]
    anh = create_roster_entry(area.ward2, full_name="Nguyễn Thị Anh")
    w.anh = add_child_for(w.parent, anh, w.season)
    w.anh_app = create_application(w.anh, w.level, w.parent, choices=[area.home], catchment=area.other)
    binh = create_roster_entry(area.ward, area.groups[2], full_name="Trần Văn Bình")
    w.binh = add_child_for(w.parent2, binh, w.season)
    w.binh_app = create_application(w.binh, w.level, w.parent2, catchment=area.group_school)
    w.binh_app.sibling_school_ids = [area.other.id]
    jobs.commit()
    return w


def run_round(rnd, run_jobs, actor=None, reason: str = "") -> AllocationRound:
    """Queue and run a round as the office's button does (RQ worker with Redis); running again on
    the same entries takes a reason."""

    rounds.queue_round(rnd, actor or db.session.get(User, rnd.created_by_id), reason)
    jobs.commit()
    run_jobs()
    db.session.expire_all()
    return db.session.get(AllocationRound, rnd.id)


def publish(rnd, officer, run_jobs, days: int = 5):
    counts = rounds.publish_round(rnd, officer, utcnow() + timedelta(days=days))
    jobs.commit()
    run_jobs()
    return counts


def statuses(db, apps) -> list[str]:
    db.session.expire_all()
    return [db.session.get(Application, a.id).status for a in apps]


@pytest.fixture
def published(app, db, rw, run_jobs):
    rnd = run_round(create_round(rw.level, rw.district, rw.officer), run_jobs)
    publish(rnd, rw.officer, run_jobs)
    db.session.expire_all()
    return db.session.get(AllocationRound, rnd.id)
