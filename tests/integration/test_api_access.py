"""The machine API: tokens (unknown, expired, revoked), scopes (a client of district A gets
nothing of district B: 404, as for a school that does not exist), problem details in both
languages, rate limit, call counter, the OpenAPI document and its page."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from werkzeug.routing import Rule

from app import jobs
from app.api.clients import create_client, revoke, token_hash
from app.models import ApiClient, utcnow
from tests.factories import create_school

PREFIX = "/api/v1"


def client_of(world, scope: str, write: bool = False):
    da, _db = world["districts"]
    sa_, _sb = world["schools"]
    kwargs = {"city": {}, "district": {"district_id": da.id}, "school": {"school_id": sa_.id}}[scope]
    client, token = create_client(f"{scope} system", can_write=write, **kwargs)
    jobs.commit()
    return client, token


def auth(token: str, **headers) -> dict:
    return {"Authorization": f"Bearer {token}", **headers}


def api_rules(app) -> list[Rule]:
    return [
        r for r in app.url_map.iter_rules() if r.endpoint.startswith("api_") and r.endpoint != "api_docs.docs"
    ]


def scoped_get_rules(app) -> list[Rule]:
    return [r for r in api_rules(app) if "school_id" in r.arguments and "GET" in r.methods]


def test_every_api_view_needs_a_token(app, world):
    http = app.test_client()
    for rule in api_rules(app):
        if rule.endpoint == "api_docs.openapi_json":
            continue
        url = rule.build(dict.fromkeys(rule.arguments, world["schools"][0].id))[1]
        method = "post" if "POST" in rule.methods else "get"
        resp = getattr(http, method)(url, json={})
        assert resp.status_code == 401, (url, resp.status_code)
        assert resp.mimetype == "application/problem+json"
        assert resp.headers["WWW-Authenticate"].startswith("Bearer")
        body = resp.get_json()
        assert body["status"] == 401 and body["type"] and body["title"] and body["detail"]


@pytest.mark.parametrize("scope", ["city", "district", "school"])
def test_every_school_route_by_scope(app, world, scope):
    """Own school: 200; the other district's school: 404 unless the client is the city's."""
    http = app.test_client()
    _client, token = client_of(world, scope)
    own, other = world["schools"]
    rules = scoped_get_rules(app)
    assert len(rules) >= 2
    for rule in rules:
        mine = http.get(rule.build({"school_id": own.id})[1], headers=auth(token))
        assert mine.status_code == 200, (rule.rule, mine.get_json())
        theirs = http.get(rule.build({"school_id": other.id})[1], headers=auth(token))
        assert theirs.status_code == (200 if scope == "city" else 404), rule.rule
        if theirs.status_code == 404:
            assert theirs.mimetype == "application/problem+json"
        missing = http.get(rule.build({"school_id": 2**40})[1], headers=auth(token))
        assert missing.status_code == 404


@pytest.mark.parametrize("scope", ["city", "district", "school"])
def test_school_list_is_scoped(app, world, scope):
    http = app.test_client()
    _client, token = client_of(world, scope)
    codes = {s["code"] for s in http.get(f"{PREFIX}/schools", headers=auth(token)).get_json()}
    own, other = world["schools"]
    assert own.code in codes
    assert (other.code in codes) == (scope == "city")


def test_a_second_school_of_the_district_is_out_of_a_school_clients_scope(app, world):
    sister = create_school(world["districts"][0])
    jobs.commit()
    _c, school_token = client_of(world, "school")
    _c, district_token = client_of(world, "district")
    http = app.test_client()
    url = f"{PREFIX}/schools/{sister.id}/catchments"
    assert http.get(url, headers=auth(school_token)).status_code == 404
    assert http.get(url, headers=auth(district_token)).status_code == 200


def test_expired_revoked_and_unknown_tokens_are_refused(app, world, db):
    http = app.test_client()
    client, token = client_of(world, "city")
    url = f"{PREFIX}/schools"
    assert http.get(url, headers=auth(token)).status_code == 200
    assert http.get(url, headers=auth(token + "x")).status_code == 401
    assert http.get(url, headers={"Authorization": f"Basic {token}"}).status_code == 401
    client.expires_at = utcnow() - timedelta(seconds=1)
    jobs.commit()
    assert http.get(url, headers=auth(token)).status_code == 401
    client.expires_at = utcnow() + timedelta(days=1)
    revoke(client)
    jobs.commit()
    assert http.get(url, headers=auth(token)).status_code == 401


def test_token_is_stored_only_as_its_keyed_hash_and_calls_are_counted(app, world, db):
    client, token = client_of(world, "city")
    stored = db.session.scalar(sa.select(ApiClient.token_hash).where(ApiClient.id == client.id))
    assert stored == token_hash(token) and token not in stored and len(token) >= 40
    http = app.test_client()
    for _ in range(3):
        http.get(f"{PREFIX}/schools", headers=auth(token))
    db.session.expire_all()
    assert db.session.get(ApiClient, client.id).calls == 3


def test_write_needs_a_write_client(app, world):
    http = app.test_client()
    _c, token = client_of(world, "city", write=False)
    resp = http.post(f"{PREFIX}/roster", json={"rows": []}, headers=auth(token))
    assert resp.status_code == 403 and resp.mimetype == "application/problem+json"


@pytest.mark.parametrize(("lang", "title"), [("vi", "Không tìm thấy"), ("en", "Not found")])
def test_problem_details_follow_accept_language(app, world, lang, title):
    http = app.test_client()
    _c, token = client_of(world, "district")
    other = world["schools"][1]
    resp = http.get(f"{PREFIX}/schools/{other.id}/admitted", headers=auth(token, **{"Accept-Language": lang}))
    assert resp.status_code == 404
    assert resp.get_json()["title"] == title
    assert resp.headers["Content-Language"] == lang


def test_invalid_query_is_a_422_problem_with_field_errors(app, world):
    http = app.test_client()
    _c, token = client_of(world, "city")
    resp = http.get(f"{PREFIX}/schools?level=university", headers=auth(token))
    assert resp.status_code == 422 and resp.mimetype == "application/problem+json"
    assert "level" in str(resp.get_json()["errors"])


def test_unknown_api_path_is_a_problem_too(app):
    resp = app.test_client().get(f"{PREFIX}/nothing-here")
    assert resp.status_code == 404 and resp.mimetype == "application/problem+json"


def test_rate_limited_per_client(app, world):
    app.config["API_RATE_LIMIT"] = "3/minute"
    http = app.test_client()
    _c, token = client_of(world, "city")
    _c, other_token = client_of(world, "district")
    codes = [http.get(f"{PREFIX}/schools", headers=auth(token)).status_code for _ in range(4)]
    assert codes == [200, 200, 200, 429]
    limited = http.get(f"{PREFIX}/schools", headers=auth(token))
    assert limited.mimetype == "application/problem+json"
    assert http.get(f"{PREFIX}/schools", headers=auth(other_token)).status_code == 200


def test_openapi_document_is_generated_and_the_page_lists_it(app):
    http = app.test_client()
    spec = http.get(f"{PREFIX}/openapi.json").get_json()
    assert spec["openapi"].startswith("3.1")
    assert f"{PREFIX}/roster" in spec["paths"] and f"{PREFIX}/schools" in spec["paths"]
    assert spec["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    page = http.get(f"{PREFIX}/")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "/api/v1/roster" in text and "<script" not in text.split("</header>")[-1]


@pytest.mark.parametrize(
    ("lang", "required", "choice"),
    [
        ("vi", "Thiếu dữ liệu cho trường bắt buộc.", "Phải là một trong"),
        ("en", "Missing data for required field.", "Must be one of"),
    ],
)
def test_field_errors_speak_the_clients_language(app, world, lang, required, choice):
    http = app.test_client()
    _c, token = client_of(world, "city", write=True)
    headers = auth(token, **{"Accept-Language": lang})
    body = http.post(f"{PREFIX}/roster", json={"rows": [{"personal_id": "1"}]}, headers=headers).get_json()
    assert body["errors"]["json"]["rows"]["0"]["full_name"] == [required]
    query = http.get(f"{PREFIX}/schools?level=university", headers=headers).get_json()
    assert query["errors"]["query"]["level"][0].startswith(choice)


def test_a_signed_in_session_is_no_token(app, world, client):
    """The API ignores the session cookie: a signed-in city admin's browser cannot write through it
    (which is why its POST routes need no CSRF token)."""
    client.login_as(world["users"]["city_admin"])
    resp = client.post(f"{PREFIX}/roster", json={"rows": []})
    assert resp.status_code == 401
    assert client.get(f"{PREFIX}/schools").status_code == 401
