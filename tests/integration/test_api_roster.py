"""The roster upsert of the API is the Excel import: the same rows give the same entries, the same
problems (JSON row i = sheet row i + 2) and the same all-or-nothing; idempotency keys on writes."""

from __future__ import annotations

import io
from datetime import date

import pytest
import sqlalchemy as sa

from admissions.imports import import_workbook
from admissions.models import RosterEntry
from app import jobs
from app.api.clients import create_client
from app.models import ApiIdempotency, AuditLog
from tests.admissions_import_cases import EN, good_roster, roster_row, xlsx

URL = "/api/v1/roster"
FIELDS = list(EN["roster"])


def as_json(row: list) -> dict:
    out = dict(zip(FIELDS, row, strict=True))
    if isinstance(out["date_of_birth"], date):
        out["date_of_birth"] = out["date_of_birth"].isoformat()
    return out


def entries(db) -> list[tuple]:
    t = RosterEntry.__table__
    cols = [c for c in t.c if c.name not in ("id", "imported_at")]
    return [tuple(r) for r in db.session.execute(sa.select(*cols).order_by(t.c.personal_id))]


@pytest.fixture
def writer(db, caugiay):
    _client, token = create_client("population db", district_id=caugiay.id, can_write=True)
    jobs.commit()
    return {"Authorization": f"Bearer {token}"}


def excel(rows, scope=None):
    report = import_workbook("roster", io.BytesIO(xlsx("roster", EN["roster"], rows)), scope=scope)
    (jobs.commit if report.ok else jobs.rollback)()
    return report


def test_same_rows_same_entries_as_the_excel_import(app, db, writer):
    rows = good_roster(8)
    rows[3][6] = None  # no residential group
    rows[5][9] = None  # no phone
    report = excel(rows)
    assert report.ok and report.created == 8
    by_excel = entries(db)
    db.session.execute(sa.delete(RosterEntry))
    jobs.commit()

    resp = app.test_client().post(URL, json={"rows": [as_json(r) for r in rows]}, headers=writer)
    assert resp.status_code == 200, resp.get_json()
    assert resp.get_json() == {"rows": 8, "created": 8, "updated": 0, "unchanged": 0}
    assert entries(db) == by_excel

    rows[2][8] = "Trần Văn Cường"
    again = app.test_client().post(URL, json={"rows": [as_json(r) for r in rows]}, headers=writer)
    assert again.get_json() == {"rows": 8, "created": 0, "updated": 1, "unchanged": 7}
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(AuditLog).where(AuditLog.action == "api.roster_upsert")
        )
        == 2
    )


def test_same_problems_and_nothing_written(app, db, writer, caugiay):
    rows = [
        roster_row(),
        roster_row(pid="00132001234"),
        roster_row(pid="001220012347"),
        roster_row(pid="001320012351", phone="0241234567"),
        roster_row(pid="001320012352", name="=1+1"),
        roster_row(pid="001320012345"),  # duplicate of the first
        roster_row(pid="001320012356", residence="vãng lai"),
        roster_row(pid="001320012357", district="Quận Ba Đình"),
    ]
    report = excel(rows, scope=caugiay.id)  # the client's scope: its district only
    expected = {}
    for p in report.problems:
        expected.setdefault(str(p.row - 2), []).append([p.column, p.code])
    assert len(expected) == 7

    resp = app.test_client().post(URL, json={"rows": [as_json(r) for r in rows]}, headers=writer)
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    got = {row: [[p["column"], p["code"]] for p in ps] for row, ps in resp.get_json()["errors"].items()}
    assert got["4"] == [["full_name", "formula_text"]]  # JSON text is never a formula
    expected["4"] = [["full_name", "formula_text"]]  # the sheet wrote a real formula there
    assert got == expected
    assert expected["7"] == [["district", "other_district"]]
    assert entries(db) == []


def test_schema_errors_are_422_before_any_check(app, writer):
    http = app.test_client()
    for body in (
        {},
        {"rows": []},
        {"rows": [{"personal_id": "1"}]},
        {"rows": [as_json(roster_row()) | {"date_of_birth": "15/03/2020"}]},
    ):
        resp = http.post(URL, json=body, headers=writer)
        assert resp.status_code == 422 and "errors" in resp.get_json(), body
    bad = as_json(roster_row()) | {"full_name": "An\x01"}
    assert http.post(URL, json={"rows": [bad]}, headers=writer).status_code == 422


def test_idempotency_key_replays_and_refuses_another_body(app, db, writer):
    http = app.test_client()
    body = {"rows": [as_json(r) for r in good_roster(3)]}
    headers = {**writer, "Idempotency-Key": "push-2026-12-04-1"}
    first = http.post(URL, json=body, headers=headers)
    assert first.get_json()["created"] == 3
    replay = http.post(URL, json=body, headers=headers)
    assert replay.status_code == 200 and replay.get_json() == first.get_json()
    assert replay.headers["Idempotent-Replayed"] == "true"
    fresh = http.post(URL, json=body, headers={**writer, "Idempotency-Key": "push-2"})
    assert fresh.get_json()["unchanged"] == 3
    other = http.post(URL, json={"rows": body["rows"][:1]}, headers=headers)
    assert other.status_code == 422 and other.mimetype == "application/problem+json"
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiIdempotency)) == 2


def test_a_refused_upsert_is_replayed_too(app, writer):
    http = app.test_client()
    body = {"rows": [as_json(roster_row(pid="00132001234"))]}
    headers = {**writer, "Idempotency-Key": "bad-1"}
    first = http.post(URL, json=body, headers=headers)
    assert first.status_code == 422
    again = http.post(URL, json=body, headers=headers)
    assert again.status_code == 422 and again.get_json() == first.get_json()


def test_a_school_client_cannot_upsert_the_roster(app, db, world):
    _c, token = create_client("school sis", school_id=world["schools"][0].id, can_write=True)
    jobs.commit()
    resp = app.test_client().post(
        URL, json={"rows": [as_json(roster_row())]}, headers={"Authorization": f"Bearer {token}"}
    )
    assert resp.status_code == 403
