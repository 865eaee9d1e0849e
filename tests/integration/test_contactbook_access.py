"""Route × role for the contact book's own routes (the suite-wide walk is test_route_access.py;
this one runs even while other areas' routes are in flux), plus the scope rules
(contactbook/access.py): a teacher of class A can neither see nor grade class B; a parent cannot reach another child."""

from __future__ import annotations

import pytest

from app.models import Role
from tests.contactbook_factories import contactbook_foreign_ids
from tests.integration.test_route_access import ROLES, _request, build_url


def _rules(app):
    return sorted(
        (r for r in app.url_map.iter_rules() if r.endpoint.startswith("contactbook_")), key=lambda r: r.rule
    )


def _ids(world):
    return {
        "user_id": world["foreign"]["teacher"].id,
        "school_id": world["schools"][1].id,
        "district_id": world["districts"][1].id,
        **contactbook_foreign_ids(world),
    }


def test_every_contactbook_view_declares_its_audience(app):
    for rule in _rules(app):
        assert hasattr(app.view_functions[rule.endpoint], "access_public"), rule.endpoint


def test_anonymous_is_sent_to_login(app, world, client):
    ids = _ids(world)
    token = client.csrf("/auth/login")
    for rule in _rules(app):
        view = app.view_functions[rule.endpoint]
        url = build_url(rule, ids)
        for method in sorted(rule.methods & {"GET", "POST"}):
            resp = _request(client, method, url, token)
            assert resp.status_code < 500, f"anonymous {method} {url}"
            if not view.access_public:
                assert resp.status_code == 302 and resp.headers["Location"].startswith("/auth/login"), url


@pytest.mark.parametrize("role", ROLES)
def test_foreign_records_answer_404_or_403(app, world, make_client, role):
    ids = _ids(world)
    user = world["users"][role]
    client = make_client()
    client.login_as(user)
    token = client.csrf("/home")
    for rule in _rules(app):
        view = app.view_functions[rule.endpoint]
        url = build_url(rule, ids)
        for method in sorted(rule.methods & {"GET", "POST"}):
            resp = _request(client, method, url, token)
            where = f"{role} {method} {url} -> {resp.status_code}"
            assert resp.status_code < 500, where
            if view.access_public:
                continue
            if role not in view.access_roles or rule.arguments and role != Role.CITY_ADMIN:
                assert resp.status_code in (403, 404), where
