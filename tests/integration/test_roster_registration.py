"""The marks of registered roster entries (admissions.counter_models.RosterRegistration) are kept
by the database with the applications: after every kind of write they equal what the
applications say, and the eligible list follows them."""

from __future__ import annotations

import sqlalchemy as sa

from admissions import eligibility
from admissions.counter_models import RosterRegistration
from admissions.models import Application, ApplicationStatus, Child
from admissions.seasons import wipe_trial
from tests.admissions_factories import (
    add_child_for,
    create_application,
    create_area,
    create_roster_entry,
    create_season,
    level_of,
)
from tests.factories import create_district, create_user


def _marks(db) -> set[tuple[int, int, int]]:
    return set(
        db.session.execute(
            sa.select(
                RosterRegistration.admission_level_id,
                RosterRegistration.roster_entry_id,
                RosterRegistration.application_id,
            )
        ).all()
    )


def _truth(db) -> set[tuple[int, int, int]]:
    return set(
        db.session.execute(
            sa.select(Application.admission_level_id, Child.roster_entry_id, Application.id)
            .join(Child, Child.id == Application.child_id)
            .where(Application.status != ApplicationStatus.WITHDRAWN)
        ).all()
    )


def _listed(level, district) -> set[int]:
    return {
        row.roster_id for row in eligibility.eligible_not_registered(level, district.id, per_page=100).items
    }


def test_the_marks_follow_every_write_to_the_applications(app, db):
    district = create_district()
    area = create_area(district, n_children=6)
    season = create_season()
    level = level_of(season)
    parent = create_user("parent", phone="0912000881")
    kids = [add_child_for(parent, entry) for entry in area.children]
    ward_ids = [area.ward.id, area.ward2.id]

    def check(listed: set[int]):
        db.session.flush()
        assert _marks(db) == _truth(db)
        assert _listed(level, district) == listed
        page = eligibility.eligible_not_registered(level, district.id, ward_ids=ward_ids, per_page=100)
        assert {row.roster_id for row in page.items} == listed

    everyone = {e.id for e in area.children}
    check(everyone)

    # Submitted one by one (the ORM's INSERT, as the factories and the services write them).
    apps = [create_application(kids[i], level, parent, catchment=area.home) for i in range(3)]
    check(everyone - {area.children[i].id for i in range(3)})

    # Several in one statement (a bench's or an import's bulk insert), one of them withdrawn.
    t = Application.__table__
    db.session.execute(
        t.insert(),
        [
            {
                "reference": f"B-{i}",
                "child_id": kids[i].id,
                "admission_level_id": level.id,
                "status": "withdrawn" if i == 5 else "submitted",
                "is_trial": False,
                "catchment_status": "ok",
                "residence_type": "permanent",
                "sibling_school_ids": [],
            }
            for i in (3, 4, 5)
        ],
    )
    check({area.children[5].id})

    # Withdrawn → listed again; resubmitted → gone; a round's statuses between live ones → unchanged.
    apps[0].status = ApplicationStatus.WITHDRAWN
    check({area.children[0].id, area.children[5].id})
    apps[0].status = ApplicationStatus.SUBMITTED
    check({area.children[5].id})
    db.session.execute(
        sa.update(t).where(t.c.status == "submitted").values(status="offered")
    )  # as publishing does
    check({area.children[5].id})
    db.session.execute(sa.update(t).where(t.c.id == apps[1].id).values(status="withdrawn"))
    check({area.children[1].id, area.children[5].id})

    # An application deleted, and a child deleted with her applications (foreign key cascade).
    db.session.execute(sa.delete(t).where(t.c.id == apps[2].id))
    check({area.children[1].id, area.children[2].id, area.children[5].id})
    db.session.execute(sa.delete(Child.__table__).where(Child.__table__.c.id == kids[3].id))
    check({area.children[1].id, area.children[2].id, area.children[3].id, area.children[5].id})


def test_the_trial_wipe_takes_its_marks_away(app, db):
    district = create_district()
    area = create_area(district, n_children=2)
    season = create_season(trial=True)
    level = level_of(season)
    parent = create_user("parent", phone="0912000882")
    extra = create_roster_entry(area.ward)
    for entry in (*area.children, extra):
        create_application(add_child_for(parent, entry, season), level, parent, catchment=area.home)
    db.session.flush()
    assert len(_marks(db)) == 3 and _marks(db) == _truth(db)
    wipe_trial(season)
    db.session.flush()
    assert _marks(db) == set() == _truth(db)
    assert _listed(level, district) == {*(e.id for e in area.children), extra.id}
