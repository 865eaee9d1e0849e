"""The parent-flow tests' world and steps (a pytest plugin of tests/conftest.py): a district
with a small grade-1 map and its admission codes (`season_world`), and a family's steps through
the test client — registering, adding a child with a code, opening and submitting the form.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from admissions.codes import generate_codes
from admissions.models import AdmissionCode
from app import jobs
from tests.admissions_factories import create_area, create_season, english, level_of
from tests.factories import PASSWORD, create_district
from tests.sms import register as register_with_code

HIDDEN = re.compile(
    r'<input[^>]*name="(\w+)"[^>]*type="hidden"[^>]*value="([^"]*)"|'
    r'<input[^>]*type="hidden"[^>]*name="(\w+)"[^>]*value="([^"]*)"'
)


def hidden_fields(html: str) -> dict[str, str]:
    out = {}
    for m in HIDDEN.finditer(html):
        name, value = (m.group(1), m.group(2)) if m.group(1) else (m.group(3), m.group(4))
        out[name] = value
    return out


def text(resp) -> str:
    return resp.get_data(as_text=True)


@pytest.fixture
def season_world(app, db):
    district = create_district()
    area = create_area(district, n_children=3)
    season = create_season()
    level = level_of(season)
    generate_codes(level, district.id)
    jobs.commit()
    codes = {c.roster_entry_id: c for c in db.session.scalars(sa.select(AdmissionCode))}
    return {"district": district, "area": area, "season": season, "level": level, "codes": codes}


def register(client, phone: str, name: str = "Trần Thị Mẹ"):
    register_with_code(client, phone, name, PASSWORD)  # the form, then the code sent by SMS
    english(client)


def add_child(client, code: str, roster, dob=None):
    return client.post_form(
        "/children/add",
        {
            "code": code,
            "personal_id": roster.personal_id,
            "date_of_birth": (dob or roster.date_of_birth).isoformat(),
        },
    )


def open_form(client, child_id: int) -> dict[str, str]:
    resp = client.get(f"/children/{child_id}/application")
    assert resp.status_code == 200, text(resp)[-800:]
    return hidden_fields(text(resp))


def submit(client, child_id: int, fields: dict, choices=(), sibling=0):
    data = dict(fields)
    for i in range(3):
        data[f"choice_{i + 1}"] = choices[i].id if i < len(choices) else 0
    data["sibling_school"] = sibling
    return client.post(f"/children/{child_id}/application", data=data)
