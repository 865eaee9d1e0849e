"""Tuyển sinh & Sổ liên lạc: the Flask application factory."""

from __future__ import annotations

import functools
import gc
import logging
import os
from collections.abc import Mapping

import sqlalchemy as sa
from flask import Flask, request, session
from flask_babel import get_locale
from flask_babel import lazy_gettext as _l
from werkzeug.routing import IntegerConverter

from . import (
    admin,
    autorelay,
    cli,
    forms,
    hotpath,
    i18n,
    jobs,
    notifications,
    pgcursor,
    privacy,
    transactions,
    views,
)
from .api import register as register_api
from .auth import bp as auth_bp
from .auth import services as account_services
from .config import Config, load_secret_key
from .errors import register_error_handlers
from .extensions import babel, csrf, db, limiter, login_manager, migrate
from .links import check_production_config, public_url_for
from .models import Role
from .security import TrustedProxies, proxy_networks, security_headers

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


class App(Flask):
    """Flask with one transaction per request, owned by the view: what the view did commits when
    it returns normally (whatever the status) and rolls back when it raises (an abort, an error).
    Jobs queued with `app.jobs.enqueue_after_commit` are handed over after that commit.

    Error statuses answered normally must not carry writes by accident: under TESTING a view
    that answers 4xx/5xx after writing fails (app.jobs.commit_request) unless it said so with
    `app.jobs.keep_writes()` (a refused admission code still counts the attempt).

    A request that wrote nothing (only SELECTs) sends no COMMIT: its reads end with the pooled
    connection's reset. A GET or HEAD that loses its database connection (the server restarted,
    a proxy dropped an idle connection) is served once more on a fresh one."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._plain_functions: set = set()

    def ensure_sync(self, func):
        """Flask asks this of every hook, view and handler on every request (~20 a page): a
        function found plain once is plain for good."""
        try:
            if func in self._plain_functions:
                return func
        except TypeError:  # an unhashable callable: asked every time, as Flask does
            return super().ensure_sync(func)
        synced = super().ensure_sync(func)
        if synced is func and len(self._plain_functions) < 4096:
            self._plain_functions.add(func)
        return synced

    def preprocess_request(self):
        """The before-request hooks (the signed-in account's checks read the session first): a
        dropped pooled connection there is retried once too, for a GET or HEAD."""
        try:
            return super().preprocess_request()
        except sa.exc.DBAPIError as err:
            jobs.rollback()
            if not err.connection_invalidated or request.method not in ("GET", "HEAD"):
                raise
            logging.getLogger(__name__).warning("database connection lost; serving %s again", request.path)
            return super().preprocess_request()

    def dispatch_request(self):
        for attempt in (1, 2):
            try:
                response = self.make_response(super().dispatch_request())
                break
            except sa.exc.DBAPIError as err:
                jobs.rollback()
                # A pooled connection the database dropped (a restart, a proxy's idle timeout):
                # the pool is invalidated; a page that only reads is served again, once, on a
                # fresh connection. Anything else answers the error (nothing was committed).
                if attempt == 2 or not err.connection_invalidated or request.method not in ("GET", "HEAD"):
                    raise
                logging.getLogger(__name__).warning(
                    "database connection lost; serving %s again", request.path
                )
            except BaseException:
                jobs.rollback()
                raise
        jobs.commit_request(response.status_code)  # a request that wrote nothing does not COMMIT
        return response


def create_app(config: type | Mapping | None = None) -> Flask:
    """Build the app: configuration, extensions, blueprints, CLI. No migrations, no network."""
    app = App(
        __name__,
        instance_path=os.environ.get("INSTANCE_PATH") or os.path.join(ROOT, "instance"),
        instance_relative_config=True,
        template_folder=os.path.join(ROOT, "templates"),
    )
    app.config.from_object(Config)
    if isinstance(config, Mapping):
        app.config.update(config)
    elif config is not None:
        app.config.from_object(config)

    if not app.config.get("SQLALCHEMY_DATABASE_URI"):
        url = os.environ.get("DATABASE_URL") or f"sqlite:///{os.path.join(app.instance_path, 'app.db')}"
        app.config["SQLALCHEMY_DATABASE_URI"] = normalize_database_url(url)
        if url.startswith("sqlite:///") and not url.startswith("sqlite:////:memory"):
            os.makedirs(app.instance_path, exist_ok=True)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = load_secret_key(app.instance_path)
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config.get("REDIS_URL") or "memory://")
    if app.config.get("REDIS_URL") and app.config["RATELIMIT_STORAGE_URI"] == "memory://":
        app.config["RATELIMIT_STORAGE_URI"] = app.config["REDIS_URL"]

    check_production_config(app)
    if app.config.get("TRUSTED_PROXIES"):
        networks = proxy_networks(app.config.get("TRUSTED_PROXY_ADDRESSES"))
        app.wsgi_app = TrustedProxies(app.wsgi_app, int(app.config["TRUSTED_PROXIES"]), networks)
    # Before any blueprint adds its rules: <int:…> ids beyond a 64-bit column are simply not
    # found (404) instead of overflowing the database driver (a 500 on SQLite).
    app.url_map.converters["int"] = RecordIdConverter

    _init_extensions(app)
    _register_request_hooks(app)
    _register_blueprints(app)
    hotpath.install(app, limiter)  # built once: template URLs, the signed CSRF token, limits
    if not (app.testing or app.debug):
        # What the process built so far (modules, the app, its catalogs: some 200,000 objects)
        # lives as long as it does: the collector no longer walks it on each full collection
        # (about 90 ms each, landing on whichever request runs out of allocations).
        gc.freeze()
    logging.getLogger(__name__).debug(
        "app created for %s", app.config["SQLALCHEMY_DATABASE_URI"].split("@")[-1]
    )
    return app


class RecordIdConverter(IntegerConverter):
    """`<int:…>` in URLs: 0 … 2**63-1, the range of a database id."""

    def __init__(self, map, *args, **kwargs):
        kwargs.setdefault("max", 2**63 - 1)
        super().__init__(map, *args, **kwargs)


def normalize_database_url(url: str) -> str:
    """Accept plain postgres URLs and use psycopg 3 for them."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _init_extensions(app: Flask) -> None:
    db.init_app(app)
    with app.app_context():  # PostgreSQL: no BEGIN/ROLLBACK for a request that only reads
        for engine in db.engines.values():
            transactions.install(engine)
            pgcursor.install(engine)  # no Column objects for descriptions nobody reads
    migrate.init_app(
        app, db, directory=os.path.join(ROOT, "migrations"), render_as_batch=True, compare_type=True
    )
    csrf.init_app(app)
    limiter.init_app(app)
    babel.init_app(
        app,
        locale_selector=i18n.select_locale,
        timezone_selector=i18n.select_timezone,
        default_translation_directories=os.path.join(ROOT, "app", "translations"),
    )
    i18n.install_template_gettext(app, babel)
    forms.install_html_params()  # the same HTML as WTForms writes, several times cheaper
    app.add_template_filter(i18n.filesize, "filesize")
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.session_protection = None  # sessions are server-side records (UserSession)
    login_manager.login_message = _l("Please log in to open this page.")
    login_manager.user_loader(account_services.load_session)


def _register_request_hooks(app: Flask) -> None:
    @app.after_request
    def add_security_headers(response):
        # What the view set itself stays (setdefault), in one pass over the response's headers
        # (Werkzeug's setdefault scans them once per header).
        headers = response.headers
        present = {key.lower() for key, _value in headers}
        for key, lowered, value in _security_header_items(app.config["SESSION_COOKIE_SECURE"]):
            if lowered not in present:
                headers.add(key, value)
        if session.get("_user_id") and request.endpoint != "static":
            response.headers["Cache-Control"] = "no-store"
        return response

    @app.teardown_request
    def rollback_on_error(exc):
        if exc is not None:
            jobs.rollback()

    @app.context_processor
    def inject_helpers():
        return {"get_locale": get_locale, "Role": Role, "public_url_for": public_url_for}


@functools.cache
def _security_header_items(secure: bool) -> tuple[tuple[str, str, str], ...]:
    return tuple((key, key.lower(), value) for key, value in security_headers(secure).items())


def _register_blueprints(app: Flask) -> None:
    views.register(app)
    app.register_blueprint(auth_bp)
    admin.register(app)
    register_error_handlers(app)
    cli.register(app)
    notifications.register(app)  # outbox, inbox, sender reports (both areas send through it)
    privacy.register(app)  # the privacy notice, consents (docs/privacy.md)
    autorelay.install(app)  # web processes run relay passes themselves (app/autorelay.py)
    register_api(app)  # /api/v1: the areas add their endpoints to it from register(app)

    # The feature areas plug in here and only here (docs/LAYOUT.md: app/ never imports an area
    # anywhere else). lazy: the areas import app (app.jobs, app.models, …) at their top, so
    # importing them at the top of this package would make `import app` import them half-built.
    import admissions  # lazy: see above
    import contactbook  # lazy: see above

    admissions.register(app)
    contactbook.register(app)


@sa.event.listens_for(sa.engine.Engine, "connect")
def _sqlite_pragmas(dbapi_connection, connection_record):  # pragma: no cover - driver hook
    if type(dbapi_connection).__module__.startswith("sqlite3"):
        cur = dbapi_connection.cursor()
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA busy_timeout=5000")
        cur.close()
