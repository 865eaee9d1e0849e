"""Notification service: the transactional outbox, kinds, preferences, inbox and reports.

`notify()` adds the notification and its deliveries to the caller's transaction (flush only) and
queues the fan-out jobs for after the commit; see the package docstring for the contract.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime, time

import sqlalchemy as sa
from flask import current_app
from flask_babel import lazy_gettext as _l

from .. import jobs
from ..extensions import db
from ..models import OFFICER_ROLES, Role, School, User, utcnow
from . import rules
from .models import Delivery, Notification, NotificationPreference, NotificationSettings

log = logging.getLogger(__name__)

KINDS: dict[str, rules.Kind] = {}
KIND_LABELS: dict[str, object] = {}
IN_CHUNK = 5000  # ids per IN (...) list


class NotifyError(ValueError):
    """A caller passed an unknown kind or an incomplete context (a programming error)."""


def register_kind(
    name: str,
    label,
    *,
    urgent: bool = False,
    about_child: bool = False,
    email: bool = True,
    digestible: bool = True,
    quiet_hours: bool = True,
) -> rules.Kind:
    """Declare a kind of notification (areas call this at import time for their own kinds)."""
    channels = (rules.IN_APP, rules.EMAIL) if email else (rules.IN_APP,)
    kind = rules.Kind(
        name,
        urgent=urgent,
        about_child=about_child,
        channels=channels,
        digestible=digestible,
        quiet_hours=quiet_hours,
    )
    KINDS[name] = kind
    KIND_LABELS[name] = label
    return kind


register_kind("announcement", _l("School and office announcements"))
register_kind("admission", _l("Admissions: applications and results"), about_child=True)
register_kind("contact_book", _l("Contact book: grades, comments, attendance"), about_child=True)
register_kind("message", _l("Messages from teachers"), about_child=True)
register_kind("emergency", _l("Emergencies (school closures, safety)"), urgent=True, digestible=False)
# A test goes to the sender only, who wants to see it arrive now (not at 06:30, not in a summary).
register_kind("test", _l("Test notifications"), digestible=False, quiet_hours=False)


def clock() -> datetime:
    """Now, naive UTC. Tests freeze it with app.config["NOTIFY_CLOCK"] = lambda: datetime(...)."""
    fn = current_app.config.get("NOTIFY_CLOCK")
    return fn() if fn else utcnow()


def _setting(name: str, default):
    return current_app.config.get(name, default)


def chunk_size() -> int:
    return int(_setting("NOTIFY_CHUNK_SIZE", 500))


def _id_filters(column, ids: list[int]) -> Iterable:
    """WHERE column is one of ids: one `= ANY(array)` parameter on PostgreSQL (100,000 ids in a
    single statement), IN lists of 5,000 elsewhere."""
    if db.session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import ARRAY

        if ids:
            yield column == sa.any_(sa.bindparam(None, ids, type_=ARRAY(sa.Integer)))
        return
    for i in range(0, len(ids), IN_CHUNK):
        yield column.in_(ids[i : i + IN_CHUNK])


def _clean_context(kind: rules.Kind, context: dict) -> dict:
    if not isinstance(context, dict):
        raise NotifyError("context must be a dict")
    # A title and a child's name are one line: they become an email Subject header (a line
    # break there would make every email of the notification unsendable) and an SMS.
    title = _one_line(context.get("title"))
    if not title:
        raise NotifyError("context needs a 'title'")
    child_name = _one_line(context.get("child_name"))
    if kind.about_child and not child_name:
        raise NotifyError(f"kind {kind.name!r} is about a child: context needs 'child_name'")
    context = {**context, "title": title}
    if "child_name" in context:
        context["child_name"] = child_name or None
    try:
        return json.loads(json.dumps(context))
    except (TypeError, ValueError) as err:
        raise NotifyError(f"context must be JSON: {err}") from err


def _one_line(value) -> str:
    return " ".join(str(value or "").split())


def notify(
    kind: str,
    recipients: Iterable[int],
    context: dict,
    *,
    sender_id: int | None = None,
    school_id: int | None = None,
    urgent: bool | None = None,
) -> Notification:
    """Write a notification and its deliveries into the current transaction; fan out after commit.

    Returns the flushed Notification (its id is the report's key). Nothing is sent if the
    caller's transaction rolls back. Raises NotifyError for an unknown kind or a bad context.
    """
    return notify_many(
        kind, [(recipients, context)], sender_id=sender_id, school_id=school_id, urgent=urgent
    )[0]


def notify_many(
    kind: str,
    messages: Iterable[tuple[Iterable[int], dict]],
    *,
    sender_id: int | None = None,
    school_id: int | None = None,
    urgent: bool | None = None,
) -> list[Notification]:
    """Several notifications of one kind at once, e.g. one per child naming the child: the same as
    calling notify() for each ``(recipients, context)`` pair, in a fixed number of queries and jobs
    for the whole batch (a round's results for 20,000 children)."""
    spec = KINDS.get(kind)
    if spec is None:
        raise NotifyError(f"unknown notification kind {kind!r}; call register_kind() first")
    urgent = spec.urgent if urgent is None else bool(urgent)
    prepared = [
        (sorted({int(r) for r in recipients}), _clean_context(spec, context))
        for recipients, context in messages
    ]
    if not prepared:
        return []
    now = clock()
    notes = [
        Notification(
            kind=kind,
            sender_id=sender_id,
            school_id=school_id,
            urgent=urgent,
            context=context,
            recipient_count=0,
            created_at=now,
        )
        for _ids, context in prepared
    ]
    db.session.add_all(notes)
    db.session.flush()

    everyone = sorted({uid for ids, _context in prepared for uid in ids})
    people = _load_recipients(everyone)
    prefs = _load_preferences(list(people), kind)
    settings = _load_settings(list(people))
    tz = _setting("BABEL_DEFAULT_TIMEZONE", rules.DEFAULT_TZ)
    in_process = jobs.redis_connection() is None
    rows = []
    # The plan depends only on which addresses a recipient has and on their settings, so it is
    # computed once per distinct shape (a school notice: a handful of shapes for 100,000 people).
    shapes: dict[tuple, list[tuple]] = {}
    for n, (ids, _context) in zip(notes, prepared, strict=True):
        reached = 0
        for uid in ids:
            person = people.get(uid)
            if person is None:
                continue
            reached += 1
            pref, setting = prefs.get(uid), settings.get(uid)
            key = (bool(person.email), bool(person.phone), person.uses_app, pref, setting)
            templates = shapes.get(key)
            if templates is None:
                templates = shapes[key] = [
                    _row_template(plan, now, in_process)
                    for plan in rules.plan_channels(
                        spec, person, pref, setting, urgent=urgent, now_utc=now, tz=tz
                    )
                ]
            for channel, status, digest, not_before, scheduled, sent_at in templates:
                rows.append((n.id, uid, channel, status, digest, not_before, scheduled, sent_at))
        n.recipient_count = reached
    bulk_insert_deliveries(rows)
    _enqueue_outbox([n.id for n in notes])
    return notes


def _row_template(plan: rules.Plan, now: datetime, in_process: bool) -> tuple:
    """(channel, status, digest, not_before, enqueued_at, sent_at) of one planned delivery."""
    if plan.channel == rules.IN_APP:
        return (plan.channel, rules.SENT, False, None, None, now)  # the row is the message
    # enqueued_at = when a job is due to pick the row up (the relay's yardstick); in-process
    # nothing is scheduled ahead, so deferred rows wait for the relay.
    scheduled = now if plan.not_before is None else (None if in_process else plan.not_before)
    return (plan.channel, rules.QUEUED, plan.digest, plan.not_before, scheduled, None)


def _load_recipients(ids: list[int]) -> dict[int, rules.Recipient]:
    out: dict[int, rules.Recipient] = {}
    for where in _id_filters(User.id, ids):
        q = sa.select(User.id, User.email, User.phone, User.last_login_at).where(where, User.active.is_(True))
        for uid, email, phone, last_login in db.session.execute(q):
            out[uid] = rules.Recipient(uid, email, phone, last_login is not None)
    return out


def _load_preferences(ids: list[int], kind: str) -> dict[int, rules.Preference]:
    out = {}
    for where in _id_filters(NotificationPreference.user_id, ids):
        q = sa.select(
            NotificationPreference.user_id,
            NotificationPreference.email,
            NotificationPreference.sms,
            NotificationPreference.digest,
        ).where(NotificationPreference.kind == kind, where)
        for uid, email, sms, digest in db.session.execute(q):
            out[uid] = rules.Preference(email, sms, digest)
    return out


def _load_settings(ids: list[int]) -> dict[int, rules.Settings]:
    out = {}
    for where in _id_filters(NotificationSettings.user_id, ids):
        for s in db.session.scalars(sa.select(NotificationSettings).where(where)):
            out[s.user_id] = s.as_rules()
    return out


_COLUMNS = (
    "notification_id",
    "recipient_id",
    "channel",
    "status",
    "digest",
    "not_before",
    "enqueued_at",
    "sent_at",
)


def bulk_insert_deliveries(rows: list[tuple]) -> None:
    """Insert outbox rows in the session's transaction: COPY on PostgreSQL, executemany elsewhere."""
    if not rows:
        return
    conn = db.session.connection()
    if conn.dialect.name == "postgresql":
        # COPY in text format, the lines built here (faster than adapting 200,000 rows one by
        # one); the few distinct timestamps of one notification are formatted once.
        stamps: dict = {None: "\\N"}

        def ts(v):
            text = stamps.get(v)
            if text is None:
                text = stamps[v] = v.isoformat(" ")
            return text

        def line(r):
            return f"{r[0]}\t{r[1]}\t{r[2]}\t{r[3]}\t{'t' if r[4] else 'f'}\t{ts(r[5])}\t{ts(r[6])}\t{ts(r[7])}\t0\n"

        raw = conn.connection.driver_connection
        with (
            raw.cursor() as cur,
            cur.copy(f"COPY delivery ({', '.join(_COLUMNS)}, attempts) FROM STDIN") as copy,
        ):
            for i in range(0, len(rows), 20000):
                copy.write("".join(map(line, rows[i : i + 20000])))
        return
    table = Delivery.__table__
    for i in range(0, len(rows), 10000):
        conn.execute(
            table.insert(), [dict(zip(_COLUMNS, r, strict=True), attempts=0) for r in rows[i : i + 10000]]
        )


def _enqueue_outbox(notification_ids: list[int]) -> None:
    """Queue the fan-out jobs of notifications for after the commit (chunks of delivery ids)."""
    from . import tasks

    now_ids: list[int] = []
    later: dict[datetime, list[int]] = defaultdict(list)
    digests: dict[datetime, set[int]] = defaultdict(set)
    for where in _id_filters(Delivery.notification_id, notification_ids):
        q = sa.select(Delivery.id, Delivery.digest, Delivery.not_before, Delivery.recipient_id).where(
            where, Delivery.status == rules.QUEUED
        )
        for did, digest, not_before, recipient_id in db.session.execute(q):
            if digest:
                digests[not_before].add(recipient_id)
            elif not_before is None:
                now_ids.append(did)
            else:
                later[not_before].append(did)
    now_ids.sort()
    for ids in later.values():
        ids.sort()
    size = chunk_size()
    # Redis down after the commit: the request still succeeds and the rows are marked as not
    # handed to a job, so the next relay pass (workers' relay job, web processes, the command)
    # takes them as soon as they are due.
    jobs.enqueue_many_after_commit(
        tasks.send_deliveries,
        [[c] for c in rules.chunks(now_ids, size)],
        recoverable=True,
        on_failure=tasks.deliveries_not_enqueued,
    )
    if jobs.redis_connection() is None:
        return  # in-process: deferred and digest rows are sent by the relay when due
    for at, ids in later.items():
        jobs.enqueue_many_after_commit(
            tasks.send_deliveries,
            [[c] for c in rules.chunks(ids, size)],
            at=at,
            recoverable=True,
            on_failure=tasks.deliveries_not_enqueued,
        )
    for at, people in digests.items():
        jobs.enqueue_many_after_commit(
            tasks.send_digests,
            [[c] for c in rules.chunks(sorted(people), size)],
            at=at,
            recoverable=True,
            on_failure=tasks.digests_not_enqueued,
        )


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


def inbox_page(user_id: int, page: int, per_page: int = 20) -> tuple[list[Delivery], bool]:
    from sqlalchemy.orm import contains_eager

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


def safe_link(url, host_url: str) -> str | None:
    """The notification's link if it is safe to show: https, this site (same scheme and host,
    e.g. the demo over http) or a path here; never another site through `//host` or `/\\host`."""
    if not isinstance(url, str) or not url or any(ch in url for ch in "\r\n\t"):
        return None
    if url.startswith("https://") or url.startswith(host_url):
        return url
    if url.startswith("/") and not url.startswith(("//", "/\\")):
        return url
    return None


def mark_read(delivery: Delivery) -> None:
    if delivery.read_at is None:
        delivery.read_at = clock()


def mark_all_read(user_id: int) -> int:
    result = db.session.execute(
        sa.update(Delivery)
        .where(Delivery.recipient_id == user_id, Delivery.channel == rules.IN_APP, Delivery.read_at.is_(None))
        .values(read_at=clock())
    )
    return result.rowcount or 0


# ---------------------------------------------------------------- preferences


def preferences_for(user_id: int) -> tuple[dict[str, rules.Preference], rules.Settings]:
    prefs = {
        p.kind: rules.Preference(p.email, p.sms, p.digest)
        for p in db.session.scalars(
            sa.select(NotificationPreference).where(NotificationPreference.user_id == user_id)
        )
    }
    for name, kind in KINDS.items():
        prefs.setdefault(name, rules.Preference(email=rules.EMAIL in kind.channels))
    s = db.session.get(NotificationSettings, user_id)
    return prefs, (s.as_rules() if s else rules.DEFAULT_SETTINGS)


def preferences_from_form(form) -> dict[str, rules.Preference]:
    """The per-kind checkboxes of the preferences form (email_<kind>, digest_<kind>, sms_<kind>).
    SMS can be switched off only for urgent kinds: otherwise it is the fallback for a guardian no
    free channel reaches, and that cannot be refused."""
    return {
        name: rules.Preference(
            email=bool(form.get(f"email_{name}")),
            sms=bool(form.get(f"sms_{name}")) if kind.urgent else True,
            digest=bool(form.get(f"digest_{name}")) and kind.digestible and not kind.urgent,
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
        row.email, row.sms, row.digest = pref.email, pref.sms, pref.digest
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
    """Counts per channel and status plus read receipts: {"total", "done", "read", "channels": {...}}."""
    q = (
        sa.select(Delivery.channel, Delivery.status, sa.func.count(), sa.func.count(Delivery.read_at))
        .where(Delivery.notification_id == notification_id)
        .group_by(Delivery.channel, Delivery.status)
    )
    channels: dict[str, dict[str, int]] = {}
    total = done = read = 0
    for channel, status, count, reads in db.session.execute(q):
        c = channels.setdefault(channel, dict.fromkeys(rules.STATUSES, 0))
        c[status] += count
        total += count
        if status in (rules.SENT, rules.FAILED):
            done += count
        read += reads
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
        "total": total,
        "done": done,
        "read": read,
        "percent": int(100 * done / total) if total else 100,
        "finished": total == done,
        **summary,
        "held": held,
        "next_at": next_at,
        "channels": channels,
    }


def failed_deliveries(notification_id: int | None = None, limit: int = 50) -> list[Delivery]:
    from sqlalchemy.orm import joinedload

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


def visible_notifications(user: User, limit: int = 50) -> list[Notification]:
    """Notifications whose report `user` may open, newest first."""
    from sqlalchemy.orm import joinedload

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
