"""The admitted-children export carries the pupil code (the personal ID the contact book uses)
and the guardian phone (the applying account's proven number, else the roster's)."""

from __future__ import annotations

import sqlalchemy as sa

from admissions.models import AdmissionLevel
from app.extensions import db
from tests.integration.test_admissions_dashboard import _sheet_rows
from tests.integration.test_contactbook_intake import _client, _setup


def test_admitted_export_has_pupil_code_and_guardian_phone(app, make_client):
    school, following, staff, parents, children = _setup()
    level = db.session.scalar(sa.select(AdmissionLevel).where(AdmissionLevel.level == "grade1"))
    client = _client(make_client, staff)
    resp = client.get(f"/admissions/dashboard/levels/{level.id}/schools/{school.id}/admitted.xlsx")
    assert resp.status_code == 200
    rows = _sheet_rows(resp.data)
    header = next(r for r in rows if r and r[0] == "No.")
    assert header[-2:] == ["Pupil code", "Guardian phone"]
    by_name = {r[2]: r for r in rows if r and isinstance(r[0], int)}
    assert by_name["Trẻ Số 0"][-2:] == [children[0].roster_entry.personal_id, parents[0].phone]
    # No proven phone: the roster's guardian phone.
    assert by_name["Trẻ Số 5"][-1] == children[5].roster_entry.guardian_phone
