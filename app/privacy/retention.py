"""Retention: delete what is kept past its period (`flask --app app privacy retention`).

Each rule counts what it would remove (dry run) or removes it, and says why. The platform's
rules are below; an area adds its own with `register_retention(app, name, fn)`, fn(now, dry_run)
→ list of `Removal`. Periods are app settings (docs/privacy.md)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import db
from ..models import PhoneCode, UserSession
from ..notifications.models import Delivery, Notification
from .models import DataRequest


@dataclass(frozen=True)
class Removal:
    what: str
    count: int
    why: str


def register_retention(app, name: str, fn) -> None:
    app.extensions.setdefault("privacy_retention", {})[name] = fn


def _days(key: str) -> timedelta:
    return timedelta(days=int(current_app.config[key]))


def _apply(model, where, what: str, why: str, dry_run: bool) -> Removal:
    count = db.session.scalar(sa.select(sa.func.count()).select_from(model).where(where)) or 0
    if count and not dry_run:
        db.session.execute(sa.delete(model).where(where))
    return Removal(what, count, why)


def platform_rules(now: datetime, dry_run: bool) -> list[Removal]:
    out = [
        _apply(
            UserSession,
            UserSession.last_seen_at < now - _days("PRIVACY_SESSION_DAYS"),
            "login sessions",
            f"not used for {current_app.config['PRIVACY_SESSION_DAYS']} days",
            dry_run,
        ),
        _apply(
            PhoneCode,
            PhoneCode.expires_at < now - _days("PRIVACY_CODE_DAYS"),
            "one-time SMS codes",
            f"expired more than {current_app.config['PRIVACY_CODE_DAYS']} days ago",
            dry_run,
        ),
    ]
    expired = sa.and_(DataRequest.expires_at < now, DataRequest.content.is_not(None))
    count = db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest).where(expired)) or 0
    if count and not dry_run:
        db.session.execute(sa.update(DataRequest).where(expired).values(content=None))
    out.append(Removal("expired data downloads (their content)", count, "past their expiry"))
    old = sa.select(Notification.id).where(Notification.created_at < now - _days("PRIVACY_NOTIFICATION_DAYS"))
    deliveries = _apply(Delivery, Delivery.notification_id.in_(old), "notification deliveries", "", dry_run)
    notes = _apply(
        Notification,
        Notification.created_at < now - _days("PRIVACY_NOTIFICATION_DAYS"),
        "notifications",
        f"older than {current_app.config['PRIVACY_NOTIFICATION_DAYS']} days",
        dry_run,
    )
    out.append(Removal(deliveries.what, deliveries.count, notes.why))
    out.append(notes)
    return out


def run(now: datetime, dry_run: bool) -> list[Removal]:
    """Every rule, the platform's then each area's; flush only (the command commits)."""
    out = platform_rules(now, dry_run)
    for fn in current_app.extensions.get("privacy_retention", {}).values():
        out.extend(fn(now, dry_run))
    db.session.flush()
    return out
