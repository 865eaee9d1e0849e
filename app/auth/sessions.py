"""The account's own login sessions: list them (the sessions page), end one, end all others.

A session is a `UserSession` row (services.py creates and loads them); the page shows its device
and the start of its address (devices.py), when it started and when it was last seen (moved at
most once a minute by `services.load_session`, so the page costs no write per request).
Functions flush only; the caller's boundary commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from ..audit import audit
from ..extensions import db
from ..models import User, UserSession
from .devices import device_label
from .services import _hash_token


@dataclass
class SessionLine:
    id: int
    device: str
    place: str
    started: datetime
    last_seen: datetime
    current: bool


def account_sessions(user: User) -> list[SessionLine]:
    """The account's sessions, this browser's first, then the most recently seen."""
    current = _hash_token(user.session_token) if user.session_token else None
    rows = db.session.scalars(
        sa.select(UserSession).where(UserSession.user_id == user.id).order_by(UserSession.last_seen_at.desc())
    ).all()
    lines = [
        SessionLine(
            s.id,
            device_label(s.user_agent),
            s.ip_prefix,
            s.created_at,
            s.last_seen_at,
            s.token_hash == current,
        )
        for s in rows
    ]
    return sorted(lines, key=lambda line: not line.current)


def end_one(user: User, session_id: int) -> bool:
    """End one of the account's other sessions; False when it is not one (gone, or not theirs)."""
    current = _hash_token(user.session_token) if user.session_token else ""
    ended = db.session.execute(
        sa.delete(UserSession).where(
            UserSession.id == session_id, UserSession.user_id == user.id, UserSession.token_hash != current
        )
    ).rowcount
    if ended:
        audit("user.session_ended", user, actor_id=user.id, session_id=session_id)
    return bool(ended)


def end_others(user: User) -> int:
    """End every session of the account but this browser's; the number ended."""
    current = _hash_token(user.session_token) if user.session_token else ""
    ended = db.session.execute(
        sa.delete(UserSession).where(UserSession.user_id == user.id, UserSession.token_hash != current)
    ).rowcount
    audit("user.sessions_ended", user, actor_id=user.id, count=ended)
    return ended
