"""A client that knows only a token and the published OpenAPI document (scripts/api_example.py:
standard library only) pushes a roster update and pulls a school's admitted children: every
request is built from /api/v1/openapi.json (operations by operationId, their path, parameters,
Idempotency-Key header and body schema), sent here through the Flask test client."""

from __future__ import annotations

import ast
import importlib.util
import sys
from datetime import date
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import sqlalchemy as sa

from admissions.models import RosterEntry
from app import jobs
from app.api.clients import create_client
from app.extensions import db
from tests.admissions_factories import personal_id_for
from tests.rounds_cases import as_worker


@pytest.fixture
def run_jobs(app, run_jobs):
    return as_worker(app, run_jobs)


SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "api_example.py"


def load_script():
    spec = importlib.util.spec_from_file_location("api_example", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_script_uses_the_standard_library_only():
    tree = ast.parse(SCRIPT.read_text(encoding="utf-8"))
    imported = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert imported - {"__future__"} <= set(sys.stdlib_module_names), imported


@pytest.fixture
def api(app, rw):
    """The script's client over the test client: only the base URL, a token and the document."""
    _client, token = create_client("school system", district_id=rw.district.id, can_write=True)
    jobs.commit()
    http = app.test_client()
    sent = []

    def transport(method, url, headers, body):
        parts = urlsplit(url)
        sent.append((method, parts.path, parts.query, dict(headers)))
        resp = http.open(parts.path, query_string=parts.query, method=method, headers=headers, data=body)
        return resp.status_code, resp.get_data()

    script = load_script()
    client = script.Client("http://localhost", token, transport)
    client.sent, client.ApiError = sent, script.ApiError
    return client


def test_push_a_roster_update_then_pull_the_admitted_children(app, rw, published, api):
    assert api.sent[0][:2] == ("GET", "/api/v1/openapi.json")
    born = date(rw.area.children[0].date_of_birth.year, 6, 1)
    row = {
        "personal_id": personal_id_for(born, "female"),
        "full_name": "Lê Thị Mới",
        "date_of_birth": born.isoformat(),
        "gender": "Nữ",
        "district": rw.district.name,
        "ward": rw.area.ward.name,
        "residential_group": rw.area.groups[0].name,
        "residence_type": "Thường trú",
        "guardian_name": "Lê Văn Bố",
        "guardian_phone": "0912000333",
    }
    report = api.call("roster_upsert", body={"rows": [row]}, idempotency_key="roster-1")
    assert report == {"rows": 1, "created": 1, "updated": 0, "unchanged": 0}
    method, path, _query, headers = api.sent[-1]
    assert (method, path, headers["Idempotency-Key"]) == ("POST", "/api/v1/roster", "roster-1")
    entry = db.session.scalar(sa.select(RosterEntry).where(RosterEntry.personal_id == row["personal_id"]))
    assert entry is not None and entry.full_name == "Lê Thị Mới"
    # The same key and rows again: the stored answer, nothing done twice.
    assert api.call("roster_upsert", body={"rows": [row]}, idempotency_key="roster-1") == report
    # A row missing a field the document requires is caught before it is sent.
    with pytest.raises(ValueError, match="guardian_name"):
        api.call("roster_upsert", body={"rows": [{k: v for k, v in row.items() if k != "guardian_name"}]})

    school = rw.area.home
    schools = api.call("schools", level="grade1")
    assert school.id in {s["id"] for s in schools}
    admitted = api.call("admitted", school_id=school.id)
    offered = {a.reference for a in rw.apps + [rw.anh_app, rw.binh_app] if a.allocated_school_id == school.id}
    assert {a["reference"] for a in admitted} == offered and len(offered) == 2
    assert api.sent[-1][:2] == ("GET", f"/api/v1/schools/{school.id}/admitted")
    assert all(h["Authorization"].startswith("Bearer tsl_") for _m, _p, _q, h in api.sent[1:])


def test_errors_come_back_as_problems(app, rw, api):
    with pytest.raises(api.ApiError) as caught:
        api.call("admitted", school_id=10**9)
    assert caught.value.status == 404 and caught.value.problem["status"] == 404
    with pytest.raises(KeyError):
        api.operation("no_such_operation")
    with pytest.raises(TypeError, match="school_id"):
        api.call("admitted")
