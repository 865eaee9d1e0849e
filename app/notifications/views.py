"""Notification pages: inbox, preferences, sender report and progress, test send, admin failures."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user
from rq.job import Job
from rq.registry import FailedJobRegistry

from .. import jobs, outbox
from ..audit import audit
from ..authz import login_required_any, roles_required
from ..extensions import db
from ..models import OFFICER_ROLES, STAFF_ROLES, Role
from ..paging import page_arg
from . import push, service
from .fanout import notify
from .forms import PreferencesForm, TestNotificationForm
from .kinds import KIND_LABELS, kinds_in_order
from .models import Notification

bp = Blueprint("notifications", __name__, url_prefix="/notifications")

SENDERS = (Role.SCHOOL_STAFF, Role.DISTRICT_OFFICER, Role.CITY_ADMIN)
# Ids in URLs stop at the largest database integer: a longer number is "not found", not an
# integer overflow in the driver (a 500).
ID = "int(max=2147483647)"


@bp.route("/")
@login_required_any
def inbox():
    page = page_arg()
    items, has_next = service.inbox_page(current_user.id, page)
    return render_template(
        "notifications/inbox.html",
        items=items,
        page=page,
        has_next=has_next,
        unread=service.unread_count(current_user.id),
    )


@bp.route(f"/<{ID}:delivery_id>")
@login_required_any
def item(delivery_id: int):
    d = service.inbox_item_or_none(current_user.id, delivery_id)
    if d is None:
        abort(404)
    service.mark_read(d)  # the read receipt feeds the sender's report
    return render_template(
        "notifications/item.html",
        d=d,
        n=d.notification,
        link=service.safe_link(d.notification.context.get("url"), current_app.config.get("PUBLIC_URL")),
    )


@bp.route("/read-all", methods=["POST"])
@login_required_any
def read_all():
    count = service.mark_all_read(current_user.id)
    flash(
        ngettext("%(num)d notification marked as read.", "%(num)d notifications marked as read.", count),
        "success",
    )
    return redirect(url_for("notifications.inbox"))


@bp.route("/preferences", methods=["GET", "POST"])
@login_required_any
def preferences():
    prefs, settings = service.preferences_for(current_user.id)
    form = PreferencesForm(
        data=None
        if request.method == "POST"
        else {
            "quiet_enabled": settings.quiet_enabled,
            "quiet_start": settings.quiet_start,
            "quiet_end": settings.quiet_end,
            "digest_at": settings.digest_at,
        }
    )
    if form.is_submitted():
        # What the guardian ticked, also when the form comes back with an error (not lost).
        prefs = service.preferences_from_form(request.form)
    if form.validate_on_submit():
        if form.quiet_enabled.data and form.quiet_start.data == form.quiet_end.data:
            form.quiet_end.errors.append(_("Quiet hours must end at a different time than they start."))
        else:
            service.save_preferences(
                current_user.id,
                prefs,
                quiet_enabled=form.quiet_enabled.data,
                quiet_start=form.quiet_start.data,
                quiet_end=form.quiet_end.data,
                digest_at=form.digest_at.data,
            )
            flash(_("Your notification settings have been saved."), "success")
            return redirect(url_for("notifications.preferences"))
    status = 422 if form.is_submitted() else 200
    return render_template(
        "notifications/preferences.html",
        form=form,
        prefs=prefs,
        kinds=kinds_in_order(staff=current_user.role in STAFF_ROLES),
        labels=KIND_LABELS,
        has_email=bool(current_user.email),
        push_key=push.public_key(),
        push_devices=push.device_count(current_user.id),
    ), status


@bp.route("/sent")
@roles_required(STAFF_ROLES)
def sent():
    return render_template(
        "notifications/sent.html", notifications=service.visible_notifications(current_user)
    )


def _report_or_404(notification_id: int) -> Notification:
    n = db.session.get(Notification, notification_id)
    if n is None or not service.can_see_report(current_user, n):
        abort(404)
    return n


@bp.route(f"/sent/<{ID}:notification_id>")
@roles_required(STAFF_ROLES)
def report(notification_id: int):
    n = _report_or_404(notification_id)
    if current_user.role in OFFICER_ROLES:
        audit("notification.report.view", n)
    return render_template(
        "notifications/report.html",
        n=n,
        counts=service.report_counts(n.id),
        failed=service.failed_deliveries(n.id, limit=50),
    )


@bp.route(f"/sent/<{ID}:notification_id>/progress")
@roles_required(STAFF_ROLES)
def progress(notification_id: int):
    n = _report_or_404(notification_id)
    counts = service.report_counts(n.id)
    counts["next_at"] = counts["next_at"].isoformat() + "Z" if counts["next_at"] else None  # UTC
    resp = jsonify(counts)
    resp.headers["Cache-Control"] = "no-store"
    return resp


@bp.route("/test", methods=["GET", "POST"])
@roles_required(SENDERS)
def send_test():
    """Send yourself a test notification (in-app and email) and watch its delivery report."""
    form = TestNotificationForm()
    if form.validate_on_submit():
        n = notify(
            "test",
            [current_user.id],
            {"title": form.title.data, "body": form.body.data or ""},
            sender_id=current_user.id,
            school_id=current_user.school_id,
        )
        audit("notification.test", n)
        flash(_("Test notification queued."), "success")
        return redirect(url_for("notifications.report", notification_id=n.id))
    status = 422 if form.is_submitted() else 200
    return render_template("notifications/test.html", form=form), status


@bp.route("/admin/failures")
@roles_required(Role.CITY_ADMIN)
def failures():
    """Failed deliveries, SMS per school, and RQ's failed-job registry (when Redis is configured)."""
    failed_jobs, redis_error = [], None
    if jobs.redis_connection() is not None:
        try:
            registry = FailedJobRegistry(queue=jobs.queue())
            ids = registry.get_job_ids(0, 49)
            for job in Job.fetch_many(ids, connection=jobs.redis_connection()):
                if job is not None:
                    failed_jobs.append(
                        {
                            "id": job.id,
                            "description": job.description,
                            "ended_at": job.ended_at,
                            "error": (job.latest_result().exc_string if job.latest_result() else "")[-400:],
                        }
                    )
        except Exception as err:  # noqa: BLE001 - the page still shows the database side
            current_app.logger.warning("failed-job registry unavailable: %s", err)
            redis_error = True
    audit("notification.failures.view")
    return render_template(
        "notifications/failures.html",
        failed=service.failed_deliveries(limit=100),
        failed_jobs=failed_jobs,
        given_up=outbox.failed(limit=50),
        redis_error=redis_error,
        sms=service.sms_sent_and_saved_by_school(),
        redis=jobs.redis_connection() is not None,
    )
