"""Core pages: home (with the cards the platform and the areas register), language switch,
health check."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import sqlalchemy as sa
from flask import Blueprint, Flask, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .authz import login_required_any, public
from .extensions import db
from .jobs import redis_connection
from .security import safe_next_path

bp = Blueprint("core", __name__)


@dataclass(frozen=True)
class HomeCard:
    """A link on the home page: `title` (a lazy_gettext string), the view's `endpoint` (no URL
    arguments), the roles that see it (None: everyone logged in), `order` (lower first);
    `public`: also on the public welcome page (a public view, for visitors not logged in)."""

    title: object
    endpoint: str
    roles: frozenset[str] | None
    order: int
    public: bool = False


def register_home_card(
    app: Flask,
    title,
    endpoint: str,
    *,
    roles: Iterable[str] | None = None,
    order: int = 500,
    public: bool = False,
) -> HomeCard:
    """Add a card to the home page (the platform and each area call this from register(app))."""
    card = HomeCard(title, endpoint, None if roles is None else frozenset(roles), order, public)
    cards = app.extensions.setdefault("home_cards", {})
    cards[endpoint] = card
    return card


def home_cards(role: str) -> list[HomeCard]:
    cards = current_app.extensions.get("home_cards", {}).values()
    return sorted(
        (c for c in cards if c.roles is None or role in c.roles), key=lambda c: (c.order, c.endpoint)
    )


def public_cards() -> list[HomeCard]:
    cards = current_app.extensions.get("home_cards", {}).values()
    return sorted((c for c in cards if c.public), key=lambda c: (c.order, c.endpoint))


def register(app: Flask) -> None:
    app.register_blueprint(bp)
    register_home_card(app, _l("Login sessions"), "auth.sessions_page", order=980)
    register_home_card(app, _l("Change password"), "auth.change_password", order=990)


@bp.route("/")
@public
def index():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    return render_template("index.html", cards=public_cards())


@bp.route("/home")
@login_required_any
def home():
    return render_template("home.html", cards=home_cards(current_user.role))


@bp.route("/lang", methods=["POST"])
@public
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if current_user.is_authenticated:
            current_user.locale = lang
    return redirect(safe_next_path(request.form.get("next")) or url_for("core.index"))


@bp.route("/healthz")
@public
def healthz():
    """For load balancers: 200 when the database answers and Redis (if configured) too."""
    status = {"database": "ok", "redis": "disabled"}
    healthy = True
    try:
        db.session.execute(sa.text("SELECT 1"))
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        status["database"] = "error"
        healthy = False
    try:
        conn = redis_connection()
        if conn is not None:
            conn.ping()
            status["redis"] = "ok"
    except Exception:  # noqa: BLE001
        status["redis"] = "error"
        healthy = False
    status["status"] = "ok" if healthy else "error"
    resp = jsonify(status)
    resp.status_code = 200 if healthy else 503
    resp.headers["Cache-Control"] = "no-store"
    return resp
