"""Allocation rounds through the app: instance builder, run as a job, what-if, publish, offers,
later rounds, office placement, re-running from the downloaded files, access and query counts.

A small grade-1 map (tests.admissions_factories.create_area): ward W is the catchment of `home`
(2 seats here), its group 3 of `group_school`, ward W2 of `other`; `full` has no seat.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from admissions import allocation, market, offers, placement, rounds, rules
from admissions.allocation import allocate_instance
from admissions.allocation.lottery import draw_lottery
from admissions.models import AllocationOutcome, AllocationRound, Application, ApplicationStatus
from app import jobs
from app.models import AuditLog, utcnow
from app.notifications.models import Delivery, Notification
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
from tests.factories import create_district, create_school, create_user, create_ward
from tests.querycount import count_queries

S = ApplicationStatus


def text(resp) -> str:
    return resp.get_data(as_text=True)


class World:
    pass


@pytest.fixture
def run_jobs(app, run_jobs):
    """Drain the RQ queue (PostgreSQL + Redis runs) in an app context of its own, as a worker would:
    the jobs' session never touches the test's objects."""

    def drain():
        with app.app_context():
            run_jobs()
        from app.extensions import db

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
    from app.extensions import db
    from app.models import User

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


# ---- the instance builder ------------------------------------------------------------------


def test_instance_builder_reads_the_database(app, db, rw):
    area = rw.area
    # A choice outside the district is dropped; a withdrawn application and another district's
    # child are left out; a catchment school missing from the stored list is appended last.
    elsewhere = create_school(create_district(), "grade1", capacity=9)
    rw.anh_app.choices[0].school_id = area.home.id
    from admissions.models import ApplicationChoice

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


@pytest.fixture
def published(app, db, rw, run_jobs):
    rnd = run_round(create_round(rw.level, rw.district, rw.officer), run_jobs)
    publish(rnd, rw.officer, run_jobs)
    db.session.expire_all()
    return db.session.get(AllocationRound, rnd.id)


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


# ---- later rounds ---------------------------------------------------------------------------


def test_later_round_gives_freed_seats_to_waiting_children_and_stays_stable(app, db, rw, published, run_jobs):
    waiting = next(a for a in rw.apps if db.session.get(Application, a.id).status == S.UNPLACED)
    leaving = next(a for a in rw.apps if db.session.get(Application, a.id).status == S.OFFERED)
    offers.respond_to_offer(db.session.get(Application, leaving.id), rw.parent, False)
    jobs.commit()
    r1_seats = {
        a.id: db.session.get(Application, a.id).allocated_rank for a in (*rw.apps, rw.anh_app, rw.binh_app)
    }

    second = create_round(rw.level, rw.district, rw.officer)
    jobs.commit()
    assert second.number == 2 and second.seed == published.seed  # one lottery for the season
    second = run_round(second, run_jobs)
    assert second.status == "done", second.error
    # The waiting home child (catchment priority) gets the freed home seat before Anh (other applicant).
    assert second.summary["newly_placed"] == 1 and second.summary["moved"] == 0
    inst = second.input_snapshot
    held = [s for s in inst["students"] if s.get("held")]
    assert len(held) == 3 and all(s["choices"][-1] == s["held"] for s in held)
    assert allocation.student_key(leaving.id) not in {s["id"] for s in inst["students"]}
    lot = market.round_one_lottery(rw.level.id, rw.district.id)
    assert all(s["lottery"] == lot[allocation.application_id_of(s["id"])] for s in inst["students"])

    counts = publish(second, rw.officer, run_jobs)
    assert counts == {"offered": 1, "moved": 0, "unplaced": 0}
    db.session.expire_all()
    w = db.session.get(Application, waiting.id)
    assert (w.status, w.allocated_school_id, w.placed_by_round_id) == (S.OFFERED, rw.area.home.id, second.id)
    # Nobody worse off than after round 1, and the whole matching is stable.
    for aid, rank in r1_seats.items():
        a = db.session.get(Application, aid)
        if rank is not None and a.status != S.DECLINED:
            assert a.allocated_rank <= rank
    assert_stable(db, rw.level, rw.district)


def assert_stable(db, level, district):
    """No blocking pair in the season's matching (everyone still in: offered, confirmed, unplaced)."""
    db.session.expire_all()
    instance, assignment = market.current_matching(level, district.id)
    assert instance["students"]
    assert allocation.blocking_pairs(instance, assignment) == []
    return instance, assignment


def test_publish_refuses_a_stale_round(app, db, rw, published, run_jobs):
    second = run_round(create_round(rw.level, rw.district, rw.officer), run_jobs)
    leaving = next(a for a in rw.apps if db.session.get(Application, a.id).status == S.OFFERED)
    offers.respond_to_offer(db.session.get(Application, leaving.id), rw.parent, False)  # after the run
    jobs.commit()
    with pytest.raises(rules.RoundError) as err:
        rounds.publish_round(
            db.session.get(AllocationRound, second.id), rw.officer, utcnow() + timedelta(days=3)
        )
    assert err.value.code == "stale"
    jobs.rollback()
    second = run_round(db.session.get(AllocationRound, second.id), run_jobs, reason="a decline came in")
    assert publish(second, rw.officer, run_jobs)["offered"] == 1  # the waiting home child gets the freed seat


# ---- the office places the unplaced ----------------------------------------------------------


def test_office_assigns_the_nearest_school_with_seats(app, db, rw, published, client, make_client):
    waiting = next(a for a in rw.apps if db.session.get(Application, a.id).status == S.UNPLACED)
    login_en(client, rw.officer)
    url = f"/admissions/office/districts/{rw.district.id}/levels/{rw.level.id}/placement"
    page = text(client.get(url))
    kid = db.session.get(Application, waiting.id).child
    assert kid.full_name in page
    # home is full; group_school (nearest, 1 seat left after Bình) before other (1 seat left), full has none
    names = re.findall(rf'name="a{waiting.id}-school_id" value="(\d+)"', page)
    assert names == [str(rw.area.group_school.id), str(rw.area.other.id)]
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admissions.placement.view"))

    # A school without seats is refused.
    assign = f"{url}/{waiting.id}"
    resp = client.post_form(assign, {f"a{waiting.id}-school_id": rw.area.home.id}, token_from=url)
    assert resp.status_code == 302
    assert db.session.get(Application, waiting.id).status == S.UNPLACED
    resp = client.post_form(assign, {f"a{waiting.id}-school_id": rw.area.group_school.id}, token_from=url)
    assert resp.status_code == 302
    db.session.expire_all()
    a = db.session.get(Application, waiting.id)
    assert (a.status, a.allocated_school_id, a.assigned_by_id) == (
        S.OFFERED,
        rw.area.group_school.id,
        rw.officer.id,
    )
    assert a.offer_deadline > utcnow() + timedelta(days=4)
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admissions.placement.assign"))
    assert entry.details == {
        "school_id": rw.area.group_school.id,
        "level_id": rw.level.id,
        "status": "offered",
        "before_status": "unplaced",
        "before_school_id": None,
        "automatic": False,
    }
    page = text(client.get(url))
    assert "Every child in the published rounds has a seat" in page
    # Until the family answers, the office's offer stays on the list and can be moved.
    assert "Offered by the office, awaiting the family" in page
    resp = client.post_form(assign, {f"a{waiting.id}-school_id": rw.area.other.id}, token_from=url)
    db.session.expire_all()
    assert db.session.get(Application, waiting.id).allocated_school_id == rw.area.other.id
    parent = make_client()
    login_en(parent, rw.parent if waiting.id in (rw.apps[0].id, rw.apps[1].id) else rw.parent2)
    page = text(parent.get(f"/children/{a.child_id}"))
    assert "The education office assigned this school" in page


def test_a_freed_seat_that_waiting_children_asked_for_is_kept_for_the_next_round(
    app, db, rw, published, client
):
    waiting = next(a for a in rw.apps if db.session.get(Application, a.id).status == S.UNPLACED)
    leaving = next(a for a in rw.apps if db.session.get(Application, a.id).status == S.OFFERED)
    offers.respond_to_offer(db.session.get(Application, leaving.id), rw.parent, False)
    jobs.commit()
    with pytest.raises(rules.RoundError) as err:
        placement.assign_seat(
            db.session.get(Application, waiting.id), rw.area.home, rw.officer, rw.district.id
        )
    assert err.value.code == "school_claimed"
    jobs.rollback()
    login_en(client, rw.officer)
    page = text(client.get(f"/admissions/office/districts/{rw.district.id}/levels/{rw.level.id}/placement"))
    assert "kept for the next round" in page


# ---- access and query counts ------------------------------------------------------------------


def test_other_district_and_parents_get_404_or_403(app, db, rw, published, make_client):
    stranger = create_user("district_officer", district=create_district())
    jobs.commit()
    c = make_client()
    login_en(c, stranger)
    school = rw.area.home.id
    for url in (
        f"/admissions/office/rounds/{published.id}",
        f"/admissions/office/rounds/{published.id}/status.json",
        f"/admissions/office/rounds/{published.id}/input.json",
        f"/admissions/office/rounds/{published.id}/schools/{school}",
        f"/admissions/office/rounds/{published.id}/unplaced",
        f"/admissions/office/districts/{rw.district.id}/levels/{rw.level.id}/rounds",
        f"/admissions/office/districts/{rw.district.id}/levels/{rw.level.id}/placement",
    ):
        assert c.get(url).status_code == 404, url
    p = make_client()
    login_en(p, rw.parent)
    assert p.get(f"/admissions/office/rounds/{published.id}").status_code == 403
    own = make_client()
    login_en(own, rw.officer)
    assert own.get(f"/admissions/office/rounds/{published.id}/schools/{school}").status_code == 200
    other_school = create_school(create_district(), "grade1")
    jobs.commit()
    assert own.get(f"/admissions/office/rounds/{published.id}/schools/{other_school.id}").status_code == 404
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admissions.round.list_view"))


def _more_children(rw, n):
    for _ in range(n):
        kid = add_child_for(rw.parent, create_roster_entry(rw.area.ward, rw.area.groups[0]), rw.season)
        create_application(kid, rw.level, rw.parent, choices=[rw.area.other], catchment=rw.area.home)


def test_lists_run_a_bounded_number_of_queries(app, db, rw, make_client, run_jobs):
    counts = []
    for extra in (0, 12):
        _more_children(rw, extra)
        db.session.execute(sa.delete(AllocationOutcome))
        db.session.execute(sa.delete(AllocationRound))
        db.session.execute(
            sa.update(Application).values(
                status="submitted", allocated_school_id=None, allocated_rank=None, placed_by_round_id=None
            )
        )
        jobs.commit()
        rnd = run_round(create_round(rw.level, rw.district, rw.officer), run_jobs)
        publish(rnd, rw.officer, run_jobs)
        client = make_client()
        login_en(client, rw.officer)
        urls = [
            f"/admissions/office/districts/{rw.district.id}/levels/{rw.level.id}/placement",
            f"/admissions/office/rounds/{rnd.id}/schools/{rw.area.home.id}",
            f"/admissions/office/rounds/{rnd.id}/unplaced",
            f"/admissions/office/rounds/{rnd.id}",
        ]
        seen = []
        for url in urls:
            with count_queries(app) as q:
                assert client.get(url).status_code == 200
            seen.append(q.count)
        parent = make_client()
        login_en(parent, rw.parent)
        with count_queries(app) as q:
            assert parent.get("/children/").status_code == 200
        seen.append(q.count)
        counts.append(seen)
    assert counts[0] == counts[1], counts


# ---- failures and the trial ---------------------------------------------------------------------


def test_a_failed_run_is_recorded_and_can_run_again(app, db, rw, client, run_jobs, monkeypatch):
    from admissions import allocation

    def broken(instance):
        raise allocation.InstanceError('school "X"', "capacity must be a non-negative integer")

    rnd = create_round(rw.level, rw.district, rw.officer)
    jobs.commit()
    monkeypatch.setattr(allocation, "allocate_instance", broken)
    rnd = run_round(rnd, run_jobs)
    assert rnd.status == "failed" and "capacity" in rnd.error and rnd.progress == 0
    assert set(statuses(db, rw.apps)) == {S.SUBMITTED}  # nothing stored
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "admissions.round.failed"))
    login_en(client, rw.officer)
    assert client.get(f"/admissions/office/rounds/{rnd.id}/status.json").get_json()["final"] is True
    assert "Run again" in text(client.get(f"/admissions/office/rounds/{rnd.id}"))
    monkeypatch.undo()
    rnd = run_round(db.session.get(AllocationRound, rnd.id), run_jobs)
    assert rnd.status == "done" and rnd.error is None


def test_trial_rounds_are_wiped_with_the_trial(app, db, run_jobs):
    district = create_district()
    area = create_area(district, n_children=2)
    season = create_season(trial=True)
    level = level_of(season)
    season.trial_opens_at = utcnow() - timedelta(days=2)
    season.trial_closes_at = utcnow() - timedelta(minutes=1)
    officer = create_user("district_officer", district=district)
    parent = create_user("parent")
    for r in area.children:
        create_application(add_child_for(parent, r, season), level, parent, catchment=area.home)
    jobs.commit()
    rnd = run_round(create_round(level, district, officer), run_jobs, officer)
    assert rnd.status == "done" and rnd.is_trial
    from admissions.models import AdmissionSeason
    from admissions.seasons import wipe_trial

    wipe_trial(db.session.get(AdmissionSeason, season.id))
    jobs.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AllocationRound)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AllocationOutcome)) == 0
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Application)) == 0


def test_inputs_digest_follows_what_the_entry_list_is_made_of(app, db, rw, published):
    """The digest that lets publishing skip rebuilding the Merkle root changes with every input of
    the entry list (a choice, a seat, a withdrawal, a child moving out) and not with a result."""
    digest = lambda: rounds.inputs_digest(rw.level, rw.district.id)  # noqa: E731
    if db.engine.dialect.name != "postgresql":
        assert digest() is None  # elsewhere the full check always runs
        return
    first = digest()
    offered = next(a for a in rw.apps if db.session.get(Application, a.id).status == S.OFFERED)
    db.session.get(Application, offered.id).status = S.CONFIRMED  # a result, not an input
    db.session.flush()
    assert digest() == first
    seen = {first}
    rw.anh_app.choices[0].school_id = rw.area.group_school.id
    db.session.flush()
    seen.add(digest())
    rw.area.home.capacity += 1
    db.session.flush()
    seen.add(digest())
    db.session.get(Application, rw.apps[2].id).status = S.WITHDRAWN
    db.session.flush()
    seen.add(digest())
    rw.binh.ward_id = create_ward(create_district()).id
    db.session.flush()
    seen.add(digest())
    assert len(seen) == 5


def test_fingerprint_is_the_same_text_hashed_in_python_or_in_the_database(app, db, rw, published):
    """PostgreSQL hashes in SQL what SQLite hashes row by row: a round run before the change stays
    publishable."""
    q = (
        sa.select(
            Application.id,
            Application.status,
            Application.allocated_school_id,
            Application.assigned_by_id.is_not(None),
        )
        .where(Application.admission_level_id == rw.level.id)
        .order_by(Application.id)
    )
    h = hashlib.sha256()
    for aid, status, school, office in db.session.execute(q):
        h.update(f"{aid}:{status}:{school or 0}:{int(bool(office))};".encode())
    assert rounds.fingerprint(rw.level.id, rw.district.id) == h.hexdigest()


def test_publishing_takes_both_hashes_in_one_statement_with_the_same_values(app, db, rw, published):
    """Publishing reads the district's applications once for the fingerprint and the entry-list
    digest; the values are those of the separate functions, and the digest's parts are those of
    the statement that took it before (a round queued before the change publishes without the full
    Merkle check)."""
    level, district = rw.level, rw.district.id
    both = rounds.fingerprint_and_digest(level, district)
    assert both == (rounds.fingerprint(level.id, district), rounds.inputs_digest(level, district))
    if db.engine.dialect.name != "postgresql":
        assert both[1] is None
        return
    in_district = (
        " FROM application a JOIN child c ON c.id = a.child_id JOIN ward w ON w.id = c.ward_id"
        " WHERE a.admission_level_id = :level AND w.district_id = :district"
    )
    parts = db.session.execute(
        sa.text(
            "SELECT (SELECT md5(coalesce(string_agg(concat(a.id, ':', coalesce(a.catchment_school_id, 0), ':',"
            " a.sibling_school_ids::text, ':', (a.status = 'withdrawn')::int, ';'), '' ORDER BY a.id), ''))"
            + in_district
            + "), (SELECT md5(coalesce(string_agg(concat(ch.application_id, ':', ch.rank, ':', ch.school_id, ';'),"
            " '' ORDER BY ch.application_id, ch.rank), '')) FROM application_choice ch"
            " WHERE ch.application_id IN (SELECT a.id" + in_district + ")),"
            " (SELECT md5(coalesce(string_agg(concat(s.id, ':', s.code, ':', s.capacity, ';'), '' ORDER BY s.id),"
            " '')) FROM school s WHERE s.level = :kind AND s.district_id = :district)"
        ),
        {"level": level.id, "district": district, "kind": level.level},
    ).one()
    key = hashlib.sha256(str(app.secret_key).encode("utf-8")).hexdigest()
    assert both[1] == hashlib.sha256("|".join([*parts, key]).encode()).hexdigest()
    rw.anh_app.choices[0].school_id = rw.area.group_school.id  # a choice: the digest moves, alone
    db.session.flush()
    again = rounds.fingerprint_and_digest(level, district)
    assert again[0] == both[0] and again[1] != both[1]
