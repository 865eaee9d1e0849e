"""The installable web app: manifest, service worker, offline page, and the Web Push subscription
endpoints that app/static/js/push.js calls (JSON, CSRF token in the X-CSRFToken header).

The service worker (app/static/sw.js) is served from the site root so that its scope is the
whole site. It keeps an offline copy only of the pages this module marks with `X-Offline-Copy`
(a parent's child pages, message threads and inbox: OFFLINE_ENDPOINTS), only for same-origin GET
navigations, and it empties its cache when someone logs in or out on the device (it sees those
POSTs) — the logout answer also carries `Clear-Site-Data: "cache"`.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import quote

from flask import Blueprint, Flask, current_app, jsonify, render_template, request, send_file, url_for
from flask_babel import gettext as _
from flask_login import current_user

from ..authz import login_required_any, public
from ..extensions import db
from . import push

bp = Blueprint("pwa", __name__)

# Pages kept readable offline: what a parent reopens on a bus without signal (grades and
# attendance on the child's page, the message threads, the inbox).
OFFLINE_ENDPOINTS = frozenset(
    {
        "contactbook_parent.children",
        "contactbook_parent.child",
        "contactbook_messages.threads",
        "contactbook_messages.thread",
        "notifications.inbox",
    }
)
THEME = "#1d4e89"


@bp.route("/sw.js")
@public
def service_worker():
    resp = send_file(Path(current_app.static_folder) / "sw.js", mimetype="text/javascript", max_age=0)
    resp.headers["Service-Worker-Allowed"] = "/"
    resp.headers["Cache-Control"] = "no-cache"
    return resp


@bp.route("/manifest.webmanifest")
@public
def manifest():
    icons = [
        {
            "src": url_for("static", filename=f"icons/icon-{size}.png"),
            "sizes": f"{size}x{size}",
            "type": "image/png",
        }
        for size in (192, 512)
    ]
    icons.append(
        {
            "src": url_for("static", filename="icons/icon-maskable-512.png"),
            "sizes": "512x512",
            "type": "image/png",
            "purpose": "maskable",
        }
    )
    body = {
        "name": "Tuyển sinh & Sổ liên lạc",
        "short_name": "Sổ liên lạc",
        "description": "Sổ liên lạc điện tử và tuyển sinh đầu cấp của Hà Nội",
        "lang": "vi",
        "start_url": url_for("core.home"),
        "scope": "/",
        "display": "standalone",
        "background_color": "#ffffff",
        "theme_color": THEME,
        "icons": icons,
    }
    resp = current_app.response_class(
        json.dumps(body, ensure_ascii=False), mimetype="application/manifest+json"
    )
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return resp


@bp.route("/offline")
@public
def offline():
    return render_template("notifications/offline.html")


@bp.route("/notifications/push/subscribe", methods=["POST"])
@login_required_any
def subscribe():
    if not push.public_key():
        return jsonify(error=_("Notifications on this device are not available on this site.")), 404
    row = push.subscribe(current_user.id, request.get_json(silent=True), request.user_agent.string)
    if row is None:
        return jsonify(error=_("This browser sent a subscription we cannot use. Please try again.")), 400
    db.session.commit()
    return jsonify(ok=True, devices=push.device_count(current_user.id)), 201


@bp.route("/notifications/push/unsubscribe", methods=["POST"])
@login_required_any
def unsubscribe():
    data = request.get_json(silent=True)
    removed = push.unsubscribe(current_user.id, data.get("endpoint") if isinstance(data, dict) else None)
    db.session.commit()
    return jsonify(ok=True, removed=removed, devices=push.device_count(current_user.id))


def mark_offline_copy(response):
    """After each request: mark a page the service worker may keep offline (with the localized
    "as of" note it shows on the copy); tell the browser to drop caches on logout."""
    endpoint = request.endpoint
    if endpoint == "auth.logout":
        response.headers["Clear-Site-Data"] = '"cache"'
    elif (
        endpoint in OFFLINE_ENDPOINTS
        and request.method == "GET"
        and response.status_code == 200
        and response.mimetype == "text/html"
    ):
        response.headers["X-Offline-Copy"] = "1"
        # A template for the worker: {time} is filled with the copy's date on the device.
        note = _("You are offline. This is the copy saved on %(time)s.", time="{time}")
        response.headers["X-Offline-Note"] = quote(note)
    return response


def install(app: Flask) -> None:
    app.register_blueprint(bp)
    app.after_request(mark_offline_copy)
