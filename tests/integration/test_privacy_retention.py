"""`flask --app app privacy retention [--dry-run]`: what is past its retention period is
counted (dry run: nothing changes) or removed, with the reason printed."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import PhoneCode, UserSession, utcnow
from app.notifications import notify
from app.notifications.models import Delivery, Notification
from app.privacy.models import DataRequest
from tests.factories import create_user


def _count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_retention_dry_run_then_for_real(app, runner):
    now = utcnow()
    parent = create_user("parent")
    jobs.commit()
    db.session.add_all(
        [
            UserSession(token_hash="a" * 64, user_id=parent.id, last_seen_at=now - timedelta(days=200)),
            UserSession(token_hash="b" * 64, user_id=parent.id, last_seen_at=now),
            PhoneCode(
                purpose="register", phone="0912000111", code_hash="x", expires_at=now - timedelta(days=40)
            ),
            PhoneCode(
                purpose="register", phone="0912000112", code_hash="y", expires_at=now + timedelta(minutes=5)
            ),
            DataRequest(user_id=parent.id, status="ready", content="{}", expires_at=now - timedelta(days=1)),
            DataRequest(user_id=parent.id, status="ready", content="{}", expires_at=now + timedelta(days=1)),
        ]
    )
    old = notify("announcement", [parent.id], {"title": "Cũ"})
    new = notify("announcement", [parent.id], {"title": "Mới"})
    old.created_at = now - timedelta(days=800)
    jobs.commit()
    old_id, new_id = old.id, new.id

    dry = runner.invoke(args=["privacy", "retention", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert "Dry run" in dry.output
    assert "       1  login sessions" in dry.output and "       1  one-time SMS codes" in dry.output
    assert "       1  notifications" in dry.output and "expired data downloads" in dry.output
    db.session.rollback()
    assert _count(UserSession) == 2 and _count(PhoneCode) == 2 and _count(Notification) == 2

    done = runner.invoke(args=["privacy", "retention"])
    assert done.exit_code == 0, done.output
    db.session.rollback()
    assert _count(UserSession) == 1 and _count(PhoneCode) == 1
    assert db.session.scalars(sa.select(Notification.id)).all() == [new_id]
    assert _count(Delivery, Delivery.notification_id == old_id) == 0
    assert _count(DataRequest, DataRequest.content.is_not(None)) == 1

    again = runner.invoke(args=["privacy", "retention"])
    assert "       0  login sessions" in again.output
