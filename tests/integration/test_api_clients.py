"""The city administrator's machine clients: the page (token shown once, revoke) and the commands."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app.api.clients import token_hash
from app.models import ApiClient, AuditLog

PAGE = "/admin/api-clients/"
TOKEN = re.compile(r"tsl_[A-Za-z0-9_-]{43}")


def test_city_admin_creates_a_client_sees_the_token_once_and_revokes_it(client, world, db):
    client.login_as(world["users"]["city_admin"])
    district = world["districts"][0]
    resp = client.post_form(
        PAGE, {"name": "Population database", "scope": f"d{district.id}", "can_write": "y", "days": "30"}
    )
    assert resp.status_code == 200
    token = TOKEN.search(resp.get_data(as_text=True)).group(0)
    row = db.session.scalar(sa.select(ApiClient))
    assert (row.scope_district_id, row.scope_school_id, row.can_write) == (district.id, None, True)
    assert row.token_hash == token_hash(token)
    assert TOKEN.search(client.get(PAGE).get_data(as_text=True)) is None  # never shown again
    api = client.c.application.test_client()
    assert api.get("/api/v1/schools", headers={"Authorization": f"Bearer {token}"}).status_code == 200

    client.post_form(f"/admin/api-clients/{row.id}/revoke", token_from=PAGE)
    assert api.get("/api/v1/schools", headers={"Authorization": f"Bearer {token}"}).status_code == 401
    actions = set(db.session.scalars(sa.select(AuditLog.action)))
    assert {"api.client_created", "api.client_revoked"} <= actions


def test_bad_entries_are_refused_with_a_message(client, world, db):
    client.login_as(world["users"]["city_admin"])
    resp = client.post_form(PAGE, {"name": "", "scope": "city", "days": "9999"})
    assert resp.status_code == 422
    resp = client.post_form(PAGE, {"name": "X", "scope": "s999999", "days": "10"})
    assert resp.status_code == 422
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ApiClient)) == 0


def test_only_the_city_admin_manages_clients(client, world):
    client.login_as(world["users"]["district_officer"])
    assert client.get(PAGE).status_code == 403


def test_commands_create_list_and_revoke(runner, world, db):
    school = world["schools"][0]
    out = runner.invoke(args=["api", "create-client", "School SIS", "--school", school.code, "--days", "10"])
    assert out.exit_code == 0, out.output
    token = TOKEN.search(out.output).group(0)
    row = db.session.scalar(sa.select(ApiClient))
    assert (row.scope_school_id, row.scope_district_id, row.can_write) == (
        school.id,
        school.district_id,
        False,
    )
    assert row.token_hash == token_hash(token)
    listing = runner.invoke(args=["api", "list-clients"])
    assert "School SIS" in listing.output and f"school {school.id}" in listing.output
    assert runner.invoke(args=["api", "revoke-client", str(row.id)]).exit_code == 0
    db.session.expire_all()
    assert db.session.get(ApiClient, row.id).revoked_at is not None
    bad = runner.invoke(args=["api", "create-client", "X", "--district", "NOPE"])
    assert bad.exit_code == 2
