"""`flask --app app privacy retention [--dry-run]`: what is past its retention period is
counted (dry run: nothing changes) or removed, with the reason printed."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from admissions.models import Application, ApplicationChoice, Child, ParentChild, RosterEntry
from app import jobs
from app.extensions import db
from app.models import PhoneCode, UserSession, utcnow
from app.notifications import notify
from app.notifications.models import Delivery, Notification
from app.privacy.models import DataRequest
from tests.admissions_factories import (
    add_child_for,
    create_application,
    create_area,
    create_roster_entry,
    create_season,
    level_of,
)
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


def _old(row, years: int = 7):
    for attr in ("created_at", "imported_at"):
        if hasattr(row, attr):
            setattr(row, attr, utcnow() - timedelta(days=365 * years))


def test_admission_records_go_after_their_retention_period(app, world, runner):
    """Kept PRIVACY_ADMISSION_RECORD_YEARS (5) years from the start of the school year they were
    for: then the child, its applications, choices and links to parents go; the roster's old
    entries no child came from go too. A child with a recent application stays whole."""
    parent = world["users"]["parent"]
    area = create_area(world["districts"][0], n_children=0)
    old_season = create_season(year=utcnow().year - 7, open_level=None)
    new_season = create_season(open_level=None)
    gone_entry, kept_entry, fresh_entry = (create_roster_entry(area.ward) for _ in range(3))
    old_unused, new_unused = create_roster_entry(area.ward), create_roster_entry(area.ward)
    gone = add_child_for(parent, gone_entry)
    kept = add_child_for(parent, kept_entry)  # registered long ago, applied again this year
    fresh = add_child_for(parent, fresh_entry)  # registered this year, no application yet
    gone_app = create_application(gone, level_of(old_season), parent, choices=[area.home])
    kept_old_app = create_application(kept, level_of(old_season), parent, choices=[area.home])
    kept_new_app = create_application(kept, level_of(new_season), parent, choices=[area.home])
    for row in (gone, kept, gone_entry, kept_entry, old_unused):
        _old(row)
    jobs.commit()
    ids = {"gone": gone.id, "kept": kept.id, "fresh": fresh.id, "gone_app": gone_app.id}
    entries = {"gone": gone_entry.id, "old_unused": old_unused.id}
    all_children, all_apps, all_entries = _count(Child), _count(Application), _count(RosterEntry)

    dry = runner.invoke(args=["privacy", "retention", "--dry-run"])
    assert dry.exit_code == 0, dry.output
    assert (
        "       1  admission records: children (for school years that started more than 5 years ago"
        in dry.output
    )
    assert "       1  admission records: applications and their results" in dry.output
    assert "       2  residency roster entries (imported more than 5 years ago" in dry.output
    db.session.rollback()
    assert (_count(Child), _count(Application), _count(RosterEntry)) == (all_children, all_apps, all_entries)

    done = runner.invoke(args=["privacy", "retention"])
    assert done.exit_code == 0, done.output
    assert "       1  admission records: children" in done.output
    db.session.rollback()
    assert _count(Child, Child.id == ids["gone"]) == 0
    assert _count(Application, Application.id == ids["gone_app"]) == 0
    assert _count(ApplicationChoice, ApplicationChoice.application_id == ids["gone_app"]) == 0
    assert _count(ParentChild, ParentChild.child_id == ids["gone"]) == 0
    assert _count(RosterEntry, RosterEntry.id.in_(entries.values())) == 0
    assert _count(Child) == all_children - 1 and _count(Application) == all_apps - 1
    assert _count(RosterEntry) == all_entries - 2
    remaining = set(db.session.scalars(sa.select(Application.id).where(Application.child_id == ids["kept"])))
    assert remaining == {kept_old_app.id, kept_new_app.id}
    assert _count(Child, Child.id == ids["fresh"]) == 1
    assert _count(RosterEntry, RosterEntry.id == new_unused.id) == 1

    again = runner.invoke(args=["privacy", "retention"])
    assert "       0  admission records: children" in again.output


def test_retention_period_of_admission_records_is_the_setting(app, world, runner):
    """A longer period in the config keeps the same records."""
    parent = world["users"]["parent"]
    area = create_area(world["districts"][0], n_children=0)
    old_season = create_season(year=utcnow().year - 7, open_level=None)
    entry = create_roster_entry(area.ward)
    child = add_child_for(parent, entry)
    create_application(child, level_of(old_season), parent, choices=[area.home])
    _old(child), _old(entry)
    jobs.commit()
    app.config["PRIVACY_ADMISSION_RECORD_YEARS"] = 10
    out = runner.invoke(args=["privacy", "retention"]).output
    assert (
        "       0  admission records: children (for school years that started more than 10 years ago" in out
    )
    db.session.rollback()
    assert _count(Child, Child.id == child.id) == 1
