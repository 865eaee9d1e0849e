"""Account deletion: a parent asks, the office carries it out from its queue. What the law does
not require is removed or anonymised; what it requires is kept, and the parent is told which and
why before asking (the same statement is stored with the request)."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import timedelta

import sqlalchemy as sa
from flask import current_app

from ..audit import audit
from ..extensions import db
from ..i18n import N_
from ..models import User, UserSession, utcnow
from ..notifications.models import Delivery, PushSubscription
from .children import children_of
from .models import Consent, DataRequest, RequestKind, RequestStatus


@dataclass(frozen=True)
class Item:
    what: str  # an English msgid (marked with N_), translated when shown
    kept: bool
    why: str  # an English msgid (with %(years)d where it names a period)
    count: int = 0
    years: int = 0  # the retention period the `why` names


def register_eraser(app, name: str, fn) -> None:
    """An area's fn(user, execute) → list[Item]: what it removes (when execute) or keeps."""
    app.extensions.setdefault("privacy_erasers", {})[name] = fn


def plan(user: User, execute: bool = False) -> list[Item]:
    items = []
    for fn in current_app.extensions.get("privacy_erasers", {}).values():
        items.extend(fn(user, execute))
    items.extend(_platform(user, execute))
    return items


def _platform(user: User, execute: bool) -> list[Item]:
    out = []
    for model, col, what in (
        (Delivery, Delivery.recipient_id, N_("Notifications you received")),
        (Consent, Consent.user_id, N_("Your consents")),
        (DataRequest, DataRequest.user_id, N_("Your downloads")),
        (UserSession, UserSession.user_id, N_("Your login sessions")),
        (PushSubscription, PushSubscription.user_id, N_("Your devices that receive notifications")),
    ):
        where = [col == user.id] + (
            [DataRequest.kind == RequestKind.DOWNLOAD] if model is DataRequest else []
        )
        n = db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where)) or 0
        if execute and n:
            db.session.execute(sa.delete(model).where(*where))
        out.append(Item(what, False, N_("Not required by law."), n))
    if execute:
        user.full_name, user.phone, user.email = f"Tài khoản đã xoá #{user.id}", None, None
        user.password_hash, user.active, user.locale = None, False, None
        user.activation_code_hash = user.activation_expires_at = None
    out.append(
        Item(
            N_("Your name, phone number, email and password"),
            False,
            N_("Not required by law: the account is anonymised."),
            1,
        )
    )
    return out


def ask(user: User) -> DataRequest:
    existing = db.session.scalar(
        sa.select(DataRequest).where(
            DataRequest.user_id == user.id,
            DataRequest.kind == RequestKind.DELETION,
            DataRequest.status == RequestStatus.OPEN,
        )
    )
    if existing is not None:
        return existing
    now = utcnow()
    row = DataRequest(
        user_id=user.id,
        created_at=now,
        kind=RequestKind.DELETION,
        status=RequestStatus.OPEN,
        about=f"#{user.id}",
        district_id=next((c.district_id for c in children_of(user) if c.district_id), None),
        details=json.dumps([asdict(i) for i in plan(user)], ensure_ascii=False),
        due_at=now + timedelta(hours=int(current_app.config["PRIVACY_ANSWER_HOURS"])),
    )
    db.session.add(row)
    db.session.flush()
    audit("privacy.deletion_requested", row, actor_id=user.id)
    return row


def execute(row: DataRequest, actor: User) -> list[Item]:
    """The office carries the deletion out: the statement of what was removed and kept is stored
    with the request (the account is anonymised, the request row stays as the record)."""
    user = db.session.get(User, row.user_id)
    items = plan(user, execute=True)
    row.details = json.dumps([asdict(i) for i in items], ensure_ascii=False)
    row.status, row.handled_by_id, row.handled_at = RequestStatus.DONE, actor.id, utcnow()
    audit("privacy.deletion_done", row, actor_id=actor.id, late=row.handled_at > row.due_at)
    return items
