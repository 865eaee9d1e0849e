"""The machine API under /api/v1/: one flask-smorest `Api` per app, whose OpenAPI 3.1 document is
generated from the marshmallow schemas that also validate requests and responses.

The platform owns the API object, the clients' authentication (auth.py, clients.py), problem
details (problems.py) and idempotency (idempotency.py); each area adds its endpoints from its
register(app) with `register_blueprint(app, blp)` (admissions/api.py, contactbook/api.py).
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Blueprint as FlaskBlueprint
from flask import Flask, current_app, render_template
from flask_babel import lazy_gettext as _l
from flask_smorest import Api, Blueprint
from werkzeug.exceptions import HTTPException

from app.authz import public
from app.extensions import csrf
from app.models import Role
from app.views import register_home_card

from .admin import bp as admin_bp
from .auth import client_required, current_client, current_scope, id_or_404, school_in_scope
from .cli import api_cli
from .idempotency import HEADER as IDEMPOTENCY_HEADER
from .idempotency import idempotent
from .problems import MEDIA_TYPE, ProblemSchema, from_http_exception

__all__ = [
    "api_blueprint",
    "client_required",
    "current_client",
    "current_scope",
    "endpoint",
    "id_or_404",
    "idempotent",
    "register",
    "register_blueprint",
    "school_in_scope",
]

PREFIX = "/api/v1"


class PlatformApi(Api):
    """flask-smorest's Api whose errors are problem details, on the API's blueprints only (the
    app's own pages keep their HTML error pages)."""

    ERROR_SCHEMA = ProblemSchema

    def _register_error_handlers(self):  # the API's blueprints register their own
        pass

    def handle_http_exception(self, error):
        return from_http_exception(error)


def register(app: Flask) -> None:
    app.config.setdefault("API_TITLE", "Tuyển sinh & Sổ liên lạc API")
    app.config.setdefault("API_VERSION", "v1")
    app.config.setdefault("OPENAPI_VERSION", "3.1.0")
    app.config.setdefault("API_RATE_LIMIT", "120/minute")
    api = PlatformApi(
        spec_kwargs={
            "servers": [{"url": "/"}],
            "security": [{"bearerAuth": []}],
            "info": {"description": "Machine API of the city's admissions and contact book (docs/api.md)."},
        }
    )
    api.init_app(app)
    api.spec.components.security_scheme("bearerAuth", {"type": "http", "scheme": "bearer"})
    app.extensions["api_v1"] = api
    app.register_blueprint(_docs_blueprint())
    app.register_blueprint(admin_bp)
    app.cli.add_command(api_cli)
    register_home_card(app, _l("API clients"), "admin_api.clients", roles=(Role.CITY_ADMIN,), order=720)


def api_blueprint(name: str, import_name: str, **kwargs) -> Blueprint:
    """A blueprint of API endpoints whose errors answer problem details."""
    blp = Blueprint(name, import_name, **kwargs)
    blp.register_error_handler(HTTPException, from_http_exception)
    return blp


IDEMPOTENCY_PARAMETER = {
    "in": "header",
    "name": IDEMPOTENCY_HEADER,
    "required": False,
    "schema": {"type": "string", "minLength": 1, "maxLength": 120},
    "description": "Sent again with the same body, the stored response is answered (the work is done once).",
}


def endpoint(
    blp: Blueprint, rule: str, response, *, query=None, body=None, write: bool = False, methods=None
):
    """What every API view is declared with, in this order: its route, the client's token and
    scope (`client_required`), for a write the Idempotency-Key (documented as a header), the
    query's or the body's schema, the response's schema (200); the view's name is its
    `operationId` in the OpenAPI document, which clients look operations up by."""

    def decorator(view: Callable) -> Callable:
        wrapped = blp.response(200, response)(view)
        if body is not None:
            wrapped = blp.arguments(body)(wrapped)
        if query is not None:
            wrapped = blp.arguments(query, location="query")(wrapped)
        if write:
            wrapped = idempotent(wrapped)
        wrapped = client_required(write=write)(wrapped)
        doc = {"operationId": view.__name__}
        if write:
            doc["parameters"] = [IDEMPOTENCY_PARAMETER]
        wrapped = blp.doc(**doc)(wrapped)
        return blp.route(rule, methods=methods or (["POST"] if write else ["GET"]))(wrapped)

    return decorator


def register_blueprint(app: Flask, blp: Blueprint) -> None:
    """Add an area's endpoints under /api/v1 (called from the area's register(app))."""
    csrf.exempt(blp)  # a bearer token in a header, no cookie: nothing for a forged form to ride on
    app.extensions["api_v1"].register_blueprint(blp, url_prefix=PREFIX + (blp.url_prefix or ""))


def openapi_document(app: Flask) -> dict:
    """The OpenAPI document built by flask-smorest from the code; its shared error responses are
    declared with the media type they are sent with (problem details)."""
    doc = app.extensions["api_v1"].spec.to_dict()
    for response in doc.get("components", {}).get("responses", {}).values():
        content = response.get("content", {})
        if "application/json" in content:
            content[MEDIA_TYPE] = content.pop("application/json")
    return doc


def _docs_blueprint() -> FlaskBlueprint:
    bp = FlaskBlueprint("api_docs", __name__, url_prefix=PREFIX)

    @bp.get("/openapi.json")
    @public
    def openapi_json():
        return current_app.json.response(openapi_document(current_app))

    @bp.get("/")
    @public
    def docs():
        spec = openapi_document(current_app)
        return render_template("api/docs.html", spec=spec)

    return bp
