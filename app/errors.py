"""Friendly, localized error pages (HTML) or JSON for API clients; never a stack trace."""

from __future__ import annotations

import logging

from flask import jsonify, render_template, request
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

log = logging.getLogger(__name__)


def _messages():
    return {
        400: (_("Bad request"), _("The request could not be understood. Go back and try again.")),
        403: (_("Not allowed"), _("Your account cannot open this page.")),
        404: (_("Not found"), _("This page does not exist or is not available to you.")),
        405: (_("Not allowed"), _("This action is not available here.")),
        413: (_("Too large"), _("The file or form you sent is too large.")),
        422: (_("Check your entries"), _("Some entries need correcting.")),
        429: (
            _("Too many attempts"),
            _("Too many attempts in a short time. Wait a few minutes and try again."),
        ),
        500: (
            _("Something went wrong"),
            _("An error occurred on our side, so what you just did was not saved. Please try again shortly."),
        ),
        503: (_("Service busy"), _("The service is busy. Please try again shortly.")),
    }


def _wants_json() -> bool:
    return request.path.startswith("/api/") or (request.accept_mimetypes.best == "application/json")


def render_error(code: int, message: str | None = None):
    title, text = _messages().get(code, _messages()[500 if code >= 500 else 400])
    if message:
        text = message
    if _wants_json():
        return jsonify(error=title, message=text, status=code), code
    return render_template("errors/error.html", code=code, title=title, text=text), code


def register_error_handlers(app) -> None:
    @app.errorhandler(CSRFError)
    def csrf_error(err):
        return render_error(
            400, _("Your form expired or was sent from elsewhere. Reload the page and try again.")
        )

    @app.errorhandler(HTTPException)
    def http_error(err: HTTPException):
        code = err.code or 500
        if code in (301, 302, 303, 307, 308):
            return err
        return render_error(code)

    @app.errorhandler(Exception)
    def unhandled(err):
        if isinstance(err, HTTPException):
            return http_error(err)
        log.exception("unhandled error on %s %s", request.method, request.path)
        return render_error(InternalServerError.code)
