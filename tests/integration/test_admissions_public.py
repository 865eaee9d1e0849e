"""Public admissions figures: registrations, seats, cutoffs and seeds, no personal data."""

from __future__ import annotations

import hashlib
import re

import pytest
import sqlalchemy as sa

from admissions import counters
from admissions.models import Application, Child, LevelState, RosterEntry
from app import jobs
from app.extensions import db
from app.models import User
from tests.admissions_factories import (
    add_child_for,
    close_window,
    create_application,
    create_roster_entry,
    create_round,
    english,
)
from tests.factories import create_school
from tests.integration.test_admissions_dashboard import build_season
from tests.querycount import count_queries
from tests.rounds_cases import publish, run_round


@pytest.fixture
def drain(app, run_jobs):
    """Run queued jobs (a real RQ worker with Redis) in an app context of their own, as a worker would."""

    def go():
        with app.app_context():
            run_jobs()
        db.session.expire_all()

    return go


@pytest.fixture
def no_cache(app):
    app.config["ADMISSIONS_PUBLIC_CACHE_SECONDS"] = 0


def text(resp) -> str:
    return resp.get_data(as_text=True)


def pages(client, level_id: int, district_ids) -> dict[str, str]:
    out = {
        "index": text(client.get("/tuyen-sinh/")),
        "level": text(client.get(f"/tuyen-sinh/levels/{level_id}")),
    }
    for did in district_ids:
        resp = client.get(f"/tuyen-sinh/levels/{level_id}/districts/{did}")
        assert resp.status_code == 200
        out[f"district {did}"] = text(resp)
    return out


def personal_strings(db) -> set[str]:
    """Everything that would identify a child or a family, as it is stored."""
    out = set()
    for name, pid, gphone in db.session.execute(
        sa.select(RosterEntry.full_name, RosterEntry.personal_id, RosterEntry.guardian_phone)
    ):
        out |= {name, pid, gphone}
    out |= set(db.session.scalars(sa.select(Child.full_name)))
    out |= set(db.session.scalars(sa.select(Application.reference)))
    for name, phone in db.session.execute(sa.select(User.full_name, User.phone).where(User.role == "parent")):
        out |= {name, phone}
    return {s for s in out if s}


def test_public_pages_show_figures_and_no_personal_data(client, db, no_cache):
    w = build_season()
    english(client, "/tuyen-sinh/")
    got = pages(client, w.level.id, [w.a.district.id, w.b.district.id])
    assert "Grade 1" in got["index"] and f"/tuyen-sinh/levels/{w.level.id}" in got["index"]
    assert w.a.district.name in got["level"] and w.b.district.name in got["level"]
    district_a = got[f"district {w.a.district.id}"]
    assert w.a.home.name in district_a and w.a.other.name in district_a and w.b.home.name not in district_a
    assert (
        "Results are not published yet." in district_a
        and "No allocation round has been created yet." in district_a
    )
    leaks = {s for s in personal_strings(db) for html in got.values() if s in html}
    assert not leaks, leaks
    for html in got.values():
        assert " style=" not in html and "<script>" not in html


def test_public_counts_exclude_trial_and_withdrawn(client, db, no_cache):
    w = build_season(trial=True)
    english(client, "/tuyen-sinh/")
    html = text(client.get(f"/tuyen-sinh/levels/{w.level.id}/districts/{w.a.district.id}"))
    assert "Trial phase" not in html  # nothing of the trial is counted
    assert '<tfoot><tr><th scope="row">Total</th><td>180</td><td>0</td><td>0</td>' in html


def test_draft_levels_and_unknown_ids_are_not_found(client, db, no_cache):
    w = build_season()
    w.level.state = LevelState.DRAFT
    jobs.commit()
    assert client.get(f"/tuyen-sinh/levels/{w.level.id}").status_code == 404
    assert client.get(f"/tuyen-sinh/levels/{w.level.id}/districts/{w.a.district.id}").status_code == 404
    assert client.get("/tuyen-sinh/levels/999999").status_code == 404
    other = next(lv for lv in w.season.levels if lv.state != LevelState.DRAFT)
    assert client.get(f"/tuyen-sinh/levels/{other.id}/districts/999999").status_code == 404


def test_seed_commitment_then_seed_and_cutoffs_once_published(app, db, client, drain, no_cache):
    w = build_season()
    # round 1 over the live applications: `other` (1 seat) is ranked first by two children
    for key in ("offered", "confirmed"):
        w.apps[key].status, w.apps[key].allocated_school_id, w.apps[key].confirmed_at = (
            "submitted",
            None,
            None,
        )
    db.session.flush()
    counters.recompute_for_season(w.level.id)  # set directly, not by a write path
    w.a.other.capacity = 1
    close_window(w.level)
    officer = w.users["officer_a"]
    jobs.commit()
    english(client, "/tuyen-sinh/")
    url = f"/tuyen-sinh/levels/{w.level.id}/districts/{w.a.district.id}"
    rnd = create_round(w.level, w.a.district, officer)
    jobs.commit()
    html = text(client.get(url))
    assert rnd.seed_sha256 in html and rnd.seed not in html and "revealed when the round is published" in html
    rnd = run_round(rnd, drain, officer)
    html = text(client.get(url))
    assert rnd.seed not in html and "Results are not published yet." in html  # done, not published
    publish(rnd, officer, drain)
    html = text(client.get(url))
    assert rnd.seed in html and hashlib.sha256(rnd.seed.encode()).hexdigest() == rnd.seed_sha256
    assert "Cutoffs and admitted children are those of round 1" in html
    # `other` (1 seat) was over-demanded: its cutoff is public; `home` was not full
    cutoff = rnd.summary["schools"][w.a.other.code]["cutoff"]
    assert cutoff is not None
    assert f"lottery number {cutoff[1]}" in html
    assert "not full: every applicant admitted" in html
    assert f"/admissions/rounds/{rnd.id}" in html  # the rounds slice's public page of the round
    leaks = {s for s in personal_strings(db) if s in html}
    assert not leaks, leaks


def test_figures_are_cached_for_a_minute(app, client, db):
    w = build_season()
    app.config["ADMISSIONS_PUBLIC_CACHE_SECONDS"] = 60
    english(client, "/tuyen-sinh/")
    url = f"/tuyen-sinh/levels/{w.level.id}"
    assert "<td>180</td><td>5</td>" in text(client.get(url))  # district A: 180 seats, 5 applications
    kid = add_child_for(w.parent, create_roster_entry(w.a.ward, w.a.groups[0]), w.season)
    create_application(kid, w.level, w.parent, catchment=w.a.home)
    jobs.commit()
    with count_queries(app) as cached:
        assert "<td>180</td><td>5</td>" in text(client.get(url))  # within the minute: the same figures
    app.config["ADMISSIONS_PUBLIC_CACHE_SECONDS"] = 0
    with count_queries(app) as fresh:
        assert "<td>180</td><td>6</td>" in text(client.get(url))
    assert cached.count < fresh.count


def test_public_pages_run_a_bounded_number_of_queries(app, client, db, no_cache):
    w = build_season()
    urls = [
        f"/tuyen-sinh/levels/{w.level.id}",
        f"/tuyen-sinh/levels/{w.level.id}/districts/{w.a.district.id}",
        "/tuyen-sinh/",
    ]

    def measure():
        out = []
        for url in urls:
            with count_queries(app) as q:
                assert client.get(url).status_code == 200
            out.append(q.count)
        return out

    before = measure()

    for _ in range(5):
        s = create_school(w.a.district, "grade1", capacity=10)
        kid = add_child_for(w.parent, create_roster_entry(w.a.ward, w.a.groups[0]), w.season)
        create_application(kid, w.level, w.parent, choices=[s], catchment=w.a.home)
    jobs.commit()
    assert measure() == before


def test_the_public_rounds_page_has_a_plain_title(client):
    """The tables of the page belong in its body, not in its <title>."""

    page = client.get("/admissions/rounds/").get_data(as_text=True)
    title = re.search(r"<title>(.*?)</title>", page, re.S).group(1)
    assert "<" not in title and "table" not in title, title
