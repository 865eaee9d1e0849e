"""Notification pages' queries: the inbox, preferences, the sender's report, failures.

Writing notifications is fanout.py (notify, notify_many); kinds are kinds.py.
"""

from __future__ import annotations

from datetime import datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import contains_eager, joinedload

from ..extensions import db
from ..models import OFFICER_ROLES, Role, School, User
from ..security import same_site_link
from . import reads, rules
from .kinds import KINDS
from .models import Delivery, Notification, NotificationPreference, NotificationSettings
from .settings import clock

# ---------------------------------------------------------------- inbox


def unread_count(user_id: int) -> int:
    """One COUNT on ix_delivery_inbox (recipient_id, channel, read_at)."""
    return (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(Delivery)
            .where(
                Delivery.recipient_id == user_id, Delivery.channel == rules.IN_APP, Delivery.read_at.is_(None)
            )
        )
        or 0
    )


def unread_count_column(user_id) -> sa.ScalarSelect:
    """unread_count as a scalar subquery on a user-id column (loaded with the login session)."""
    return (
        sa.select(sa.func.count())
        .select_from(Delivery)
        .where(Delivery.recipient_id == user_id, Delivery.channel == rules.IN_APP, Delivery.read_at.is_(None))
        .scalar_subquery()
    )


def inbox_page(user_id: int, page: int, per_page: int = 20) -> tuple[list[Delivery], bool]:
    q = (
        sa.select(Delivery)
        .join(Delivery.notification)
        .options(contains_eager(Delivery.notification).joinedload(Notification.school))
        .where(Delivery.recipient_id == user_id, Delivery.channel == rules.IN_APP)
        .order_by(Delivery.id.desc())
        .limit(per_page + 1)
        .offset((page - 1) * per_page)
    )
    rows = db.session.scalars(q).unique().all()
    return rows[:per_page], len(rows) > per_page


def inbox_item_or_none(user_id: int, delivery_id: int) -> Delivery | None:
    d = db.session.get(Delivery, delivery_id)
    if d is None or d.recipient_id != user_id or d.channel != rules.IN_APP:
        return None
    return d


def safe_link(url, public_url: str | None) -> str | None:
    """The notification's link if it leads to this site: a path here, or an address under
    PUBLIC_URL. Never another site (any other host, `//host`, `/\\host`, `javascript:`), even
    one planted through a forged Host header when the notification was written."""
    return same_site_link(url, public_url)


def mark_read(delivery: Delivery) -> None:
    """The recipient opened the inbox item: it is read, and so is what it is about (reads.py)."""
    if delivery.read_at is None:
        delivery.read_at = clock()
        reads.read_in_inbox(delivery.recipient_id, [delivery.notification.subject])


def mark_all_read(user_id: int) -> int:
    unread = (Delivery.recipient_id == user_id, Delivery.channel == rules.IN_APP, Delivery.read_at.is_(None))
    subjects = db.session.scalars(
        sa.select(Notification.subject)
        .distinct()
        .join(Delivery, Delivery.notification_id == Notification.id)
        .where(*unread, Notification.subject.is_not(None))
    ).all()
    result = db.session.execute(sa.update(Delivery).where(*unread).values(read_at=clock()))
    reads.read_in_inbox(user_id, subjects)
    return result.rowcount or 0


# ---------------------------------------------------------------- preferences


def preferences_for(user_id: int) -> tuple[dict[str, rules.Preference], rules.Settings]:
    prefs = {
        p.kind: rules.Preference(p.email, p.sms, p.digest, p.push)
        for p in db.session.scalars(
            sa.select(NotificationPreference).where(NotificationPreference.user_id == user_id)
        )
    }
    for name, kind in KINDS.items():
        prefs.setdefault(name, rules.Preference(email=rules.EMAIL in kind.channels))
    s = db.session.get(NotificationSettings, user_id)
    return prefs, (s.as_rules() if s else rules.DEFAULT_SETTINGS)


def preferences_from_form(form) -> dict[str, rules.Preference]:
    """The per-kind checkboxes of the preferences form (email_, digest_, sms_, push_<kind>).
    SMS can be switched off only for urgent kinds: otherwise it is the fallback for a guardian no
    free channel reaches, and that cannot be refused."""
    return {
        name: rules.Preference(
            email=bool(form.get(f"email_{name}")),
            sms=bool(form.get(f"sms_{name}")) if kind.urgent else True,
            digest=bool(form.get(f"digest_{name}")) and kind.digestible and not kind.urgent,
            push=bool(form.get(f"push_{name}")),
        )
        for name, kind in KINDS.items()
    }


def save_preferences(
    user_id: int,
    prefs: dict[str, rules.Preference],
    *,
    quiet_enabled: bool,
    quiet_start: time,
    quiet_end: time,
    digest_at: time,
) -> None:
    existing = {
        p.kind: p
        for p in db.session.scalars(
            sa.select(NotificationPreference).where(NotificationPreference.user_id == user_id)
        )
    }
    for kind, pref in prefs.items():
        if kind not in KINDS:
            continue
        row = existing.get(kind) or NotificationPreference(user_id=user_id, kind=kind)
        row.email, row.sms, row.digest, row.push = pref.email, pref.sms, pref.digest, pref.push
        db.session.add(row)
    s = db.session.get(NotificationSettings, user_id) or NotificationSettings(user_id=user_id)
    s.quiet_enabled, s.quiet_start, s.quiet_end, s.digest_at = (
        quiet_enabled,
        quiet_start,
        quiet_end,
        digest_at,
    )
    db.session.add(s)
    db.session.flush()


# ---------------------------------------------------------------- sender report


def can_see_report(user: User, n: Notification) -> bool:
    """The sender, staff of the notification's school, officers of its district, city admins."""
    if user.role == Role.CITY_ADMIN or (n.sender_id is not None and n.sender_id == user.id):
        return True
    if n.school_id is None:
        return False
    if user.role in (Role.SCHOOL_STAFF, Role.TEACHER):
        return user.school_id == n.school_id and user.role == Role.SCHOOL_STAFF
    if user.role in OFFICER_ROLES:
        school = db.session.get(School, n.school_id)
        return school is not None and user.district_id == school.district_id
    return False


def report_counts(notification_id: int) -> dict:
    """Counts per channel and status plus read receipts: {"total", "done", "read", "channels": {...}}.

    Also what a stopped sender left: "interrupted" = messages whose sending job stopped (a
    worker killed) and that another job took over; "possibly_twice" = messages sent after an
    attempt whose outcome is unknown (the mail server may have received both copies, with the
    same Message-ID) — never more than one message per interruption (docs/notifications.md)."""
    q = (
        sa.select(
            Delivery.channel,
            Delivery.status,
            sa.func.count(),
            sa.func.count(Delivery.read_at),
            sa.func.count(sa.case((Delivery.takeovers > 0, 1))),
            sa.func.count(sa.case((Delivery.lost_attempts > 0, 1))),
        )
        .where(Delivery.notification_id == notification_id)
        .group_by(Delivery.channel, Delivery.status)
    )
    channels: dict[str, dict[str, int]] = {}
    total = done = read = interrupted = possibly_twice = 0
    for channel, status, count, read_count, taken_over, lost in db.session.execute(q):
        c = channels.setdefault(channel, dict.fromkeys(rules.STATUSES, 0))
        c[status] += count
        total += count
        if status in (rules.SENT, rules.FAILED):
            done += count
        read += read_count
        interrupted += taken_over
        if status == rules.SENT:
            possibly_twice += lost
    summary = dict.fromkeys(rules.STATUSES, 0)
    for c in channels.values():
        for k, v in c.items():
            summary[k] += v
    # queued = still waiting, including claimed ('sending') rows
    summary["queued"] += summary.pop("sending")
    # Of those, the ones held on purpose: quiet hours, a daily summary, a retry after an error.
    held, next_at = (
        db.session.execute(
            sa.select(sa.func.count(), sa.func.min(Delivery.not_before)).where(
                Delivery.notification_id == notification_id,
                Delivery.status == rules.QUEUED,
                Delivery.not_before > clock(),
            )
        ).one()
        if summary["queued"]
        else (0, None)
    )
    return {
        "families": family_counts(notification_id),
        "total": total,
        "done": done,
        "read": read,
        "percent": int(100 * done / total) if total else 100,
        "finished": total == done,
        **summary,
        "held": held,
        "next_at": next_at,
        "interrupted": interrupted,
        "possibly_twice": possibly_twice,
        "channels": channels,
    }


def family_counts(notification_id: int) -> dict[str, int]:
    """Per recipient (a family), not per channel, in one statement: "total"; "sent" = every one
    of their messages has left (the in-app copy is one); "waiting" = some still wait (quiet hours,
    a summary, a retry, the queue); "failed" = at least one could not be delivered; "read" = they
    opened the inbox item or what it is about (reads.py: the area's own read report agrees)."""
    per_family = (
        sa.select(
            Delivery.recipient_id,
            sa.func.max(sa.case((Delivery.status.in_((rules.QUEUED, rules.SENDING)), 1), else_=0)).label(
                "waiting"
            ),
            sa.func.max(sa.case((Delivery.status == rules.FAILED, 1), else_=0)).label("failed"),
            sa.func.max(
                sa.case(((Delivery.channel == rules.IN_APP) & Delivery.read_at.is_not(None), 1), else_=0)
            ).label("read"),
        )
        .where(Delivery.notification_id == notification_id)
        .group_by(Delivery.recipient_id)
        .subquery()
    )
    total, waiting, failed, read = db.session.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(per_family.c.waiting), 0),
            sa.func.coalesce(sa.func.sum(per_family.c.failed), 0),
            sa.func.coalesce(sa.func.sum(per_family.c.read), 0),
        ).select_from(per_family)
    ).one()
    total, waiting, failed, read = int(total), int(waiting), int(failed), int(read)
    return {"total": total, "sent": total - waiting, "waiting": waiting, "failed": failed, "read": read}


def failed_deliveries(notification_id: int | None = None, limit: int = 50) -> list[Delivery]:
    q = (
        sa.select(Delivery)
        .options(joinedload(Delivery.recipient), joinedload(Delivery.notification))
        .where(Delivery.status == rules.FAILED)
        .order_by(Delivery.id.desc())
        .limit(limit)
    )
    if notification_id is not None:
        q = q.where(Delivery.notification_id == notification_id)
    return list(db.session.scalars(q))


def sms_counts_by_school(since: datetime | None = None) -> list[tuple[int | None, str | None, int]]:
    """SMS sent per school (paid channel accounting): [(school_id, school name, count)]."""
    q = (
        sa.select(Notification.school_id, School.name, sa.func.count(Delivery.id))
        .select_from(Delivery)
        .join(Notification, Delivery.notification_id == Notification.id)
        .outerjoin(School, School.id == Notification.school_id)
        .where(Delivery.channel == rules.SMS, Delivery.status == rules.SENT)
        .group_by(Notification.school_id, School.name)
        .order_by(sa.func.count(Delivery.id).desc())
    )
    if since is not None:
        q = q.where(Delivery.sent_at >= since)
    return [tuple(r) for r in db.session.execute(q)]


def sms_saved_by_school(since: datetime | None = None) -> list[tuple[int | None, str | None, int]]:
    """SMS that push saved per school: recipients who would have had the SMS fallback but were
    reached by push (Notification.sms_saved) — [(school_id, school name, count)]."""
    total = sa.func.sum(Notification.sms_saved)
    q = (
        sa.select(Notification.school_id, School.name, total)
        .outerjoin(School, School.id == Notification.school_id)
        .where(Notification.sms_saved > 0)
        .group_by(Notification.school_id, School.name)
        .order_by(total.desc())
    )
    if since is not None:
        q = q.where(Notification.created_at >= since)
    return [(sid, name, int(count)) for sid, name, count in db.session.execute(q)]


def sms_sent_and_saved_by_school() -> list[tuple[int | None, str | None, int, int]]:
    """[(school_id, school name, SMS sent, SMS saved by push)], most SMS sent first: the schools
    where push spared every SMS are listed too."""
    rows = {sid: [sid, name, count, 0] for sid, name, count in sms_counts_by_school()}
    for sid, name, saved in sms_saved_by_school():
        rows.setdefault(sid, [sid, name, 0, 0])[3] = saved
    return sorted((tuple(r) for r in rows.values()), key=lambda r: (-r[2], -r[3], r[1] or ""))


def visible_notifications(user: User, limit: int = 50) -> list[Notification]:
    """Notifications whose report `user` may open, newest first."""
    q = (
        sa.select(Notification)
        .options(joinedload(Notification.school))
        .order_by(Notification.id.desc())
        .limit(limit)
    )
    if user.role == Role.CITY_ADMIN:
        return list(db.session.scalars(q))
    conds = [Notification.sender_id == user.id]
    if user.role == Role.SCHOOL_STAFF and user.school_id:
        conds.append(Notification.school_id == user.school_id)
    if user.role == Role.DISTRICT_OFFICER and user.district_id:
        conds.append(
            Notification.school_id.in_(sa.select(School.id).where(School.district_id == user.district_id))
        )
    return list(db.session.scalars(q.where(sa.or_(*conds))))
