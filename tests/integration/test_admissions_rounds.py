"""Allocation rounds through the app: the instance builder, a round run as a job, what-if,
publishing, the families' offers and answers. Later rounds, the office's placement, access, query
counts, failures and the trial are in test_admissions_rounds_later.py; the map and the steps in
tests/rounds_cases.py.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from admissions import allocation, market, placement, rounds, rules
from admissions.allocation import allocate_instance
from admissions.allocation.lottery import draw_lottery
from admissions.models import AllocationRound, Application, ApplicationChoice
from app import jobs
from app.models import AuditLog, utcnow
from app.notifications.models import Delivery, Notification
from tests.admissions_factories import (
    add_child_for,
    create_application,
    create_area,
    create_roster_entry,
    create_round,
    login_en,
)
from tests.factories import create_district, create_school
from tests.rounds_cases import S, as_worker, run_round, statuses, text


@pytest.fixture
def run_jobs(app, run_jobs):
    return as_worker(app, run_jobs)


# ---- the instance builder ------------------------------------------------------------------


def test_instance_builder_reads_the_database(app, db, rw):
    area = rw.area
    # A choice outside the district is dropped; a withdrawn application and another district's
    # child are left out; a catchment school missing from the stored list is appended last.
    elsewhere = create_school(create_district(), "grade1", capacity=9)
    rw.anh_app.choices[0].school_id = area.home.id

    rw.anh_app.choices.append(ApplicationChoice(rank=3, school_id=elsewhere.id))
    withdrawn = create_application(
        add_child_for(rw.parent, create_roster_entry(area.ward), rw.season),
        rw.level,
        rw.parent,
        catchment=area.home,
        status="withdrawn",
    )
    other_area = create_area(create_district(), n_children=1)
    outsider = create_application(
        add_child_for(rw.parent, other_area.children[0], rw.season),
        rw.level,
        rw.parent,
        catchment=other_area.home,
    )
    no_row = create_application(
        add_child_for(rw.parent, create_roster_entry(area.ward), rw.season), rw.level, rw.parent
    )
    no_row.catchment_school_id = area.home.id  # e.g. stored before the catchment line was added
    rnd = create_round(rw.level, rw.district, rw.officer)
    jobs.commit()

    built = market.build_instance(rnd)
    inst = built.instance
    assert inst["format"] == "school-allocation-instance/1"
    assert inst["schools"] == sorted(
        [
            {"id": s.code, "capacity": s.capacity}
            for s in (area.home, area.group_school, area.other, area.full)
        ],
        key=lambda s: s["id"],
    )
    by = {s["id"]: s for s in inst["students"]}
    key = allocation.student_key
    assert set(by) == {key(a.id) for a in [*rw.apps, rw.anh_app, rw.binh_app, no_row]}
    assert key(withdrawn.id) not in by and key(outsider.id) not in by
    assert by[key(rw.anh_app.id)]["choices"] == [area.home.code, area.other.code]  # elsewhere dropped
    assert by[key(rw.anh_app.id)]["catchment"] == area.other.code
    assert by[key(rw.binh_app.id)]["sibling_schools"] == [area.other.code]
    assert by[key(no_row.id)]["choices"] == [area.home.code]  # the guaranteed catchment, appended
    assert built.dropped_choices == 1
    assert {k: v["lottery"] for k, v in by.items()} == draw_lottery(rnd.seed, list(by))
    assert inst["meta"]["seed_sha256"] == rnd.seed_sha256 and "seed" not in inst["meta"]


# ---- the office: run, download, re-run, publish ---------------------------------------------


def test_round_from_seed_commitment_to_published_offers(app, db, rw, client, make_client, run_jobs):
    login_en(client, rw.officer)
    page = f"/admissions/office/districts/{rw.district.id}/levels/{rw.level.id}/rounds"
    assert client.get(page).status_code == 200
    resp = client.post_form(page, {})
    assert resp.status_code == 302
    rnd = db.session.scalar(sa.select(AllocationRound))
    assert resp.headers["Location"].endswith(f"/admissions/office/rounds/{rnd.id}")
    assert rnd.seed_sha256 == hashlib.sha256(rnd.seed.encode()).hexdigest()
    # Before the run: the commitment is public, the seed is not.
    office = text(client.get(f"/admissions/office/rounds/{rnd.id}"))
    public = make_client()
    pub = text(public.get(f"/admissions/rounds/{rnd.id}"))
    assert rnd.seed_sha256 in office and rnd.seed_sha256 in pub
    assert rnd.seed not in office and rnd.seed not in pub
    assert rnd.seed_sha256[:16] in text(public.get("/admissions/rounds/"))
    assert public.get(f"/admissions/rounds/{rnd.id}/input.json").status_code == 404

    # Without BEACON_URL the run waits for the beacon and says so; an officer types its value.
    resp = client.post_form(
        f"/admissions/office/rounds/{rnd.id}/run", {}, token_from=f"/admissions/office/rounds/{rnd.id}"
    )
    assert resp.status_code == 302
    assert "Waiting for the public randomness beacon" in text(
        client.get(f"/admissions/office/rounds/{rnd.id}")
    )
    assert db.session.get(AllocationRound, rnd.id).status == "draft"
    resp = client.post_form(
        f"/admissions/office/rounds/{rnd.id}/beacon",
        {"randomness": "cd" * 32, "source": "https://api.drand.sh/public/1"},
        token_from=f"/admissions/office/rounds/{rnd.id}",
    )
    assert resp.status_code == 302
    assert "https://api.drand.sh/public/1" in text(public.get(f"/admissions/rounds/{rnd.id}"))
    resp = client.post_form(
        f"/admissions/office/rounds/{rnd.id}/run", {}, token_from=f"/admissions/office/rounds/{rnd.id}"
    )
    assert resp.status_code == 302
    run_jobs()
    status = client.get(f"/admissions/office/rounds/{rnd.id}/status.json").get_json()
    assert status["status"] == "done" and status["progress"] == 100 and status["final"] is True
    assert set(statuses(db, [*rw.apps, rw.anh_app, rw.binh_app])) == {S.ALLOCATED}
    office = text(client.get(f"/admissions/office/rounds/{rnd.id}"))
    assert "over-demanded" in office and rnd.seed not in office

    # Anyone can re-run the downloaded input and get the downloaded result.
    inp = client.get(f"/admissions/office/rounds/{rnd.id}/input.json")
    out = client.get(f"/admissions/office/rounds/{rnd.id}/result.json")
    assert inp.status_code == out.status_code == 200
    assert "attachment" in inp.headers["Content-Disposition"]
    rerun = allocate_instance(inp.get_json())
    expected = out.get_json()
    for doc in (rerun, expected):
        doc["stats"].pop("seconds")
    assert rerun == expected
    for s in inp.get_json()["students"]:
        assert set(s) >= {"id", "choices", "catchment", "sibling_schools", "lottery"}
        assert re.fullmatch(r"A\d+", s["id"])  # pseudonymous: no names, no references
    assert rw.kids[0].full_name not in inp.get_data(as_text=True)

    # Publishing needs the tick box (422, nothing changes) …
    resp = client.post_form(
        f"/admissions/office/rounds/{rnd.id}/publish",
        {"confirm_by": ""},
        token_from=f"/admissions/office/rounds/{rnd.id}",
    )
    assert resp.status_code == 422
    assert set(statuses(db, rw.apps)) == {S.ALLOCATED}
    # … and is one audited transaction.
    resp = client.post_form(
        f"/admissions/office/rounds/{rnd.id}/publish",
        {"confirm_by": "", "confirm": "y"},
        token_from=f"/admissions/office/rounds/{rnd.id}",
    )
    assert resp.status_code == 302, text(resp)[-600:]
    run_jobs()
    db.session.expire_all()
    rnd = db.session.get(AllocationRound, rnd.id)
    assert rnd.status == "published" and rnd.confirm_by == rw.level.confirm_by
    got = statuses(db, [*rw.apps, rw.anh_app, rw.binh_app])
    # One home child too many: left without a seat by the round, then offered the nearest school
    # with seats at once by the office (which may still move it).
    assert got.count(S.OFFERED) == 5 and got.count(S.UNPLACED) == 0
    auto = db.session.scalars(sa.select(Application).where(Application.assigned_by_id.is_not(None))).all()
    assert len(auto) == 1 and auto[0].catchment_school_id == rw.area.home.id
    assert auto[0].allocated_school_id != rw.area.home.id
    anh = db.session.get(Application, rw.anh_app.id)
    assert (anh.allocated_school_id, anh.allocated_rank, anh.placed_by_round_id) == (
        rw.area.other.id,
        2,
        rnd.id,
    )
    assert anh.offer_deadline == rw.level.confirm_by and anh.offered_at is not None
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admissions.round.publish"))
    assert (
        entry.actor_id == rw.officer.id and entry.details["offered"] == 4 and entry.details["unplaced"] == 1
    )
    # After: the seed is public, matches the commitment, and the files can be downloaded by anyone.
    pub = text(public.get(f"/admissions/rounds/{rnd.id}"))
    assert rnd.seed in pub
    assert public.get(f"/admissions/rounds/{rnd.id}/input.json").get_json() == inp.get_json()
    # Every family is told, every message names the child.
    notes = db.session.scalars(sa.select(Notification).where(Notification.kind == "admission")).all()
    # One per child: four results, and the office's offer to the child the round left without a seat
    # (told once, by the offer, not also by a "no seat yet" result).
    assert len(notes) == 5
    assert {n.context["child_name"] for n in notes} == {k.full_name for k in [*rw.kids, rw.anh, rw.binh]}
    to_parent = db.session.scalars(
        sa.select(Delivery.notification_id).where(
            Delivery.recipient_id == rw.parent.id, Delivery.channel == "in_app"
        )
    ).all()
    # Her two children of W and Anh, one notice each.
    assert len(to_parent) == 3
    # Published: cannot run again.
    resp = client.post_form(
        f"/admissions/office/rounds/{rnd.id}/run", {}, token_from=f"/admissions/office/rounds/{rnd.id}"
    )
    assert db.session.get(AllocationRound, rnd.id).status == "published"


def test_official_round_waits_for_the_window_to_close(app, db, rw):
    rw.level.closes_at = utcnow() + timedelta(hours=1)
    rnd = create_round(rw.level, rw.district, rw.officer)
    jobs.commit()
    with pytest.raises(rules.RoundError) as err:
        rounds.queue_round(rnd, rw.officer)
    assert err.value.code == "window_not_closed"
    with pytest.raises(rules.RoundError):
        create_round(rw.level, rw.district, rw.officer)  # round 2 needs round 1 published


def test_what_if_compared_side_by_side(app, db, rw, client, run_jobs):
    rnd = run_round(create_round(rw.level, rw.district, rw.officer), run_jobs)
    login_en(client, rw.officer)
    form_page = f"/admissions/office/rounds/{rnd.id}/what-if"
    assert client.get(form_page).status_code == 200
    area = rw.area
    fields = {f"cap_{s.id}": s.capacity for s in (area.home, area.group_school, area.other, area.full)}
    bad = client.post_form(form_page, {**fields, f"cap_{area.home.id}": "-3"})
    assert bad.status_code == 422 and "0 or more" in text(bad)
    resp = client.post_form(form_page, {**fields, f"cap_{area.home.id}": 4})
    assert resp.status_code == 302
    run_jobs()
    what_if = db.session.scalar(sa.select(AllocationRound).where(AllocationRound.kind == "what_if"))
    assert what_if.status == "done" and what_if.base_round_id == rnd.id and what_if.seed == rnd.seed
    assert what_if.capacities == {area.home.code: 4}
    page = text(client.get(f"/admissions/office/rounds/{what_if.id}/compare"))
    assert "2 → 4" in page  # seats at home
    # With 4 seats at home the third home child and Anh (who ranked home first) get home.
    moved = {name for name in (rw.anh.full_name, *(k.full_name for k in rw.kids)) if name in page}
    assert rw.anh.full_name in moved and len(moved) == 2
    assert "2 children would get another school" in page
    # Never published, never changes an application.
    assert set(statuses(db, [*rw.apps, rw.anh_app])) == {S.ALLOCATED}
    with pytest.raises(rules.RoundError):
        rounds.publish_round(what_if, rw.officer, utcnow() + timedelta(days=2))


# ---- families -------------------------------------------------------------------------------


def test_parent_sees_the_offer_and_why_confirms_and_declines(
    app, db, rw, published, client, make_client, run_jobs
):
    login_en(client, rw.parent)
    page = text(client.get(f"/children/{rw.anh.id}"))
    assert f"{rw.anh.full_name} is offered a place at {rw.area.other.name}" in page
    assert (
        f"Admitted at your catchment school, {rw.area.other.name}, where a place is guaranteed "
        "(your 2nd choice)"
    ) in page
    assert (
        f"Your 1st choice, {rw.area.home.name}, was full: it admitted children down to priority "
        "“lives in the school&#39;s catchment”"
    ) in page
    assert "your priority there was “other applicants”" in page
    assert "Confirm the place of" in page
    overview = text(client.get("/children/"))
    assert rw.anh.full_name in overview and "Why this result" in overview

    # Another family cannot answer for this child.
    stranger = make_client()
    login_en(stranger, rw.parent2)
    resp = stranger.post_form(f"/children/applications/{rw.anh_app.id}/confirm", {}, token_from="/children/")
    assert resp.status_code == 404
    assert db.session.get(Application, rw.anh_app.id).status == S.OFFERED

    resp = client.post_form(
        f"/children/applications/{rw.anh_app.id}/confirm", {}, token_from=f"/children/{rw.anh.id}"
    )
    assert resp.status_code == 302
    db.session.expire_all()
    anh = db.session.get(Application, rw.anh_app.id)
    assert anh.status == S.CONFIRMED and anh.confirmed_at is not None
    assert "is confirmed" in text(client.get(f"/children/{rw.anh.id}"))
    # Double click: still confirmed, one audit entry.
    client.post_form(
        f"/children/applications/{rw.anh_app.id}/confirm", {}, token_from=f"/children/{rw.anh.id}"
    )
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == "application.confirmed")
        )
        == 1
    )

    placed = next(a for a in rw.apps[:2] if db.session.get(Application, a.id).status == S.OFFERED)
    child_id = placed.child_id
    resp = client.post_form(
        f"/children/applications/{placed.id}/decline", {}, token_from=f"/children/{child_id}"
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, placed.id).status == S.DECLINED
    assert "seat has been given back" in text(client.get(f"/children/{child_id}"))
    # The seat is free again: one seat left at home.
    assert placement.seats_left(rw.level, rw.district.id)[rw.area.home.id] == 1
    run_jobs()
    titles = [
        n.context["title"]
        for n in db.session.scalars(sa.select(Notification).where(Notification.kind == "admission"))
    ]
    assert any("Place confirmed" in t for t in titles) and any("Place declined" in t for t in titles)


def test_unanswered_offers_show_as_expired_and_the_command_records_it(
    app, db, rw, published, client, runner, run_jobs
):
    offered = [
        a
        for a in (*rw.apps, rw.anh_app, rw.binh_app)
        if db.session.get(Application, a.id).status == S.OFFERED
    ]
    assert len(offered) == 4
    for a in offered:
        db.session.get(Application, a.id).offer_deadline = utcnow() - timedelta(minutes=1)
    jobs.commit()
    login_en(client, rw.parent)
    page = text(client.get(f"/children/{rw.anh.id}"))  # shown as expired at once…
    assert "not confirmed by the deadline" in page
    assert "Confirm the place of" not in page
    db.session.expire_all()
    assert db.session.get(Application, rw.anh_app.id).status == S.OFFERED  # …but a page writes nothing
    resp = client.post_form(
        f"/children/applications/{rw.anh_app.id}/confirm", {}, token_from=f"/children/{rw.anh.id}"
    )
    assert resp.status_code == 302
    db.session.expire_all()
    assert db.session.get(Application, rw.anh_app.id).status == S.OFFERED  # too late: refused
    assert "the offer has expired" in text(client.get(f"/children/{rw.anh.id}"))
    result = runner.invoke(args=["admissions", "expire-offers"])
    assert result.exit_code == 0, result.output
    # The command records all four expiries.
    db.session.expire_all()
    assert all(db.session.get(Application, a.id).status == S.EXPIRED for a in offered)
    assert result.output.strip() == "expired 4 offers"
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "admissions.offers.expire")
        )
        == 1
    )
    run_jobs()
    titles = [
        n.context["title"]
        for n in db.session.scalars(sa.select(Notification).where(Notification.kind == "admission"))
    ]
    assert sum("Offer expired" in t for t in titles) == 4
