"""One notion of read: an inbox item and the thing it is about are read together.

A notification written with `subject="<thing>:<id>"` ("announcement:12", "thread:7") is about
something an area shows on its own page. Two directions, and the platform names no area:

- the area's page was read (a family opens or acknowledges the announcement, a teacher reads
  the thread): the area calls `mark_read_for(user_id, subject)` and the recipient's inbox items
  about it are read (one UPDATE on ix_notification_subject and the delivery's unique key);
- the inbox item was opened, or "mark all as read" was pressed: the platform calls the hook the
  area registered for the subject's thing (`register_read_hook("announcement", fn)`, from the
  area's register(app)) with the user and the ids, in the same transaction.

So the sender's delivery report ("Read") and the area's own read report count the same families.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

import sqlalchemy as sa
from flask import g, has_request_context

from ..extensions import db
from . import rules
from .models import Delivery, Notification
from .settings import clock

ReadHook = Callable[[int, list[int]], None]
_HOOKS: dict[str, ReadHook] = {}


def subject_key(thing: str, thing_id: int) -> str:
    """The subject of a notification about one thing: "announcement:12"."""
    return f"{thing}:{int(thing_id)}"


def register_read_hook(thing: str, hook: ReadHook) -> None:
    """`hook(user_id, [ids])` marks the area's things read when their inbox items are read."""
    _HOOKS[thing] = hook


def mark_read_for(user_id: int, subject: str) -> int:
    """The user read `subject` where the area shows it: their unread inbox items about it are
    read now. Returns how many were."""
    result = db.session.execute(
        sa.update(Delivery)
        .where(
            Delivery.notification_id.in_(sa.select(Notification.id).where(Notification.subject == subject)),
            Delivery.recipient_id == user_id,
            Delivery.channel == rules.IN_APP,
            Delivery.read_at.is_(None),
        )
        .values(read_at=clock())
        .execution_options(synchronize_session=False)
    )
    count = result.rowcount or 0
    if count and has_request_context():
        # The header's unread badge was loaded with the login session, before this: it follows.
        g.pop("notifications_unread", None)
        loaded = g.get("session_columns")
        if isinstance(loaded, dict) and loaded.get("notifications_unread"):
            loaded["notifications_unread"] = max(0, loaded["notifications_unread"] - count)
    return count


def read_in_inbox(user_id: int, subjects: Iterable[str | None]) -> None:
    """Inbox items about these subjects were read: tell the areas (one call per kind of thing)."""
    ids: dict[str, set[int]] = {}
    for subject in subjects:
        thing, _sep, raw = (subject or "").partition(":")
        if thing in _HOOKS and raw.isdigit():
            ids.setdefault(thing, set()).add(int(raw))
    for thing, found in ids.items():
        _HOOKS[thing](user_id, sorted(found))


def notification_ids_for(subject: str) -> list[int]:
    """The notifications about `subject`, newest first (the area links to their delivery report)."""
    return list(
        db.session.scalars(
            sa.select(Notification.id).where(Notification.subject == subject).order_by(Notification.id.desc())
        )
    )
