"""notify() and notify_many(): the notification outbox, written in the caller's transaction.

One Notification row per message and one Delivery row per recipient × channel (unique), flushed
in the caller's transaction, plus the platform outbox rows (app.jobs) of the jobs that send the
deliveries due now, in chunks of NOTIFY_CHUNK_SIZE. Nothing exists if the caller rolls back;
once it commits nothing is lost (docs/notifications.md). Deliveries held for quiet hours, a
daily summary or a retry wait in the table itself until the relay (relay.py) hands them over.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from datetime import datetime

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.dialects.postgresql import ARRAY

from .. import jobs
from ..extensions import db
from ..models import User
from ..privacy.consent import email_withdrawn
from . import rules
from .kinds import NotifyError, kind_or_error
from .models import Delivery, Notification, NotificationPreference, NotificationSettings, PushSubscription
from .settings import chunk_size, clock

IN_CHUNK = 5000  # ids per IN (...) list
SEND = "app.notifications.tasks:send_deliveries"
SEND_DIGESTS = "app.notifications.tasks:send_digests"


def id_filters(column, ids: list[int]) -> Iterable:
    """WHERE column is one of ids: one `= ANY(array)` parameter on PostgreSQL (100,000 ids in a
    single statement), IN lists of 5,000 elsewhere."""
    if db.session.get_bind().dialect.name == "postgresql":
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
    subject: str | None = None,
) -> Notification:
    """Write a notification and its deliveries into the current transaction; fan out after commit.

    Returns the flushed Notification (its id is the report's key). Nothing is sent if the
    caller's transaction rolls back. Raises NotifyError for an unknown kind or a bad context.
    `subject` ("announcement:12") names what it is about, for mark_read_for (reads.py).
    """
    return notify_many(
        kind,
        [(recipients, context)],
        sender_id=sender_id,
        school_id=school_id,
        urgent=urgent,
        subject=subject,
    )[0]


def notify_many(
    kind: str,
    messages: Iterable[tuple[Iterable[int], dict]],
    *,
    sender_id: int | None = None,
    school_id: int | None = None,
    urgent: bool | None = None,
    subject: str | None = None,
) -> list[Notification]:
    """Several notifications of one kind at once, e.g. one per child naming the child: the same as
    calling notify() for each ``(recipients, context)`` pair, in a fixed number of queries and jobs
    for the whole batch (a round's results for 20,000 children)."""
    spec = kind_or_error(kind)
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
            sms_saved=0,
            created_at=now,
            subject=subject,
        )
        for _ids, context in prepared
    ]
    db.session.add_all(notes)
    db.session.flush()

    everyone = sorted({uid for ids, _context in prepared for uid in ids})
    people = _load_recipients(everyone)
    prefs = _load_preferences(list(people), kind)
    settings = _load_settings(list(people))
    tz = current_app.config.get("BABEL_DEFAULT_TIMEZONE", rules.DEFAULT_TZ)
    rows = []
    # The plan depends only on which addresses a recipient has and on their settings, so it is
    # computed once per distinct shape (a school notice: a handful of shapes for 100,000 people).
    shapes: dict[tuple, list[tuple]] = {}
    saved: dict[tuple, bool] = {}
    for n, (ids, _context) in zip(notes, prepared, strict=True):
        reached = spared = 0
        for uid in ids:
            person = people.get(uid)
            if person is None:
                continue
            reached += 1
            pref, setting = prefs.get(uid), settings.get(uid)
            key = (bool(person.email), bool(person.phone), person.uses_app, person.push, pref, setting)
            templates = shapes.get(key)
            if templates is None:
                templates = shapes[key] = [
                    _row_template(plan, now)
                    for plan in rules.plan_channels(
                        spec, person, pref, setting, urgent=urgent, now_utc=now, tz=tz
                    )
                ]
                saved[key] = rules.sms_saved(
                    person, pref or rules.Preference(email=rules.EMAIL in spec.channels), urgent=urgent
                )
            spared += saved[key]
            for channel, status, digest, not_before, handed, sent_at in templates:
                rows.append((n.id, uid, channel, status, digest, not_before, handed, sent_at))
        n.recipient_count, n.sms_saved = reached, spared
    bulk_insert_deliveries(rows)
    _hand_to_jobs([n.id for n in notes])
    return notes


def plan_counts(kind: str, recipients: Iterable[int], *, urgent: bool | None = None) -> dict[str, int]:
    """What notify() would send, without writing anything: {"recipients": reached, "in_app", "email",
    "sms"} (deliveries per channel, held ones included). A sender's confirmation step shows it
    (how many families, how many paid SMS) before the real send."""
    spec = kind_or_error(kind)
    urgent = spec.urgent if urgent is None else bool(urgent)
    ids = sorted({int(r) for r in recipients})
    people = _load_recipients(ids)
    prefs = _load_preferences(list(people), kind)
    settings = _load_settings(list(people))
    tz = current_app.config.get("BABEL_DEFAULT_TIMEZONE", rules.DEFAULT_TZ)
    now = clock()
    out = {"recipients": len(people), **dict.fromkeys(rules.CHANNELS, 0)}
    for uid, person in people.items():
        for plan in rules.plan_channels(
            spec, person, prefs.get(uid), settings.get(uid), urgent=urgent, now_utc=now, tz=tz
        ):
            out[plan.channel] = out.get(plan.channel, 0) + 1
    return out


def _row_template(plan: rules.Plan, now: datetime) -> tuple:
    """(channel, status, digest, not_before, enqueued_at, sent_at) of one planned delivery."""
    if plan.channel == rules.IN_APP:
        return (plan.channel, rules.SENT, False, None, None, now)  # the row is the message
    # enqueued_at: handed to a send job (in the platform outbox, same transaction). Deliveries
    # due later have none: the relay hands them over when they are due.
    handed = now if plan.not_before is None and not plan.digest else None
    return (plan.channel, rules.QUEUED, plan.digest, plan.not_before, handed, None)


def _load_recipients(ids: list[int]) -> dict[int, rules.Recipient]:
    out: dict[int, rules.Recipient] = {}
    has_push = (
        sa.select(PushSubscription.id).where(PushSubscription.user_id == User.id).exists().label("push")
    )
    for where in id_filters(User.id, ids):
        # A withdrawn email channel (app.privacy) is no email address for routing.
        email = sa.case((email_withdrawn(User.id), None), else_=User.email)
        q = sa.select(User.id, email, User.phone, User.last_login_at, has_push).where(
            where, User.active.is_(True)
        )
        for uid, email, phone, last_login, push in db.session.execute(q):
            out[uid] = rules.Recipient(uid, email, phone, last_login is not None, bool(push))
    return out


def _load_preferences(ids: list[int], kind: str) -> dict[int, rules.Preference]:
    out = {}
    for where in id_filters(NotificationPreference.user_id, ids):
        q = sa.select(
            NotificationPreference.user_id,
            NotificationPreference.email,
            NotificationPreference.sms,
            NotificationPreference.digest,
            NotificationPreference.push,
        ).where(NotificationPreference.kind == kind, where)
        for uid, email, sms, digest, push in db.session.execute(q):
            out[uid] = rules.Preference(email, sms, digest, push)
    return out


def _load_settings(ids: list[int]) -> dict[int, rules.Settings]:
    out = {}
    for where in id_filters(NotificationSettings.user_id, ids):
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


def _hand_to_jobs(notification_ids: list[int]) -> None:
    """Write the send jobs of the deliveries due now (chunks of delivery ids) into the platform
    outbox, in this transaction: they reach the workers after the commit, or the relay hands
    them over if Redis is down then."""
    now_ids: list[int] = []
    for where in id_filters(Delivery.notification_id, notification_ids):
        q = sa.select(Delivery.id).where(
            where,
            Delivery.status == rules.QUEUED,
            Delivery.enqueued_at.is_not(None),
        )
        now_ids.extend(db.session.scalars(q))
    now_ids.sort()
    jobs.enqueue_many_after_commit(SEND, [[c] for c in rules.chunks(now_ids, chunk_size())])
