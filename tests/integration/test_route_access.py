"""Every route × every role × anonymous: who may reach what.

New routes join automatically: each must declare its audience (`@public` or `@roles_required`),
and every URL argument must have a "foreign" object here — one outside the scope of the users
under test — so that scope checks are tried too.
"""

from __future__ import annotations

from datetime import date

import pytest
from werkzeug.routing import IntegerConverter, Rule

from app import jobs
from app.api.clients import create_client
from app.extensions import db
from app.models import AcademicYear, Role, UserSession
from app.privacy.models import DataRequest
from tests.admissions_factories import foreign_admission_ids
from tests.admissions_import_cases import import_foreign_ids
from tests.contactbook_factories import contactbook_foreign_ids
from tests.notification_helpers import notification_foreign_ids

ROLES = [r.value for r in Role]

# Endpoints whose records are legitimately visible to every allowed role whatever the scope.
ANY_SCOPE: set[str] = set()


def foreign_ids(world) -> dict[str, int]:
    """URL argument → id of a record outside district A / school A (the users' scope)."""

    return {
        "user_id": world["foreign"]["teacher"].id,
        "school_id": world["schools"][1].id,
        "district_id": world["districts"][1].id,
        **contactbook_foreign_ids(world),
        **notification_foreign_ids(world),
        **foreign_admission_ids(world),  # child_id, application_id (another family), season_id, level_id
        **import_foreign_ids(world),  # job_id: an Excel import of district B
        "year_id": _a_year(),  # academic years are the city administrator's alone
        "session_id": _a_session(world["foreign"]["teacher"]),  # someone else's login session
        "client_id": _an_api_client(world),  # API clients are the city administrator's alone
        "purpose": "not-a-purpose",  # privacy: one's own consents only; an unknown purpose is 404
        "request_id": _a_data_request(world),  # privacy: another person's download
    }


def _a_session(user) -> int:
    row = UserSession(token_hash="f" * 64, user_id=user.id, user_agent="", ip_prefix="")
    db.session.add(row)
    jobs.commit()
    return row.id


def _a_data_request(world) -> int:
    row = DataRequest(user_id=world["foreign"]["teacher"].id, status="ready", content="{}")
    db.session.add(row)
    jobs.commit()
    return row.id


def _a_year() -> int:
    year = AcademicYear(name="2040-2041", starts_on=date(2040, 9, 5), ends_on=date(2041, 5, 31))
    db.session.add(year)
    jobs.commit()
    return year.id


def _an_api_client(world) -> int:
    client, _token = create_client("district B system", district_id=world["districts"][1].id)
    jobs.commit()
    return client.id


def rules(app) -> list[Rule]:
    return sorted((r for r in app.url_map.iter_rules() if r.endpoint != "static"), key=lambda r: r.rule)


def build_url(rule: Rule, ids: dict[str, int]) -> str:
    missing = [a for a in rule.arguments if a not in ids]
    assert not missing, f"{rule.rule}: add a foreign object for {missing} in foreign_ids()"
    return rule.build({a: ids[a] for a in rule.arguments})[1]


def test_every_view_declares_its_audience(app):
    undeclared = []
    for rule in rules(app):
        view = app.view_functions[rule.endpoint]
        if not hasattr(view, "access_public"):
            undeclared.append(rule.endpoint)
    assert not undeclared, f"views without @public or @roles_required: {undeclared}"


def test_every_route_answers_only_get_and_post(app):
    # The walks below try GET and POST; a route with another method would escape them.
    odd = {
        r.rule: sorted(r.methods - {"GET", "POST", "HEAD", "OPTIONS"})
        for r in rules(app)
        if r.methods - {"GET", "POST", "HEAD", "OPTIONS"}
    }
    assert not odd, f"routes with methods the access tests do not try: {odd}"


def test_ids_beyond_the_database_range_are_not_found(app, world, make_client):
    """A 20-digit id in any URL is a 404, not an overflow in the database driver (a 500)."""
    huge = 10**20
    ids = foreign_ids(world)
    client = make_client()
    client.login_as(world["users"]["city_admin"])
    token = client.csrf("/home")
    tried = 0
    for rule in rules(app):
        ints = [a for a in rule.arguments if isinstance(rule._converters[a], IntegerConverter)]
        if not ints:
            continue
        url = build_url(rule, dict(ids, **dict.fromkeys(ints, huge)))
        for method in sorted(rule.methods & {"GET", "POST"}):
            resp = _request(client, method, url, token)
            assert resp.status_code == 404, f"{method} {url} -> {resp.status_code}"
            tried += 1
    assert tried > 10


def _request(client, method: str, url: str, token: str):
    if method == "GET":
        return client.get(url)
    return client.post(url, data={"csrf_token": token})


def test_anonymous(app, world, client):
    ids = foreign_ids(world)
    token = client.csrf("/auth/login")
    for rule in rules(app):
        view = app.view_functions[rule.endpoint]
        url = build_url(rule, ids)
        for method in sorted(rule.methods & {"GET", "POST"}):
            resp = _request(client, method, url, token)
            where = f"anonymous {method} {url}"
            assert resp.status_code < 500, where
            if not view.access_public:
                assert resp.status_code == 302, where
                assert resp.headers["Location"].startswith("/auth/login"), where


@pytest.mark.parametrize("role", ROLES)
def test_each_role(app, world, make_client, role):
    ids = foreign_ids(world)
    user = world["users"][role]
    checked = 0
    for rule in rules(app):
        view = app.view_functions[rule.endpoint]
        url = build_url(rule, ids)
        for method in sorted(rule.methods & {"GET", "POST"}):
            client = make_client()  # fresh login per request: logout routes must not leak
            client.login_as(user)
            token = client.csrf("/home")
            resp = _request(client, method, url, token)
            where = f"{role} {method} {url} -> {resp.status_code}"
            assert resp.status_code < 500, where
            if view.access_public:
                continue
            if role not in view.access_roles:
                assert resp.status_code in (403, 404), where
            elif rule.arguments and role != Role.CITY_ADMIN and rule.endpoint not in ANY_SCOPE:
                # Allowed role, but the record belongs to another school/district.
                assert resp.status_code in (403, 404), where
            checked += 1
    assert checked > 0
