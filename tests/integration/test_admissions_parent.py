"""Parents: add a child with an admission code, apply, receipt, double submit, edit, withdraw.

Everything goes through the test client, as a family would, with real windows relative to now.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError

from admissions import applications, counters, rules
from admissions.codes import generate_codes
from admissions.models import AdmissionCode, Application, ApplicationChoice, Child, ParentChild
from app import jobs
from app.models import AuditLog, utcnow
from tests.admissions_factories import (
    add_child_for,
    create_application,
    create_roster_entry,
    level_of,
    login_en,
)
from tests.admissions_parent_cases import add_child, hidden_fields, open_form, register, submit, text
from tests.factories import create_user
from tests.querycount import count_queries


def test_whole_parent_flow(client, db, season_world, app):
    area, level = season_world["area"], season_world["level"]
    roster = area.children[0]
    code = season_world["codes"][roster.id]
    register(client, "0987654321")

    # add the child: a typo in the code is caught by the check symbol, nothing counted
    typo = code.code[:-1] + ("0" if code.code[-1] != "0" else "1")
    resp = add_child(client, rules.format_code(typo), roster)
    assert resp.status_code == 422 and "typing mistake" in text(resp)
    # a mismatch (wrong birth date) is explained and counted
    resp = add_child(
        client, rules.format_code(code.code).lower(), roster, dob=roster.date_of_birth + timedelta(days=1)
    )
    assert resp.status_code == 422 and "do not match" in text(resp) and "4 attempts left" in text(resp)
    db.session.refresh(code)
    assert code.failed_attempts == 1
    # the right entries: the child is found and filled in from the roster
    resp = add_child(client, rules.format_code(code.code), roster)
    assert resp.status_code == 302
    child = db.session.scalar(sa.select(Child).where(Child.roster_entry_id == roster.id))
    assert resp.headers["Location"].endswith(f"/children/{child.id}")
    assert (child.full_name, child.date_of_birth, child.ward_id, child.residential_group_id) == (
        roster.full_name,
        roster.date_of_birth,
        roster.ward_id,
        roster.residential_group_id,
    )
    db.session.refresh(code)
    assert code.failed_attempts == 0 and code.used_at is not None
    page = text(client.get(f"/children/{child.id}"))
    assert roster.full_name in page and area.home.name in page  # catchment school shown

    # apply with the window closed: refused, nothing stored
    level.opens_at, level.closes_at = utcnow() - timedelta(days=5), utcnow() - timedelta(days=2)
    jobs.commit()
    resp = client.get(f"/children/{child.id}/application")
    assert "Registration is closed" in text(resp)
    fields = hidden_fields(text(resp))
    resp = submit(client, child.id, {**fields, "token": "t" * 32, "application_id": ""})
    assert resp.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Application.id))) == 0

    # window open: submit → receipt with a reference number, catchment appended last
    level.opens_at, level.closes_at = utcnow() - timedelta(hours=1), utcnow() + timedelta(days=2)
    jobs.commit()
    fields = open_form(client, child.id)
    assert fields["application_id"] == ""
    resp = submit(client, child.id, fields, choices=[area.other, area.group_school])
    assert resp.status_code == 302 and "/receipt" in resp.headers["Location"]
    app_ = db.session.scalar(sa.select(Application))
    receipt = text(client.get(resp.headers["Location"]))
    assert app_.reference in receipt and roster.full_name in receipt and "print.css" in receipt
    assert re.fullmatch(r"L1-\d\d-[0-9A-Z]{7}", app_.reference) and "Last changed" not in receipt
    assert [(c.rank, c.school_id, c.is_catchment) for c in app_.choices] == [
        (1, area.other.id, False),
        (2, area.group_school.id, False),
        (3, area.home.id, True),
    ]
    assert app_.catchment_school_id == area.home.id and app_.residence_type == roster.residence_type

    # double click / retry after a timeout: the same form again → still one application
    resp = submit(client, child.id, fields, choices=[area.other])
    assert resp.status_code == 302
    assert "was already received" in text(client.get(resp.headers["Location"]))
    assert db.session.scalar(sa.select(sa.func.count(Application.id))) == 1
    db.session.expire_all()
    assert len(db.session.get(Application, app_.id).choices) == 3  # the replay changed nothing

    # edit: the edit form knows the application; choices replaced, catchment still last
    fields = open_form(client, child.id)
    assert fields["application_id"] == str(app_.id)
    resp = submit(client, child.id, fields, choices=[area.group_school])
    assert resp.status_code == 302
    db.session.expire_all()
    app_ = db.session.get(Application, app_.id)
    assert [(c.school_id, c.is_catchment) for c in app_.choices] == [
        (area.group_school.id, False),
        (area.home.id, True),
    ]

    # invalid choices: the catchment school, a school without spare seats, a repeat → 422, unchanged
    for bad in ([area.home], [area.full], [area.other, area.other]):
        resp = submit(client, child.id, open_form(client, child.id), choices=bad)
        assert resp.status_code == 422, bad
    db.session.expire_all()
    assert len(db.session.get(Application, app_.id).choices) == 2

    # withdraw, then apply again within the window
    token = client.csrf(f"/children/{child.id}")
    resp = client.post(f"/children/{child.id}/application/withdraw", data={"csrf_token": token})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, app_.id).status == "withdrawn"
    assert "Withdrawn" in text(client.get("/children/"))
    resp = submit(client, child.id, open_form(client, child.id), choices=[area.other])
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, app_.id).status == "submitted"

    # after the window closes: no more edits or withdrawals
    level.closes_at = utcnow() - timedelta(minutes=1)
    jobs.commit()
    resp = client.post(f"/children/{child.id}/application/withdraw", data={"csrf_token": token})
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, app_.id).status == "submitted"
    actions = set(db.session.scalars(sa.select(AuditLog.action).where(AuditLog.target_type == "application")))
    assert {
        "application.submit",
        "application.edit",
        "application.withdraw",
        "application.resubmit",
    } <= actions


def test_five_failures_lock_the_code_for_fifteen_minutes(client, db, season_world):
    roster = season_world["area"].children[0]
    code = season_world["codes"][roster.id]
    register(client, "0987000111")
    wrong = roster.date_of_birth + timedelta(days=3)
    for i in range(4):
        resp = add_child(client, code.code, roster, dob=wrong)
        assert f"{4 - i} attempts left" in text(resp)
    resp = add_child(client, code.code, roster, dob=wrong)
    assert "locked" in text(resp)
    db.session.refresh(code)
    assert code.locked_until is not None
    assert timedelta(minutes=14) < code.locked_until - utcnow() <= timedelta(minutes=15)
    # even the right entries are refused while locked; other codes are not affected
    resp = add_child(client, code.code, roster)
    assert resp.status_code == 422 and "locked" in text(resp)
    assert db.session.scalar(sa.select(sa.func.count(Child.id))) == 0
    other = season_world["area"].children[1]
    assert add_child(client, season_world["codes"][other.id].code, other).status_code == 302
    # after 15 minutes the code works again
    code.locked_until = utcnow() - timedelta(seconds=1)
    jobs.commit()
    assert add_child(client, code.code, roster).status_code == 302


def test_two_parents_share_a_child_and_a_stranger_gets_404(make_client, db, season_world):
    area, level = season_world["area"], season_world["level"]
    roster = area.children[0]
    code = season_world["codes"][roster.id].code
    mother, father, stranger = make_client(), make_client(), make_client()
    register(mother, "0981111111", "Lê Thị Mẹ")
    register(father, "0982222222", "Lê Văn Bố")
    register(stranger, "0983333333", "Người Lạ")
    assert add_child(mother, code, roster).status_code == 302
    assert add_child(father, code, roster).status_code == 302
    child = db.session.scalar(sa.select(Child))
    assert db.session.scalar(sa.select(sa.func.count(ParentChild.id))) == 2

    # the mother applies; the father, from a form opened before, gets "already submitted", no overwrite
    father_fields = open_form(father, child.id)
    resp = submit(mother, child.id, open_form(mother, child.id), choices=[area.other])
    assert resp.status_code == 302
    resp = submit(father, child.id, father_fields, choices=[area.group_school])
    assert resp.status_code == 302
    app_ = db.session.scalar(sa.select(Application))
    assert [c.school_id for c in app_.choices] == [area.other.id, area.home.id]
    assert "already been submitted" in text(father.get(resp.headers["Location"]))
    assert db.session.scalar(sa.select(sa.func.count(Application.id))) == 1

    # a stranger changing ids in URLs finds nothing
    token = stranger.csrf("/children/add")
    for method, url in [
        ("GET", f"/children/{child.id}"),
        ("GET", f"/children/{child.id}/application"),
        ("POST", f"/children/{child.id}/application"),
        ("POST", f"/children/{child.id}/application/withdraw"),
        ("GET", f"/children/applications/{app_.id}/receipt"),
    ]:
        resp = stranger.get(url) if method == "GET" else stranger.post(url, data={"csrf_token": token})
        assert resp.status_code == 404, (method, url)
    assert area.children[0].full_name not in text(stranger.get("/children/"))
    assert level.id  # the level exists: the 404s are about ownership, not missing records


def test_two_tabs_of_a_new_application_make_one(make_client, db, season_world):
    area = season_world["area"]
    roster = area.children[0]
    parent = make_client()
    register(parent, "0984444444")
    add_child(parent, season_world["codes"][roster.id].code, roster)
    child = db.session.scalar(sa.select(Child))
    tab1, tab2 = open_form(parent, child.id), open_form(parent, child.id)
    assert tab1["token"] != tab2["token"]
    assert submit(parent, child.id, tab1, choices=[area.other]).status_code == 302
    assert submit(parent, child.id, tab2, choices=[area.group_school]).status_code == 302
    apps = db.session.scalars(sa.select(Application)).all()
    assert len(apps) == 1 and apps[0].choices[0].school_id == area.other.id


def test_concurrent_insert_race_is_answered_with_the_existing_application(app, db, season_world):
    """Two requests that both saw no application: the database constraint decides, no error."""
    area = season_world["area"]
    parent = create_user("parent")
    child = add_child_for(parent, area.children[0])
    jobs.commit()
    ctx_a = applications.apply_context(child)
    ctx_b = applications.apply_context(child)  # read before A's insert: believes there is none
    first = applications.submit_application(ctx_a, parent, [area.other.id], None, "token-a" * 3, None)
    assert first.outcome == "created"
    again = applications.submit_application(ctx_b, parent, [area.other.id], None, "token-a" * 3, None)
    assert again.outcome == "replayed" and again.application.id == first.application.id
    other = applications.submit_application(ctx_b, parent, [area.group_school.id], None, "token-b" * 3, None)
    assert other.outcome == "exists"
    jobs.commit()
    assert db.session.scalar(sa.select(sa.func.count(Application.id))) == 1
    assert db.session.scalar(sa.select(sa.func.count(ApplicationChoice.id))) == 2


def test_a_reference_already_taken_is_drawn_again(app, db, season_world, monkeypatch):
    """The reference is not looked up before the insert: the unique constraint refuses a taken
    one and another is drawn, the choices written with the application that got in."""
    area = season_world["area"]
    first_parent, parent = create_user("parent"), create_user("parent")
    taken = applications.submit_application(
        applications.apply_context(add_child_for(first_parent, area.children[1])),
        first_parent,
        [area.other.id],
        None,
        "token-x" * 3,
        None,
    ).application.reference
    child = add_child_for(parent, area.children[0])
    jobs.commit()
    drawn = iter([taken, taken, "L1-26-FRESH01"])
    monkeypatch.setattr(applications, "_new_reference", lambda level: next(drawn))
    result = applications.submit_application(
        applications.apply_context(child), parent, [area.other.id], None, "token-y" * 3, None
    )
    jobs.commit()
    assert result.outcome == "created" and result.application.reference == "L1-26-FRESH01"
    ranked = db.session.execute(
        sa.select(ApplicationChoice.rank, ApplicationChoice.school_id, ApplicationChoice.is_catchment)
        .where(ApplicationChoice.application_id == result.application.id)
        .order_by(ApplicationChoice.rank)
    ).all()
    ctx = applications.apply_context(child)
    assert ranked == rules.ranked_choices([area.other.id], ctx.catchment.school_id)
    assert ctx.catchment.school_id is not None and len(ranked) == 2
    # The tries the constraint refused wrote nothing else either (no choices, audit entry or
    # counter for an application that was not written): one entry per application, naming it,
    # and the counters as a count from scratch gives them.
    entries = db.session.execute(
        sa.select(AuditLog.target_type, AuditLog.target_id, AuditLog.actor_id, AuditLog.details).where(
            AuditLog.action == "application.submit"
        )
    ).all()
    ids = db.session.execute(sa.select(Application.id, Application.submitted_by_id)).all()
    assert sorted(e[:3] for e in entries) == sorted(("application", str(i), by) for i, by in ids)
    assert all(e.details["choices"] == 2 for e in entries)
    db.session.expire_all()
    assert counters.drift(result.application.admission_level_id) == []


def test_database_refuses_a_second_application_for_the_same_child_and_level(app, db, season_world):
    area = season_world["area"]
    parent = create_user("parent")
    child = add_child_for(parent, area.children[0])
    create_application(child, season_world["level"], parent, catchment=area.home)
    jobs.commit()
    with pytest.raises(IntegrityError):
        create_application(child, season_world["level"], parent, catchment=area.home)
    db.session.rollback()


def test_several_children_each_labelled(client, db, season_world):
    area, season = season_world["area"], season_world["season"]
    kinder = create_roster_entry(area.ward, area.groups[0], level="kindergarten", full_name="Bé Út Nhỏ")
    generate_codes(level_of(season, "kindergarten"), season_world["district"].id)
    jobs.commit()
    register(client, "0985555555")
    first = area.children[0]
    add_child(client, season_world["codes"][first.id].code, first)
    kcode = db.session.scalar(sa.select(AdmissionCode.code).where(AdmissionCode.roster_entry_id == kinder.id))
    assert add_child(client, kcode, kinder).status_code == 302
    listing = text(client.get("/children/"))
    assert first.full_name in listing and "Bé Út Nhỏ" in listing
    kid = db.session.scalar(sa.select(Child).where(Child.roster_entry_id == kinder.id))
    page = text(client.get(f"/children/{kid.id}"))
    # the switcher names both children; the kindergarten window is not open yet
    assert first.full_name in page and "Bé Út Nhỏ" in page and 'aria-current="page"' in page
    assert "Registration has not opened yet" in page


def test_children_page_has_bounded_queries(client, db, season_world, app):
    area, level = season_world["area"], season_world["level"]
    parent = create_user("parent")
    for roster in area.children:
        child = add_child_for(parent, roster)
        create_application(child, level, parent, choices=[area.other], catchment=area.home)
    jobs.commit()
    login_en(client, parent)
    with count_queries(app) as few:
        assert client.get("/children/").status_code == 200
    for _ in range(5):
        roster = create_roster_entry(area.ward, area.groups[1])
        child = add_child_for(parent, roster)
        create_application(child, level, parent, choices=[area.other, area.group_school], catchment=area.home)
    jobs.commit()
    with count_queries(app) as more:
        page = client.get("/children/")
    assert page.status_code == 200 and text(page).count("Submitted") >= 8
    assert more.count == few.count, more.statements
