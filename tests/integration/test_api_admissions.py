"""Admissions through the API after a published round: the admitted children of a school, the
public figures and the round's transcript, each by scope (another district's: 404)."""

from __future__ import annotations

import pytest

from app import jobs
from app.api.clients import create_client
from tests.factories import create_district
from tests.rounds_cases import as_worker


@pytest.fixture
def run_jobs(app, run_jobs):
    return as_worker(app, run_jobs)


def token_for(**scope) -> dict:
    _client, token = create_client("system", **scope)
    jobs.commit()
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def clients(rw):
    other = create_district()
    jobs.commit()
    return {
        "city": token_for(),
        "own": token_for(district_id=rw.district.id),
        "home": token_for(school_id=rw.area.home.id),
        "other": token_for(district_id=other.id),
        "other_school": token_for(school_id=rw.area.other.id),
    }


def test_admitted_children_of_a_school_by_scope(app, rw, published, clients):
    http = app.test_client()
    url = f"/api/v1/schools/{rw.area.home.id}/admitted"
    rows = http.get(url, headers=clients["home"]).get_json()
    admitted = {r["reference"] for r in rows}
    offered_home = {
        a.reference for a in rw.apps + [rw.anh_app, rw.binh_app] if a.allocated_school_id == rw.area.home.id
    }
    assert admitted == offered_home and len(admitted) == 2  # the home school's two seats
    assert all(r["status"] == "offered" and len(r["personal_id"]) == 12 for r in rows)
    assert http.get(url, headers=clients["own"]).get_json() == rows
    assert http.get(url, headers=clients["city"]).get_json() == rows
    assert http.get(url, headers=clients["other"]).status_code == 404
    assert http.get(url, headers=clients["other_school"]).status_code == 404


def test_figures_and_transcript_by_scope(app, rw, published, clients, make_client):
    http = app.test_client()
    figures = f"/api/v1/levels/{rw.level.id}/districts/{rw.district.id}/figures"
    body = http.get(figures, headers=clients["own"]).get_json()
    assert body["district_id"] == rw.district.id and body["latest_round"] == 1
    home = next(s for s in body["schools"] if s["school_id"] == rw.area.home.id)
    assert home["placed"] == 2 and home["capacity"] == 2
    assert http.get(figures, headers=clients["home"]).status_code == 200  # its own district's
    assert http.get(figures, headers=clients["other"]).status_code == 404

    url = f"/api/v1/rounds/{published.id}/transcript"
    transcript = http.get(url, headers=clients["own"]).get_json()
    public_file = make_client().get(f"/admissions/rounds/{published.id}/transcript.json").get_json()
    assert transcript == public_file
    assert http.get(url, headers=clients["city"]).status_code == 200
    assert http.get(url, headers=clients["other"]).status_code == 404
    assert (
        http.get(f"/api/v1/rounds/{published.id + 999}/transcript", headers=clients["city"]).status_code
        == 404
    )
