"""RFC 9457 problem details: every error of the API answers `application/problem+json` with a
`type`, a `title` and a `detail` in the client's language (Accept-Language: vi or en; default
Vietnamese), `status`, and for invalid input the `errors` by field."""

from __future__ import annotations

import re

from flask import current_app, request
from flask_babel import force_locale
from flask_babel import gettext as _
from marshmallow import Schema, fields
from werkzeug.exceptions import HTTPException

PROBLEM_TYPE = "about:blank"
MEDIA_TYPE = "application/problem+json"


class ProblemSchema(Schema):
    """A problem detail (RFC 9457)."""

    type = fields.String(required=True)
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    errors = fields.Dict(keys=fields.String(), values=fields.Raw())


def _texts() -> dict[int, tuple[str, str]]:
    return {
        400: (_("Bad request"), _("The request could not be understood.")),
        401: (_("Not signed in"), _("Send a valid API token: Authorization: Bearer <token>.")),
        403: (_("Not allowed"), _("This client's scope does not allow this call.")),
        404: (_("Not found"), _("This resource does not exist or is outside this client's scope.")),
        405: (_("Not allowed"), _("This method is not available here.")),
        409: (_("Conflict"), _("Another request with this Idempotency-Key is still running.")),
        413: (_("Too large"), _("The request body is too large.")),
        415: (_("Unsupported media type"), _("Send the body as application/json.")),
        422: (_("Check your entries"), _("Some entries need correcting.")),
        429: (_("Too many requests"), _("Too many requests in a short time. Wait and try again.")),
        500: (_("Something went wrong"), _("An error occurred on our side; nothing was saved.")),
    }


def _field_messages() -> dict[str, str]:
    """marshmallow's own messages (English), in the client's language."""
    return {
        "Missing data for required field.": _("Missing data for required field."),
        "Field may not be null.": _("Field may not be null."),
        "Unknown field.": _("Unknown field."),
        "Invalid input type.": _("Invalid input type."),
        "Invalid type.": _("Invalid type."),
        "Not a valid string.": _("Not a valid string."),
        "Not a valid integer.": _("Not a valid integer."),
        "Not a valid number.": _("Not a valid number."),
        "Not a valid date.": _("Not a valid date."),
        "Not a valid list.": _("Not a valid list."),
        "Not a valid mapping type.": _("Not a valid mapping type."),
        "String does not match expected pattern.": _("Text with characters a cell cannot hold."),
    }


_PATTERNS = (
    (re.compile(r"^Longer than maximum length (\d+)\.$"), lambda n, m: _("At most %(n)s.", n=n)),
    (re.compile(r"^Shorter than minimum length (\d+)\.$"), lambda n, m: _("At least %(n)s.", n=n)),
    (
        re.compile(r"^Length must be between (\d+) and (\d+)\.$"),
        lambda n, m: _("Between %(n)s and %(m)s.", n=n, m=m),
    ),
    (re.compile(r"^Must be one of: (.*)\.$"), lambda n, m: _("Must be one of: %(n)s.", n=n)),
)


def _localized(messages):
    """The field errors of a 422 with marshmallow's texts translated (unknown texts kept)."""
    if isinstance(messages, dict):
        return {key: _localized(value) for key, value in messages.items()}
    if isinstance(messages, list):
        return [_localized(value) for value in messages]
    if isinstance(messages, str):
        known = _field_messages().get(messages)
        if known is not None:
            return known
        for pattern, text in _PATTERNS:
            match = pattern.match(messages)
            if match:
                groups = match.groups()
                return text(groups[0], groups[-1])
    return messages


def client_language() -> str:
    """The best of the app's languages for the request's Accept-Language (Vietnamese by default)."""
    languages = current_app.config["LANGUAGES"]
    best = request.accept_languages.best_match(languages)
    return best or current_app.config["BABEL_DEFAULT_LOCALE"]


def problem(status: int, detail: str | None = None, errors: dict | None = None, headers=None):
    """A problem+json response; `detail` is a lazy or plain msgid already translated by the caller,
    or None for the status's own text."""
    with force_locale(client_language()):
        title, text = _texts().get(status, _texts()[500 if status >= 500 else 400])
        body = {"type": PROBLEM_TYPE, "title": title, "status": status, "detail": str(detail or text)}
        if errors:
            body["errors"] = _localized(errors)
    response = current_app.json.response(body)
    response.status_code = status
    response.mimetype = MEDIA_TYPE
    response.headers["Content-Language"] = client_language()
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def from_http_exception(err: HTTPException):
    """An HTTPException raised in an API view (abort, webargs' 422) as a problem."""
    status = err.code or 500
    data = getattr(err, "data", None) or {}
    errors = data.get("messages") or data.get("errors")
    detail = data.get("detail")
    headers = {
        k: v for k, v in (err.get_headers() if status in (401, 405, 429) else []) if k != "Content-Type"
    }
    if status == 401:
        headers["WWW-Authenticate"] = 'Bearer realm="api"'
    return problem(status, detail, errors, headers)
