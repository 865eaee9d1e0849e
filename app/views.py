"""Core pages: home, language switch, health check."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user

from .authz import login_required_any, public
from .extensions import db
from .jobs import redis_connection
from .models import OFFICER_ROLES, Role

bp = Blueprint("core", __name__)


@bp.route("/")
@public
def index():
    if current_user.is_authenticated:
        return redirect(url_for("core.home"))
    return render_template("index.html")


@bp.route("/home")
@login_required_any
def home():
    return render_template("home.html", Role=Role, officer_roles=OFFICER_ROLES)


@bp.route("/lang", methods=["POST"])
@public
def set_language():
    lang = request.form.get("lang", "")
    if lang in current_app.config["LANGUAGES"]:
        session["lang"] = lang
        if current_user.is_authenticated:
            current_user.locale = lang
    target = request.form.get("next") or ""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        target = url_for("core.index")
    return redirect(target)


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
