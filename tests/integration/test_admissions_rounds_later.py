"""Allocation rounds after the first: later rounds give freed seats to waiting children, stale
rounds are refused, the office places the unplaced; access, bounded query counts, failed runs,
trial rounds, and the inputs' digest and fingerprint (the map and the steps: tests/rounds_cases.py).
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from admissions import allocation, market, offers, placement, rounds, rules
from admissions.models import AdmissionSeason, AllocationOutcome, AllocationRound, Application
from admissions.seasons import wipe_trial
from app import jobs
from app.models import AuditLog, utcnow
from tests.admissions_factories import (
    add_child_for,
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
from tests.rounds_cases import S, as_worker, publish, run_round, statuses, text


@pytest.fixture
def run_jobs(app, run_jobs):
    return as_worker(app, run_jobs)


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
