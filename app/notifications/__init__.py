"""Notifications: one transactional outbox that admissions and the contact book send through.

Python API for the areas (call inside your service, before the boundary's commit)::

    from app.notifications import notify

    n = notify("contact_book", [guardian_user_id, ...],
               {"title": "Điểm kiểm tra giữa kỳ môn Toán", "body": "…", "child_name": "Nguyễn Minh An",
                "url": "https://…/contactbook/…"},          # optional absolute link
               sender_id=current_user.id, school_id=school.id, urgent=False)
    # n.id → sender report at url_for("notifications.report", notification_id=n.id)

- `kind`: a registered kind. The platform has `emergency` and `test`; an area registers its own
  from its register(app) with `register_kind(name, _l("label"), urgent=…, about_child=…)`.
  About-child kinds require `child_name`: every message about a child names the child.
- `recipients`: user ids (guardians, staff); duplicates and deactivated accounts are dropped.
- `context`: JSON-able dict with `title` (required), `body`, `child_name`, `url`. Texts typed by
  staff are sent as typed; the frame around them is rendered in each recipient's language from
  templates/emails/notification[_<kind>].{txt,html}.
- `urgent`: defaults to the kind's; urgent messages ignore quiet hours and digests and also go by
  SMS. Otherwise SMS (paid, counted per `school_id`) only reaches guardians with no free channel
  (no email and never logged in to read the in-app inbox).
- `notify_many(kind, [(recipients, context), …], sender_id=…, school_id=…, urgent=…)` writes many
  notifications of one kind (one per child, each naming the child) with a fixed number of queries
  and jobs for the whole batch; it returns them in order.
- `subject=subject_key("announcement", a.id)`: what the notification is about. The area calls
  `mark_read_for(user_id, subject)` when the user reads that thing on its page, and registers
  `register_read_hook("announcement", fn)` to hear when the inbox item was opened (reads.py).
- `plan_counts(kind, recipients, urgent=…)`: what notify() would send, per channel, writing
  nothing (a confirmation step's family and SMS counts).
- Returns the flushed Notification. Nothing is sent unless your transaction commits: the rows
  (one Delivery per recipient × channel, unique) and the send jobs (platform outbox, chunks of
  NOTIFY_CHUNK_SIZE=500 deliveries) are written in your transaction. If Redis is down after the
  commit the request still succeeds and the relay hands the jobs over when it is back.

What is guaranteed, how the outbox, the relay and the workers work, and what operators run:
docs/notifications.md. Settings: NOTIFY_CHUNK_SIZE, NOTIFY_LEASE_SECONDS (30),
NOTIFY_STALE_SECONDS (300), NOTIFY_AUTO_RELAY_SECONDS, MAIL_URL, SMS_GATEWAY_URL
(+ SMS_GATEWAY_TOKEN), PUBLIC_URL (links in emails/SMS).
"""

from __future__ import annotations

from flask import Flask, g, request
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from .. import jobs
from ..models import STAFF_ROLES, Role
from ..views import register_home_card
from . import models, pwa, service  # noqa: F401 - models register their tables
from .cli import notifications_cli
from .fanout import notify, notify_many, plan_counts
from .kinds import NotifyError, register_kind
from .reads import mark_read_for, notification_ids_for, register_read_hook, subject_key
from .relay import relay
from .views import bp

__all__ = [
    "notify",
    "notify_many",
    "plan_counts",
    "register_kind",
    "NotifyError",
    "mark_read_for",
    "notification_ids_for",
    "register_read_hook",
    "subject_key",
    "register",
]


def register(app: Flask) -> None:
    """Blueprint, CLI, the relay pass and the header's unread badge (called by create_app only)."""
    app.register_blueprint(bp)
    pwa.install(app)  # manifest, service worker, offline page, push subscriptions
    app.cli.add_command(notifications_cli)
    jobs.register_relay(app, "notifications", relay)
    register_home_card(app, _l("Notifications and notification settings"), "notifications.inbox", order=800)
    register_home_card(
        app, _l("Sent notifications and delivery reports"), "notifications.sent", roles=STAFF_ROLES, order=810
    )
    register_home_card(
        app,
        _l("Delivery failures and failed jobs"),
        "notifications.failures",
        roles=(Role.CITY_ADMIN,),
        order=820,
    )

    # The badge's count comes with the login session's own statement (app.auth.services.
    # load_session): no statement of its own on a logged-in page.
    app.extensions.setdefault("session_columns", {})["notifications_unread"] = service.unread_count_column

    def unread_notifications() -> int | None:
        """The header badge: the count loaded with the login session, except on the inbox's own
        pages (opening a notification reads it: count again, after that); else one indexed
        COUNT. None when it cannot be counted (an error page while the database is failing)."""
        if "notifications_unread" not in g:
            loaded = g.get("session_columns") or {}
            endpoint = request.endpoint or ""
            if "notifications_unread" in loaded and not endpoint.startswith("notifications."):
                g.notifications_unread = loaded["notifications_unread"] or 0
                return g.notifications_unread
            try:
                g.notifications_unread = (
                    service.unread_count(current_user.id) if current_user.is_authenticated else 0
                )
            except Exception:  # noqa: BLE001 - never break a page (or an error page) for a badge
                app.logger.warning("unread count unavailable", exc_info=True)
                g.notifications_unread = None
        return g.notifications_unread

    @app.context_processor
    def inject_unread():
        return {"unread_notifications": unread_notifications}
