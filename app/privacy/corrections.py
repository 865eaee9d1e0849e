"""Correction requests: a parent asks for a roster fact to be corrected; the office of the
child's district answers within the legal deadline (PRIVACY_ANSWER_HOURS); every step audited."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from ..audit import audit
from ..extensions import db
from ..models import Role, User, utcnow
from . import deletion
from .children import Child
from .models import DataRequest, RequestKind, RequestStatus

AUDIT_ACTIONS = {
    "privacy.correction_requested": _l("A family asked for a correction of their data"),
    "privacy.correction_viewed": _l("Opened the queue of personal-data requests"),
    "privacy.correction_done": _l("Corrected a family's data on request"),
    "privacy.correction_refused": _l("Refused a family's correction request"),
    "privacy.deletion_requested": _l("A family asked for their account to be deleted"),
    "privacy.deletion_done": _l("Deleted a family's account on request"),
    "privacy.deletion_refused": _l("Refused a family's deletion request"),
    "privacy.consent_given": _l("Gave a consent"),
    "privacy.consent_withdrawn": _l("Withdrew a consent"),
    "privacy.download_requested": _l("Asked for a download of their personal data"),
}


def ask(user: User, child: Child, details: str) -> DataRequest:
    now = utcnow()
    row = DataRequest(
        user_id=user.id,
        created_at=now,
        kind=RequestKind.CORRECTION,
        status=RequestStatus.OPEN,
        subject=child.subject,
        about=child.name,
        details=details,
        district_id=child.district_id,
        due_at=now + timedelta(hours=int(current_app.config["PRIVACY_ANSWER_HOURS"])),
    )
    db.session.add(row)
    db.session.flush()
    audit("privacy.correction_requested", row, actor_id=user.id, district_id=child.district_id)
    return row


def _scope(user: User):
    where = [DataRequest.kind.in_([RequestKind.CORRECTION, RequestKind.DELETION])]
    if user.role != Role.CITY_ADMIN:
        where.append(DataRequest.district_id == user.district_id)
    return where


def queue(user: User) -> list[DataRequest]:
    """Open requests first, earliest deadline first; then the last answered ones."""
    q = sa.select(DataRequest).where(*_scope(user))
    open_ = db.session.scalars(
        q.where(DataRequest.status == RequestStatus.OPEN).order_by(DataRequest.due_at, DataRequest.id)
    ).all()
    done = db.session.scalars(
        q.where(DataRequest.status != RequestStatus.OPEN).order_by(DataRequest.handled_at.desc()).limit(50)
    ).all()
    return [*open_, *done]


def in_scope(user: User, request_id: int) -> DataRequest | None:
    return db.session.scalar(sa.select(DataRequest).where(DataRequest.id == request_id, *_scope(user)))


def answer(row: DataRequest, actor: User, outcome: str, text: str) -> bool:
    """Record the office's answer; False when it was answered already (nothing written)."""
    if row.status != RequestStatus.OPEN or outcome not in (RequestStatus.DONE, RequestStatus.REFUSED):
        return False
    if row.kind == RequestKind.DELETION and outcome == RequestStatus.DONE:
        deletion.execute(row, actor)
        row.answer = text
        return True
    row.status, row.answer = outcome, text
    row.handled_by_id, row.handled_at = actor.id, utcnow()
    audit(f"privacy.{row.kind}_{outcome}", row, actor_id=actor.id, late=row.handled_at > row.due_at)
    return True


def mine(user_id: int) -> list[DataRequest]:
    return db.session.scalars(
        sa.select(DataRequest)
        .where(DataRequest.user_id == user_id, DataRequest.kind == RequestKind.CORRECTION)
        .order_by(DataRequest.created_at.desc())
    ).all()
