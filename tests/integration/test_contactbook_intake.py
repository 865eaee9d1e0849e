"""From admissions into classes: the children confirmed at a school become its incoming pupils
of the new year; staff split them (balanced by gender and date of birth), move pupils, confirm in
one audited step; guardians are the parent accounts that applied with a proven phone; the
families are told."""

from __future__ import annotations

import threading
from datetime import date

import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import AuditLog
from app.notifications.models import Notification
from contactbook.intake_models import IntakePlacement
from contactbook.models import Enrolment, Guardian, Pupil, SchoolClass
from tests.admissions_factories import (
    add_child_for,
    create_application,
    create_roster_entry,
    create_season,
    level_of,
)
from tests.contactbook_factories import create_class, create_pupil, create_year
from tests.factories import create_district, create_school, create_user, create_ward


def _setup():
    district = create_district()
    ward = create_ward(district)
    school = create_school(district, "grade1", code="TH-INTAKE")
    create_year("2026-2027")
    following = create_year("2027-2028", current=False)
    season = create_season(year=2027)
    level = level_of(season, "grade1")
    parents, children = [], []
    for i in range(6):
        gender = "female" if i % 2 else "male"
        entry = create_roster_entry(
            ward, level="grade1", dob=date(2021, 1 + i, 10), gender=gender, full_name=f"Trẻ Số {i}"
        )
        parent = create_user("parent", phone_verified=i != 5)  # the last family never proved its phone
        child = add_child_for(parent, entry, season)
        app_ = create_application(child, level, parent, status="confirmed")
        app_.allocated_school_id = school.id
        parents.append(parent)
        children.append(child)
    # Not the school's incoming pupils: an offer not yet confirmed, a trial application.
    entry = create_roster_entry(ward, level="grade1", dob=date(2021, 8, 1))
    other = add_child_for(create_user("parent"), entry, season)
    create_application(other, level, parents[0], status="offered").allocated_school_id = school.id
    staff = create_user("school_staff", school=school)
    jobs.commit()
    return school, following, staff, parents, children


def _client(make_client, user):
    client = make_client()
    client.login_as(user)
    client.post_form("/lang", {"lang": "en"}, token_from="/home")
    return client


def test_split_move_confirm(app, make_client):
    school, following, staff, parents, children = _setup()
    client = _client(make_client, staff)
    url = f"/contactbook/schools/{school.id}/intake"
    assert url in client.get(f"/contactbook/schools/{school.id}").get_data(as_text=True)

    page = client.get(url).get_data(as_text=True)
    assert "School year 2027-2028" in page and "Trẻ Số 0" in page and "Trẻ Số 5" in page
    assert "<strong>6</strong> incoming pupils" in page and "<strong>6</strong> without a class" in page
    # Confirming before a split is refused, and writes nothing.
    refused = client.post_form(url, {"action": "confirm", "confirmed": "y"})
    assert refused.status_code == 422 and "6 pupils have no class yet" in refused.get_data(as_text=True)
    bad = client.post_form(url, {"action": "split", "count": "0"})
    assert bad.status_code == 422 and "between 1 and 30" in bad.get_data(as_text=True)
    too_many = client.post_form(url, {"action": "split", "count": "7"})
    assert too_many.status_code == 422 and "only 6 pupils" in too_many.get_data(as_text=True)

    resp = client.post_form(url, {"action": "split", "count": "2"})
    assert resp.status_code == 302
    placements = db.session.scalars(sa.select(IntakePlacement)).all()
    by_class = {n: [p for p in placements if p.class_name == n] for n in ("1A", "1B")}
    assert [len(v) for v in by_class.values()] == [3, 3]
    page = client.get(url).get_data(as_text=True)
    assert "Class 1A" in page and "Class 1B" in page and "<strong>0</strong> without a class" in page

    # A manual move: the first child of 1A goes to 1B.
    key = by_class["1A"][0].source_key
    resp = client.post_form(url, {"action": "move", f"move-{key}": "1B"})
    assert resp.status_code == 302
    db.session.expire_all()
    assert (
        db.session.scalar(sa.select(IntakePlacement.class_name).where(IntakePlacement.source_key == key))
        == "1B"
    )
    unknown = client.post_form(url, {"action": "move", "move-admissions:999999": "1A"})
    assert unknown.status_code == 422

    # Confirming needs the box ticked, then enrols everyone in one audited step.
    assert client.post_form(url, {"action": "confirm"}).status_code == 422
    assert db.session.scalar(sa.select(sa.func.count(Pupil.id))) == 0
    resp = client.post_form(url, {"action": "confirm", "confirmed": "y"})
    assert resp.status_code == 302, resp.get_data(as_text=True)
    db.session.expire_all()
    classes = {c.name: c for c in db.session.scalars(sa.select(SchoolClass))}
    assert set(classes) == {"1A", "1B"} and {c.academic_year_id for c in classes.values()} == {following.id}
    assert (
        db.session.scalar(
            sa.select(sa.func.count(Enrolment.id)).where(Enrolment.academic_year_id == following.id)
        )
        == 6
    )
    sizes = {
        n: db.session.scalar(sa.select(sa.func.count(Enrolment.id)).where(Enrolment.class_id == c.id))
        for n, c in classes.items()
    }
    assert sizes == {"1A": 2, "1B": 4}
    pupils = {p.full_name: p for p in db.session.scalars(sa.select(Pupil))}
    assert pupils["Trẻ Số 0"].pupil_code == children[0].roster_entry.personal_id
    links = set(db.session.execute(sa.select(Guardian.pupil_id, Guardian.user_id)))
    for i in range(5):
        assert (pupils[f"Trẻ Số {i}"].id, parents[i].id) in links
    # The family that never proved its phone is not linked.
    assert not any(pid == pupils["Trẻ Số 5"].id for pid, _ in links)
    told = db.session.scalars(sa.select(Notification).where(Notification.kind == "contact_book")).all()
    assert len(told) == 5 and all("2027-2028" in n.title for n in told)
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "contactbook.intake_confirm"))
    assert entry.actor_id == staff.id

    page = client.get(url).get_data(as_text=True)
    assert "<strong>6</strong> confirmed in their classes" in page and "Confirm the classes" not in page
    again = client.post_form(url, {"action": "confirm", "confirmed": "y"})
    assert again.status_code == 422 and "already in a class" in again.get_data(as_text=True)


def test_a_child_already_imported_is_not_doubled(app, make_client):
    school, following, staff, parents, children = _setup()
    cls = create_class(school, "1A", year=following)
    create_pupil(cls, code=children[0].roster_entry.personal_id)
    jobs.commit()
    client = _client(make_client, staff)
    url = f"/contactbook/schools/{school.id}/intake"
    assert client.post_form(url, {"action": "split", "count": "1"}).status_code == 302
    assert client.post_form(url, {"action": "confirm", "confirmed": "y"}).status_code == 302
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Pupil.id))) == 6
    assert db.session.scalar(sa.select(sa.func.count(SchoolClass.id))) == 1


def test_another_schools_staff_cannot_see_it(app, make_client):
    school, *_ = _setup()
    other = create_user("school_staff", school=create_school(create_district()))
    jobs.commit()
    client = _client(make_client, other)
    assert client.get(f"/contactbook/schools/{school.id}/intake").status_code == 404


def test_two_staff_confirming_at_once_enrol_each_child_once(app, make_client):
    """On PostgreSQL the second confirmation waits for the first, then finds nothing to do."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks: PostgreSQL only (SQLite serialises writers itself)")
    school, following, staff, parents, children = _setup()
    second = create_user("school_staff", school=school)
    jobs.commit()
    url = f"/contactbook/schools/{school.id}/intake"
    clients = [_client(make_client, staff), _client(make_client, second)]
    assert clients[0].post_form(url, {"action": "split", "count": "2"}).status_code == 302
    tokens = [c.csrf(url) for c in clients]
    barrier = threading.Barrier(2)
    statuses = []

    def confirm(client, token):
        with app.app_context():  # each thread its own context and database session
            barrier.wait()
            resp = client.c.post(url, data={"csrf_token": token, "action": "confirm", "confirmed": "y"})
            statuses.append(resp.status_code)

    threads = [threading.Thread(target=confirm, args=pair) for pair in zip(clients, tokens, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(statuses) == [302, 422]
    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Pupil.id))) == 6
    assert db.session.scalar(sa.select(sa.func.count(Enrolment.id))) == 6
