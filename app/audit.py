"""Audit log: record who did what to which record (ids only, never personal data)."""

from __future__ import annotations

import logging

from flask import has_request_context, request
from flask_login import current_user

from .extensions import db
from .models import AuditLog

log = logging.getLogger(__name__)

_FORBIDDEN_KEYS = {
    "name",
    "full_name",
    "phone",
    "email",
    "password",
    "personal_id",
    "address",
    "date_of_birth",
}


def audit(action: str, target=None, *, actor_id: int | None = None, **details) -> AuditLog:
    """Add an audit entry to the current transaction (flushed with it, committed at the boundary).

    `target` is a model instance (its table name and id are stored) or a (type, id) pair.
    `details` must hold ids, codes and counts: personal data is refused.
    """
    bad = _FORBIDDEN_KEYS.intersection(details)
    if bad:
        raise ValueError(f"personal data in audit details: {sorted(bad)}")
    target_type = target_id = None
    if isinstance(target, tuple):
        target_type, target_id = target
    elif target is not None:
        target_type, target_id = target.__tablename__, target.id
    if actor_id is None and has_request_context() and current_user and current_user.is_authenticated:
        actor_id = current_user.id
    entry = AuditLog(
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        actor_id=actor_id,
        ip=request.remote_addr if has_request_context() else None,
        details=details,
    )
    db.session.add(entry)
    log.info("audit %s %s:%s by %s", action, target_type, target_id, actor_id)
    return entry
