"""Audit log: record who did what to which record (ids only, never personal data), and say it in
the reader's language (`describe`): the platform and each area register the words for their
actions, records, detail fields and coded values (`register_wording`); a change is shown as
before → after."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from flask import has_request_context, request
from flask_babel import format_datetime, gettext
from flask_login import current_user

from .extensions import db
from .models import AuditLog, utcnow

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
    entry = AuditLog(**_entry(action, target, actor_id, details))
    db.session.add(entry)
    return entry


def audit_now(action: str, target=None, *, actor_id: int | None = None, **details) -> None:
    """`audit`, written at once with one INSERT on the transaction's connection (no ORM object:
    the login writes its entry this way). What the session holds is flushed first, so the
    entries keep the order in which they were made."""
    row = audit_entry(action, target, actor_id=actor_id, **details)
    db.session.flush()
    db.session.connection().execute(AUDIT_INSERT, row)


AUDIT_INSERT = sa.insert(AuditLog.__table__)  # built once


def audit_entry(action: str, target=None, *, actor_id: int | None = None, **details) -> dict:
    """The columns of an audit entry, for a caller that writes it in a statement of its own
    (with the time it is made: `at`)."""
    return {**_entry(action, target, actor_id, details), "at": utcnow()}


def _entry(action: str, target, actor_id: int | None, details: dict) -> dict:
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
    log.info("audit %s %s:%s by %s", action, target_type, target_id, actor_id)
    return {
        "action": action,
        "target_type": target_type,
        "target_id": None if target_id is None else str(target_id),
        "actor_id": actor_id,
        "ip": request.remote_addr if has_request_context() else None,
        "details": details,
    }


# ---- wording: the log in the reader's language ----------------------------------------------------

_ACTIONS: dict[str, object] = {}  # action -> lazy text ("The office published a round")
_TARGETS: dict[str, object] = {}  # table name -> lazy text ("Application")
_FIELDS: dict[str, object] = {}  # detail key -> lazy text ("School")
_VALUES: dict[str, dict[str, object]] = {}  # detail key -> coded value -> lazy text
_ISO = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def register_wording(
    *,
    actions: dict | None = None,
    targets: dict | None = None,
    fields: dict | None = None,
    values: dict[str, dict] | None = None,
) -> None:
    """Words for the audit page (lazy_gettext strings; called from each area's register(app))."""
    _ACTIONS.update(actions or {})
    _TARGETS.update(targets or {})
    _FIELDS.update(fields or {})
    for key, mapping in (values or {}).items():
        _VALUES.setdefault(key, {}).update(mapping)


def audit_time(value: datetime | None) -> str | None:
    """A time for `details` (JSON): ISO in UTC, shown in local time by `describe`."""
    return value.isoformat(timespec="minutes") if value is not None else None


def _field_label(key: str) -> str:
    label = _FIELDS.get(key)
    if label is not None:
        return str(label)
    if "." in key:  # "grade1.closes_at": a value's label, then the field's
        head, tail = key.split(".", 1)
        head_label = _VALUES.get("level", {}).get(head)
        return f"{head_label or head}: {_field_label(tail)}"
    return key


def _value(key: str, value) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, str):
        words = _VALUES.get(key.rsplit(".", 1)[-1], {})
        if value in words:
            return str(words[value])
        if _ISO.match(value):
            return format_datetime(datetime.fromisoformat(value), "HH:mm dd/MM/yyyy")
        return value
    if isinstance(value, dict):
        return ", ".join(f"{_field_label(k)}: {_value(k, v)}" for k, v in value.items())
    if isinstance(value, list):
        return ", ".join(_value(key, v) for v in value)
    return str(value)


@dataclass
class AuditLine:
    """One entry as a person reads it."""

    entry: AuditLog
    what: str
    record: str
    details: list[tuple[str, str]] = field(default_factory=list)  # (label, "before → after" or value)


def describe(entry: AuditLog) -> AuditLine:
    """The entry in the reader's language: the action's words (the code itself when none is
    registered), the record, and each detail with its label; `before_x`/`x` pairs, `before`/`after`
    and `changes` ([{field, before, after}]) read as before → after."""
    action = _ACTIONS.get(entry.action)
    what = str(action) if action is not None else entry.action
    target = _TARGETS.get(entry.target_type or "")
    record = ""
    if entry.target_type:
        record = f"{target if target is not None else entry.target_type}"
        if entry.target_id:
            record += f" #{entry.target_id}"
    details = dict(entry.details or {})
    lines: list[tuple[str, str]] = []
    for change in details.pop("changes", None) or []:
        key = change.get("field", "")
        lines.append(
            (_field_label(key), f"{_value(key, change.get('before'))} → {_value(key, change.get('after'))}")
        )
    if "before" in details and "after" in details:
        lines.append(
            (gettext("Value"), f"{_value('', details.pop('before'))} → {_value('', details.pop('after'))}")
        )
    for key in [k for k in details if k.startswith("before_")]:
        name = key[len("before_") :]
        if name in details:
            before, after = details.pop(key), details.pop(name)
            lines.append((_field_label(name), f"{_value(name, before)} → {_value(name, after)}"))
    for key, value in details.items():
        lines.append((_field_label(key), _value(key, value)))
    return AuditLine(entry, what, record, lines)


def action_words(action: str) -> str:
    """An action's words in the reader's language (the code itself when none is registered)."""
    words = _ACTIONS.get(action)
    return str(words) if words is not None else action
