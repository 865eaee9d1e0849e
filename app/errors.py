"""Friendly, localized error pages (HTML) or JSON for API clients; never a stack trace."""

from __future__ import annotations

import contextlib
import logging

from flask import current_app, jsonify, render_template, request, session
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException, InternalServerError

from .api.problems import problem
from .extensions import db

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


def _texts(code: int, message: str | None) -> tuple[str, str]:
    title, text = _messages().get(code, _messages()[500 if code >= 500 else 400])
    return title, message or text


def render_error(code: int, message: str | None = None):
    """The error page in the visitor's language, with the site's header; if that cannot be drawn
    (the database is down: the header needs the signed-in user, the language may too), a page
    that needs no database, in the language of the session or else Vietnamese."""
    try:
        if request.path.startswith("/api/v1/"):
            return problem(code)
        title, text = _texts(code, message)
        if _wants_json():
            return jsonify(error=title, message=text, status=code), code
        return render_template("errors/error.html", code=code, title=title, text=text), code
    except Exception:  # noqa: BLE001 - the error page itself must not fail
        log.warning("error page drawn without the database", exc_info=True)
        return _render_without_database(code, message)


def _render_without_database(code: int, message: str | None):
    with contextlib.suppress(Exception):
        db.session.rollback()
    lang = session.get("lang")
    if lang not in current_app.config["LANGUAGES"]:
        lang = current_app.config["BABEL_DEFAULT_LOCALE"]
    with force_locale(lang):
        title, text = _texts(code, message)
        if _wants_json():
            return jsonify(error=title, message=text, status=code), code
        # Not render_template: its context processors load the signed-in user (the database).
        template = current_app.jinja_env.get_template("errors/standalone.html")
        page = template.render(code=code, title=title, text=text, lang=lang)
    return page, code


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
