"""The office's counters (admissions/counters.py) through the real write paths: after each kind of
write they equal a count from scratch, the dashboard shows them, and the nightly command reports
(and repairs) a counter that drifted."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from itertools import count

import pytest
import sqlalchemy as sa

from admissions import counters, dashboard, offers, placement, reports
from admissions.applications import apply_context, submit_application, withdraw_application
from admissions.counter_models import AdmissionCounter, RosterRegistration
from admissions.models import Application, ApplicationStatus, Child
from app import jobs
from app.models import Ward, utcnow
from tests.admissions_factories import (
    add_child_for,
    close_window,
    create_area,
    create_catchment,
    create_roster_entry,
    create_round,
    create_season,
    level_of,
)
from tests.factories import create_district, create_user, create_ward
from tests.rounds_cases import publish, run_round

S = ApplicationStatus
_tokens = count(1)


def same_as_from_scratch(db, level) -> None:
    jobs.commit()
    db.session.expire_all()
    assert counters.drift(level.id) == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(AdmissionCounter)) > 0


def in_thread(app, db, name, backends, errors, body) -> threading.Thread:
    """A thread running body() in a transaction of its own (its PostgreSQL server process kept in
    backends[name]) and committing it; what it raises is kept in errors[name], rolled back."""

    def run() -> None:
        with app.app_context():
            try:
                backends[name] = db.session.scalar(sa.text("SELECT pg_backend_pid()"))
                body()
                jobs.commit()
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                errors[name] = exc
                jobs.rollback()

    return threading.Thread(target=run)


def recount(level_id: int, district_id: int) -> None:
    counters.recompute_for_season(level_id, district_id, statuses_only=True)


def second_waits_on_first(db, first, second, release, backends, errors, locktype="%") -> None:
    """Start the first transaction's thread; once it says it is ready, start the second's and
    watch until the second's own server process waits on a lock (of `locktype`, any by default;
    not finished, not failed; the server may serve other databases, whose waits are not this
    test's); then release the first (it commits, or after a failed check ends, either way) and
    join both. `first`: (thread, ready event); `second`: (thread, its name in `backends`)."""
    (first, ready), (second, name) = first, second
    first.start()
    try:
        assert ready.wait(20), errors
        second.start()
        deadline = time.monotonic() + 20
        waits = sa.text(
            "SELECT count(*) FROM pg_locks WHERE NOT granted AND pid = :pid AND locktype LIKE :lt"
        )
        with db.engine.connect() as watcher:
            while name not in backends or not watcher.scalar(waits, {"pid": backends[name], "lt": locktype}):
                assert second.is_alive() and time.monotonic() < deadline, (
                    f"no wait on a lock of type {locktype}",
                    errors,
                )
                time.sleep(0.02)
    finally:
        release.set()
        first.join(20)
        if second.ident is not None:
            second.join(20)


def offered_district(db):
    """A district whose children (two in one ward, listing their catchment school and another)
    hold offers at their catchment school, the counters recounted, committed:
    (level, area, parent, applications)."""
    season = create_season()
    level = level_of(season)
    area = create_area(create_district(), n_children=2)
    parent = create_user("parent")
    apps = [submit(add_child_for(parent, e, season), parent, [area.other.id]) for e in area.children]
    close_window(level)
    db.session.execute(
        sa.update(Application)
        .where(Application.id.in_([a.id for a in apps]))
        .values(
            status=S.OFFERED,
            allocated_school_id=area.home.id,
            allocated_rank=1,
            offer_deadline=utcnow() + timedelta(days=3),
        )
    )
    counters.recompute_for_season(level.id, area.district.id, statuses_only=True)
    jobs.commit()
    return level, area, parent, apps


def submit(child, parent, others=(), expected=None):
    ctx = apply_context(child)
    result = submit_application(ctx, parent, list(others), None, f"tok-{next(_tokens)}", expected)
    assert result.outcome in ("created", "updated", "resubmitted"), result.outcome
    return result.application


def test_counters_follow_every_write_and_the_command_reports_drift(app, db, runner, run_jobs):
    district = create_district()
    area = create_area(district, n_children=5)
    area.home.capacity, area.group_school.capacity, area.other.capacity = 2, 2, 3
    season = create_season()
    level = level_of(season)
    officer = create_user("district_officer", district=district)
    parent = create_user("parent")
    kids = [add_child_for(parent, r, season) for r in area.children]
    jobs.commit()

    # submit, then a choice edit, a withdrawal and a resubmission
    apps = [submit(k, parent, [area.other.id] if i % 2 else []) for i, k in enumerate(kids)]
    same_as_from_scratch(db, level)
    rows = {r.school_id: r for r in dashboard.school_rows(level, district_id=district.id)}
    assert (rows[area.home.id].catchment, rows[area.other.id].first_choice) == (5, 2)
    submit(kids[0], parent, [area.other.id, area.group_school.id], expected=apps[0].id)
    same_as_from_scratch(db, level)
    withdraw_application(apply_context(kids[1]), parent)
    same_as_from_scratch(db, level)
    assert dict(reports.status_counts(level, district.id))["withdrawn"] == 1
    submit(kids[1], parent, [], expected=apps[1].id)
    withdraw_application(apply_context(kids[2]), parent)
    same_as_from_scratch(db, level)

    # a round: results stored (allocated), then published (offered / unplaced)
    close_window(level)
    jobs.commit()
    rnd = run_round(create_round(level, district, officer), run_jobs)
    same_as_from_scratch(db, level)
    publish(rnd, officer, run_jobs)
    same_as_from_scratch(db, level)
    db.session.expire_all()
    mine = [db.session.get(Application, a.id) for a in apps]
    offered = [a for a in mine if a.status == S.OFFERED]
    assert len(offered) >= 2

    # families answer
    offers.respond_to_offer(offered[0], parent, accept=True)
    same_as_from_scratch(db, level)
    offers.respond_to_offer(offered[1], parent, accept=False)
    same_as_from_scratch(db, level)
    rows = {r.school_id: r for r in dashboard.school_rows(level, district_id=district.id)}
    assert sum(r.confirmed for r in rows.values()) == 1

    # the office places a child left without a seat
    waiting = db.session.get(Application, offered[1].id)
    placement.assign_seat(waiting, area.other, officer, district.id)
    same_as_from_scratch(db, level)

    # expiries (set-based)
    assert offers.expire_offers(level.id, district.id, at=utcnow() + timedelta(days=30)) >= 1
    same_as_from_scratch(db, level)

    # a tampered counter: reported, exit 1; --fix repairs it
    db.session.execute(
        sa.update(AdmissionCounter)
        .where(AdmissionCounter.admission_level_id == level.id, AdmissionCounter.scope == "school")
        .values(first_choice=AdmissionCounter.first_choice + 7)
    )
    jobs.commit()
    assert counters.drift(level.id)
    result = runner.invoke(args=["admissions", "counters"])
    assert result.exit_code == 1 and "drifted 0" not in result.output
    assert "stored" in result.output and "counted" in result.output
    result = runner.invoke(args=["admissions", "counters", "--fix"])
    assert result.exit_code == 1
    result = runner.invoke(args=["admissions", "counters"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("drifted 0")

    # the eligible list's registration marks (kept by triggers): one lost, one left over → reported,
    # --fix writes them again from the applications
    marks = RosterRegistration.__table__
    gone = db.session.execute(sa.select(marks).where(marks.c.admission_level_id == level.id).limit(1)).one()
    db.session.execute(sa.delete(marks).where(marks.c.application_id == gone.application_id))
    jobs.commit()
    assert counters.mark_drift(level.id) == (1, 0)
    result = runner.invoke(args=["admissions", "counters"])
    assert result.exit_code == 1 and "registration marks: missing 1, extra 0" in result.output
    result = runner.invoke(args=["admissions", "counters", "--fix"])
    assert result.exit_code == 1
    assert counters.mark_drift(level.id) == (0, 0)
    result = runner.invoke(args=["admissions", "counters"])
    assert result.exit_code == 0, result.output
    assert gone.application_id in set(db.session.scalars(sa.select(marks.c.application_id)))


def test_two_districts_recounting_at_once_take_turns(app, db):
    """Results day: two districts publish at once, and children of one live in a ward whose
    catchment school is across the border, in the other: both recounts rewrite that school's rows.
    The second waits for the first to commit and then counts what it committed: both publications
    stand and the counters equal a count from scratch (before, the second deleted only the rows it
    saw and met the first's new ones: a unique violation, its publication rolled back)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite lets one writer at a time anyway")
    season = create_season()
    level = level_of(season)
    north, south = create_area(create_district(), n_children=2), create_area(create_district(), n_children=2)
    border = create_ward(north.district)  # a northern ward served by a southern school
    create_catchment(south.other, border)
    north.children += [create_roster_entry(border) for _ in range(2)]
    parent = create_user("parent")
    for entry in north.children + south.children:
        submit(add_child_for(parent, entry, season), parent)
    close_window(level)
    jobs.commit()
    level_id = level.id

    recounted, release = threading.Event(), threading.Event()
    errors: dict[str, BaseException] = {}
    backends: dict[str, int] = {}  # each transaction's PostgreSQL server process

    def publish_like(district_id: int, hold: threading.Event | None):
        def body() -> None:
            # a round's results for the district (set-based, as publishing writes them)
            wards = sa.select(Ward.id).where(Ward.district_id == district_id)
            db.session.execute(
                sa.update(Application)
                .where(Application.child_id.in_(sa.select(Child.id).where(Child.ward_id.in_(wards))))
                .values(status=S.OFFERED)
            )
            recount(level_id, district_id)
            if hold is not None:
                recounted.set()
                assert hold.wait(20)

        return body

    first = in_thread(app, db, "north", backends, errors, publish_like(north.district.id, release))
    second = in_thread(app, db, "south", backends, errors, publish_like(south.district.id, None))
    # the second waits for its turn (the level's recount lock), not only on the first's rows
    second_waits_on_first(db, (first, recounted), (second, "south"), release, backends, errors, "advisory")
    assert errors == {}
    db.session.expire_all()
    statuses = set(
        db.session.scalars(sa.select(Application.status).where(Application.admission_level_id == level_id))
    )
    assert statuses == {S.OFFERED}
    assert counters.drift(level_id) == []


def test_a_family_answering_while_its_level_is_recounted(app, db, caplog):
    """A family confirms its offer while the office's expiries (or a publication) recount the
    level: the answer adds a counter row the recount did not see when it deleted (the school's
    first confirmed place), and the recount, once the answer commits, meets it. The recount counts
    again and stands; the counters equal a count from scratch (before, a unique violation rolled
    the publication back)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite lets one writer at a time anyway")
    level, area, parent, apps = offered_district(db)
    level_id, district_id, answering_id, parent_id = level.id, area.district.id, apps[0].id, parent.id
    caplog.set_level(logging.INFO, logger="admissions.counters")

    answered, release = threading.Event(), threading.Event()
    errors: dict[str, BaseException] = {}
    backends: dict[str, int] = {}

    def family() -> None:
        app_ = db.session.get(Application, answering_id)
        offers.respond_to_offer(app_, db.session.get(type(parent), parent_id), accept=True)
        answered.set()
        assert release.wait(20)

    # the recount waits for the answer's row locks (the school's "offered" row it changed)
    first = in_thread(app, db, "family", backends, errors, family)
    second = in_thread(app, db, "office", backends, errors, lambda: recount(level_id, district_id))
    second_waits_on_first(db, (first, answered), (second, "office"), release, backends, errors)
    assert errors == {}
    db.session.expire_all()
    assert db.session.get(Application, answering_id).status == S.CONFIRMED
    assert counters.drift(level_id) == []
    # it met the answer's row and counted again (not a recount that happened to miss it)
    assert "counting again" in caplog.text


def test_a_write_holding_counter_rows_while_its_level_is_recounted(app, db, caplog):
    """A write of one application holds one of the level's counter rows, and then reaches for the
    others, which the recount's DELETE took on its way to the one held: a deadlock. PostgreSQL
    fails the recount (the first to wait); rolled back to its savepoint, it lets the write through
    and counts again: both stand (before, the publication was rolled back)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite lets one writer at a time anyway")
    level, area, _parent, _apps = offered_district(db)
    level_id, district_id = level.id, area.district.id
    caplog.set_level(logging.INFO, logger="admissions.counters")
    t = AdmissionCounter.__table__
    in_scope = [t.c.admission_level_id == level_id, t.c.scope.in_(counters.STATUS_SCOPES)]
    # the row the write holds first: first neither in the table's order nor in the key's, so
    # that the recount, however it scans, has taken another row before it waits on this one
    by_place = list(
        db.session.execute(
            sa.select(t.c.scope, t.c.scope_id, t.c.status).where(*in_scope).order_by(sa.text("ctid"))
        )
    )
    by_key = sorted(by_place)
    assert len(by_place) >= 3, by_place
    held = next(r for r in by_key if r not in (by_key[0], by_place[0]))

    def touch(*where):  # lock the rows as a write's upsert does, changing nothing
        db.session.execute(sa.update(t).where(*in_scope, *where).values(applications=t.c.applications))

    holding, release = threading.Event(), threading.Event()
    errors: dict[str, BaseException] = {}
    backends: dict[str, int] = {}

    def writer() -> None:
        # only the recount may detect the deadlock (it waits first; this waits 10 s)
        db.session.execute(sa.text("SET LOCAL deadlock_timeout = '10s'"))
        touch(t.c.scope == held.scope, t.c.scope_id == held.scope_id, t.c.status == held.status)
        holding.set()
        assert release.wait(20)
        touch()  # the other rows: waits for the recount until PostgreSQL fails it

    first = in_thread(app, db, "write", backends, errors, writer)
    second = in_thread(app, db, "office", backends, errors, lambda: recount(level_id, district_id))
    second_waits_on_first(db, (first, holding), (second, "office"), release, backends, errors)
    assert errors == {}
    assert "held rows it also needed" in caplog.text
    db.session.expire_all()
    assert counters.drift(level_id) == []


def test_an_application_submitted_again_while_the_marks_are_repaired(app, db, caplog):
    """The nightly repair writes a level's registration marks again while a family submits an
    application it had withdrawn: the trigger's mark, committed between the repair's DELETE and
    its INSERT, meets the repair's own. The repair writes them again and stands (before, a unique
    violation failed the command)."""
    if db.engine.dialect.name != "postgresql":
        pytest.skip("PostgreSQL only: SQLite lets one writer at a time anyway")
    season = create_season()
    level = level_of(season)
    area = create_area(create_district(), n_children=2)
    parent = create_user("parent")
    kids = [add_child_for(parent, e, season) for e in area.children]
    apps = [submit(k, parent) for k in kids]
    withdraw_application(apply_context(kids[1]), parent)
    jobs.commit()
    level_id, back_id = level.id, apps[1].id
    caplog.set_level(logging.INFO, logger="admissions.counters")
    met: list[str] = []

    def family_submits_meanwhile(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("DELETE FROM roster_registration") and not met:
            met.append(statement)
            with db.engine.begin() as family:  # its own transaction, committed before the INSERT
                family.execute(
                    sa.update(Application.__table__)
                    .where(Application.__table__.c.id == back_id)
                    .values(status=S.SUBMITTED)
                )

    sa.event.listen(db.engine, "after_cursor_execute", family_submits_meanwhile)
    try:
        counters.rebuild_marks(level_id)
        jobs.commit()
    finally:
        sa.event.remove(db.engine, "after_cursor_execute", family_submits_meanwhile)
    assert met and "registration marks of level" in caplog.text and "counting again" in caplog.text
    assert counters.mark_drift(level_id) == (0, 0)
    marks = RosterRegistration.__table__
    assert back_id in set(db.session.scalars(sa.select(marks.c.application_id)))
