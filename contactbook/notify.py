"""What the contact book tells families and staff: the texts, the links, and the calls to
app.notifications (in-app inbox, email, SMS fallback).

Everything goes through `notify` / `notify_many` in the caller's transaction (the outbox): a
notice exists exactly when the grades, attendance or decision it announces were committed, and a
Redis outage right after the commit loses nothing (the relay hands the fan-out to the workers
later: `flask --app app contactbook relay`). Events about pupils become one notification per
child and language: every message names the child, and its title is in the guardian's language.
"""

from __future__ import annotations

from collections.abc import Iterable

import sqlalchemy as sa
from flask_babel import force_locale, gettext

from app.extensions import db
from app.links import public_url_for
from app.models import User
from app.notifications import (
    mark_read_for,
    notification_ids_for,
    notify,
    notify_many,
    plan_counts,
    subject_key,
)
from app.notifications.models import Notification

from .models import Announcement, Guardian, MessageThread, Pupil, SchoolClass, ThreadReport

CHUNK = 900  # IN-list size (SQLite allows 999 parameters by default)

# Event about a pupil → its title in the guardian's language, from the event's context.
EVENTS = {
    "grade_published": lambda c: gettext("New grades in %(subject)s (term %(term)s)", **c),
    "grade_changed": lambda c: gettext("A published grade in %(subject)s was changed", **c),
    "absence_marked": lambda c: gettext("Absence recorded on %(day)s", **c),
    "late_marked": lambda c: gettext("Late arrival recorded on %(day)s", **c),
    "absence_decided": lambda c: gettext("Your absence request has been answered"),
    "comment_added": lambda c: gettext("New comment from the teacher"),
    "results_confirmed": lambda c: (
        gettext("The year's results are ready")
        if c["period"] == "year"
        else gettext("The results of term %(period)s are ready", **c)
    ),
    "class_assigned": lambda c: gettext("Class %(class_name)s in %(year)s at %(school)s", **c),
}


def child_url(pupil_id: int) -> str:
    """The child's page."""
    return public_url_for("contactbook_parent.child", pupil_id=pupil_id)


def thread_url(thread_id: int) -> str:
    return public_url_for("contactbook_messages.thread", thread_id=thread_id)


def announcement_url(announcement_id: int) -> str:
    return public_url_for(
        "contactbook_messages.announcement",
        announcement_id=announcement_id,
    )


def thread_subject(thread_id: int) -> str:
    """What a message's notification is about: its conversation (read together, app.notifications.reads)."""
    return subject_key("thread", thread_id)


def announcement_subject(announcement_id: int) -> str:
    return subject_key("announcement", announcement_id)


def announcement_notification_id(announcement_id: int) -> int | None:
    """The notification that carried an announcement (the key of its delivery report)."""
    ids = notification_ids_for(announcement_subject(announcement_id))
    return ids[0] if ids else None


def urgent_plan(user_ids: list[int]) -> dict[str, int]:
    """What an urgent notice to these accounts would send: recipients and deliveries per channel."""
    return plan_counts("emergency", user_ids, urgent=True)


def inbox_read(user_id: int, subject: str) -> None:
    """The user read the thing on the contact book's page: their inbox items about it are read."""
    mark_read_for(user_id, subject)


def activation_url() -> str:
    """The page where an imported account sets its first password."""
    return public_url_for("contactbook_public.activate")


def notify_guardians(
    event: str,
    pupil_ids: Iterable[int],
    context: dict,
    *,
    sender_id: int | None,
    school_id: int | None = None,
    urgent: bool = False,
) -> int:
    """Tell the active guardians of `pupil_ids` about `event`, in the current transaction: one
    notification per child and language (notify_many: a fixed number of statements whatever the
    number of children). Returns the number of notifications."""
    if event not in EVENTS:
        raise ValueError(f"unknown contact book event {event!r}")
    ids = sorted({int(p) for p in pupil_ids})
    groups: dict[tuple[int, str, str], list[int]] = {}
    for chunk in (ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)):
        for pupil_id, name, user_id, locale in db.session.execute(
            sa.select(Pupil.id, Pupil.full_name, User.id, User.locale)
            .join(Guardian, Guardian.pupil_id == Pupil.id)
            .join(User, User.id == Guardian.user_id)
            .where(Pupil.id.in_(chunk), User.active.is_(True))
            .order_by(Pupil.id, User.id)
        ):
            groups.setdefault((pupil_id, name, locale or "vi"), []).append(user_id)
    messages = []
    for (pupil_id, name, locale), user_ids in groups.items():
        with force_locale(locale):
            title = EVENTS[event](context)
        context_out = {"title": title, "child_name": name, "url": child_url(pupil_id)}
        messages.append((user_ids, {**context_out, "body": context.get("body", "")}))
    notify_many("contact_book", messages, sender_id=sender_id, school_id=school_id, urgent=urgent)
    return len(groups)


def notify_users(
    kind: str,
    user_ids: Iterable[int],
    context: dict,
    *,
    sender_id: int | None,
    school_id: int | None = None,
    urgent: bool = False,
    subject: str | None = None,
) -> Notification:
    """Notify accounts directly (messages, announcements), in the current transaction. Returns the
    notification (its id keys the sender's delivery report)."""
    return notify(
        kind, user_ids, context, sender_id=sender_id, school_id=school_id, urgent=urgent, subject=subject
    )


def absence_requested(teacher: User, cls: SchoolClass, pupil: Pupil, guardian: User) -> None:
    """Tell the homeroom teacher a family asked to excuse an absence."""
    with force_locale(teacher.locale or "vi"):
        title = gettext("New absence request, class %(name)s", name=cls.name)
    notify_users(
        "message",
        [teacher.id],
        {"title": title, "child_name": pupil.full_name},
        sender_id=guardian.id,
        school_id=cls.school_id,
    )


def new_message(thread: MessageThread, sender: User, recipient: User) -> None:
    """Tell the other member of a conversation that a message arrived."""
    with force_locale(recipient.locale or "vi"):
        title = gettext("New message from %(name)s", name=sender.full_name)
    notify_users(
        "message",
        [recipient.id],
        {"title": title, "child_name": thread.pupil.full_name, "url": thread_url(thread.id)},
        sender_id=sender.id,
        school_id=thread.school_id,
        subject=thread_subject(thread.id),
    )


def report_closed(report: ThreadReport, closer: User) -> None:
    """Tell the person who reported a conversation what the school did (if still active)."""
    reporter = report.reporter
    if reporter is None or not reporter.active:
        return
    with force_locale(reporter.locale or "vi"):
        title = gettext("The school has dealt with the conversation you reported")
    notify_users(
        "message",
        [reporter.id],
        {
            "title": title,
            "body": report.resolution,
            "child_name": report.thread.pupil.full_name,
            "url": thread_url(report.thread_id),
        },
        sender_id=closer.id,
        school_id=report.school_id,
    )


def announcement_sent(a: Announcement, recipients: list[int], author: User) -> Notification:
    """Hand an announcement to its recipients (the text is the author's, as typed). An urgent one
    goes as the platform's "emergency" kind: every channel at once, past quiet hours and summaries."""
    return notify_users(
        "emergency" if a.urgent else "announcement",
        recipients,
        {"title": a.title, "body": a.body, "url": announcement_url(a.id)},
        sender_id=author.id,
        school_id=a.school_id,
        urgent=bool(a.urgent),
        subject=announcement_subject(a.id),
    )
