"""Notifications: one transactional outbox that admissions and the contact book send through.

Python API for the areas (call inside your service, before the boundary's commit)::

    from app.notifications import notify

    n = notify("contact_book", [guardian_user_id, ...],
               {"title": "Điểm kiểm tra giữa kỳ môn Toán", "body": "…", "child_name": "Nguyễn Minh An",
                "url": "https://…/contactbook/…"},          # optional absolute link
               sender_id=current_user.id, school_id=school.id, urgent=False)
    # n.id → sender report at url_for("notifications.report", notification_id=n.id)

- `kind`: a registered kind (`announcement`, `admission`, `contact_book`, `message`, `emergency`,
  `test`; add your own with `register_kind(name, _l("label"), urgent=…, about_child=…)` at import
  time). About-child kinds require `child_name`: every message about a child names the child.
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
- Returns the flushed Notification. Nothing is sent unless your transaction commits: the rows
  (one Delivery per recipient × channel, unique) are written in your transaction and the fan-out
  jobs (chunks of NOTIFY_CHUNK_SIZE=500 deliveries) are enqueued after the commit. If Redis is
  down at that moment the request still succeeds and the relay enqueues them later.

Operations: `flask --app app worker` sends; `flask --app app notifications relay --loop` (a
service beside the workers, or cron without --loop) re-queues what a dead worker or a Redis
outage left behind and, in in-process mode, sends deferred (quiet hours), retried and digest
messages. With Redis the workers also keep one relay job scheduled every NOTIFY_RELAY_INTERVAL
(60 s) while deliveries are unfinished.

Without any of that, the web processes do it themselves (autorelay.py): at most once a minute
per process, after a request, a background thread sends what is due (no Redis: `scripts/run`'s
setup sends 06:30 messages and 18:00 digests with the first request after those times) or, with
Redis, schedules the workers' relay job when unfinished deliveries exist (recovery after a Redis
outage). NOTIFY_AUTO_RELAY_SECONDS (60; 0 = off, off under TESTING), NOTIFY_AUTO_RELAY_BATCH.

Settings: NOTIFY_CHUNK_SIZE, NOTIFY_LEASE_SECONDS (120), NOTIFY_STALE_SECONDS (300),
MAIL_URL, SMS_GATEWAY_URL (+ SMS_GATEWAY_TOKEN), PUBLIC_URL (links in emails/SMS).
"""

from __future__ import annotations

from .service import NotifyError, notify, notify_many, register_kind  # noqa: F401

__all__ = ["notify", "notify_many", "register_kind", "NotifyError", "register"]


def register(app) -> None:
    """Blueprint, CLI and the header's unread badge (called by create_app only)."""
    from flask import g
    from flask_login import current_user

    from . import autorelay, models, service  # noqa: F401 - tables
    from .cli import notifications_cli
    from .views import bp

    app.register_blueprint(bp)
    app.cli.add_command(notifications_cli)
    autorelay.install(app)  # web processes send due deferred messages themselves (autorelay.py)

    def unread_notifications() -> int | None:
        """Lazy: one indexed COUNT, only when a page for a logged-in user shows the badge.
        None when it cannot be counted (an error page while the database is failing)."""
        if "notifications_unread" not in g:
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
