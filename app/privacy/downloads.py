"""A parent's download of everything held about them and their children: the areas register
providers (`register_provider(app, name, fn)`, fn(user) → list of sections); a job gathers them
into one JSON document, kept until it expires (PRIVACY_EXPORT_DAYS)."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
from flask import current_app

from .. import jobs
from ..audit import audit
from ..extensions import db
from ..i18n import N_
from ..models import AuditLog, User, utcnow
from ..notifications.models import Delivery, Notification, PushSubscription
from .children import children_of
from .consent import history
from .models import DataRequest, RequestKind, RequestStatus

FORMAT = "tuyensinh-personal-data/1"
ACCESS_LOG = N_("Who at the school or office viewed or exported the record")


def section(title: str, rows: list[dict], about: str | None = None) -> dict:
    """One part of the document: `title` (an English msgid marked with N_, translated when read;
    `app.privacy.reading` gives its keys labels and its values words), its rows
    (plain values), `about` the child's name when it is about a child."""
    return {"title": title, "about": about, "rows": rows}


def register_provider(app, name: str, fn) -> None:
    app.extensions.setdefault("privacy_providers", {})[name] = fn


def request_download(user) -> DataRequest:
    """A new download (or the one still being built: one at a time)."""
    pending = db.session.scalar(
        sa.select(DataRequest).where(
            DataRequest.user_id == user.id,
            DataRequest.kind == RequestKind.DOWNLOAD,
            DataRequest.status.in_([RequestStatus.QUEUED, RequestStatus.RUNNING]),
        )
    )
    if pending is not None:
        return pending
    row = DataRequest(user_id=user.id, kind=RequestKind.DOWNLOAD)
    db.session.add(row)
    db.session.flush()
    audit("privacy.download_requested", row, actor_id=user.id)
    jobs.enqueue_after_commit("app.privacy.tasks:build_download", row.id)
    return row


def own_request_or_none(user_id: int, request_id: int) -> DataRequest | None:
    return db.session.scalar(
        sa.select(DataRequest).where(DataRequest.id == request_id, DataRequest.user_id == user_id)
    )


def is_expired(row: DataRequest, now: datetime | None = None) -> bool:
    return row.expires_at is not None and (now or utcnow()) >= row.expires_at


def build(request_id: int) -> None:
    """The job's work: gather every provider's sections, store the JSON, mark it ready."""
    row = db.session.get(DataRequest, request_id)
    if row is None or row.status == RequestStatus.READY:
        return
    user = db.session.get(User, row.user_id)
    providers = list(current_app.extensions.get("privacy_providers", {}).items())
    row.status, row.progress = RequestStatus.RUNNING, 5
    jobs.commit()  # the progress page shows it
    sections = platform_sections(user)
    for i, (_name, fn) in enumerate(providers, 1):
        sections.extend(fn(user))
        row.progress = 5 + int(90 * i / max(len(providers), 1))
        jobs.commit()
    doc = {"format": FORMAT, "generated_at": utcnow().isoformat(timespec="seconds"), "sections": sections}
    row.content = json.dumps(doc, ensure_ascii=False, default=_plain, indent=1)
    row.status, row.progress = RequestStatus.READY, 100
    row.ready_at = utcnow()
    row.expires_at = row.ready_at + timedelta(days=current_app.config["PRIVACY_EXPORT_DAYS"])


def _plain(value):
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return str(value)


def platform_sections(user) -> list[dict]:
    account = {
        "full_name": user.full_name,
        "phone": user.phone,
        "email": user.email,
        "role": user.role,
        "language": user.locale,
        "created_at": user.created_at,
        "last_login_at": user.last_login_at,
    }
    given = history(user.id)
    names = {c.subject: c.name for c in children_of(user)} if any(c.subject for c in given) else {}
    consents = [
        {
            "purpose": c.purpose,
            "subject": c.subject,
            "child": names.get(c.subject) if c.subject else None,
            "notice_version": c.notice_version,
            "given_at": c.given_at,
            "withdrawn_at": c.withdrawn_at,
        }
        for c in given
    ]
    q = (
        sa.select(
            Notification.created_at,
            Notification.kind,
            Notification.context,
            Delivery.channel,
            Delivery.status,
        )
        .join(Delivery, Delivery.notification_id == Notification.id)
        .where(Delivery.recipient_id == user.id)
        .order_by(Notification.created_at, Delivery.id)
    )
    notes = [
        {
            "at": at,
            "kind": kind,
            "title": (ctx or {}).get("title"),
            "child_name": (ctx or {}).get("child_name"),
            "channel": channel,
            "status": status,
        }
        for at, kind, ctx, channel, status in db.session.execute(q)
    ]
    # A device's description and dates; never its endpoint or keys (they let anyone push to it).
    devices = [
        {"device": agent, "created_at": created, "last_success_at": last}
        for agent, created, last in db.session.execute(
            sa.select(
                PushSubscription.user_agent, PushSubscription.created_at, PushSubscription.last_success_at
            )
            .where(PushSubscription.user_id == user.id)
            .order_by(PushSubscription.created_at, PushSubscription.id)
        )
    ]
    return [
        section(N_("Account"), [account]),
        section(N_("Consents"), consents),
        section(N_("Notifications"), notes),
        section(N_("Devices that receive notifications"), devices),
    ]


def access_log(targets: list[tuple[str, int]], about: str | None = None) -> dict:
    """Who among the staff viewed or exported these records (the audit log), for a section."""
    if not targets:
        return section(ACCESS_LOG, [], about)
    conds = [sa.and_(AuditLog.target_type == t, AuditLog.target_id == str(i)) for t, i in targets]
    q = (
        sa.select(AuditLog.at, AuditLog.action, User.full_name, User.role)
        .join(User, User.id == AuditLog.actor_id)
        .where(sa.or_(*conds), User.role != "parent")
        .order_by(AuditLog.at)
    )
    rows = [
        {"at": at, "action": action, "by": name, "role": role}
        for at, action, name, role in db.session.execute(q)
    ]
    return section(ACCESS_LOG, rows, about)
