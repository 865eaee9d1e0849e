"""Notification outbox tables: a notification, one delivery per recipient × channel, preferences."""

from __future__ import annotations

from datetime import datetime, time

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from ..extensions import db
from ..models import School, User, utcnow
from . import rules


class Notification(db.Model):
    """What was said, by whom, for which school. The text lives in `context` (rendered per locale)."""

    __tablename__ = "notification"
    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(40), index=True)
    sender_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user.id", ondelete="SET NULL"), index=True)
    school_id: Mapped[int | None] = mapped_column(sa.ForeignKey("school.id", ondelete="SET NULL"), index=True)
    urgent: Mapped[bool] = mapped_column(default=False)
    context: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    recipient_count: Mapped[int] = mapped_column(default=0)
    # Recipients who would have got the SMS fallback but were reached by push instead.
    sms_saved: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    # What the notification is about, as "<area thing>:<id>" ("announcement:12"): reading that
    # thing where the area shows it marks the inbox items read (mark_read_for), and opening the
    # inbox item tells the area (register_read_hook). None: the notification is all there is.
    subject: Mapped[str | None] = mapped_column(sa.String(60), index=True)

    sender: Mapped[User | None] = relationship()
    school: Mapped[School | None] = relationship()

    @property
    def title(self) -> str:
        return str(self.context.get("title") or "")

    @property
    def child_name(self) -> str | None:
        return self.context.get("child_name") or None


class Delivery(db.Model):
    """One message to one recipient over one channel: the outbox row and its delivery state.

    queued → sending (claimed by a job, `claim_token`, lease renewed by `claimed_at`) → sent | failed;
    a transient failure goes back to queued with `not_before` = the retry time. In-app rows are
    written as sent (the row is the message) and carry the read receipt (`read_at`).

    `attempt_at` is set (committed) right before an email or SMS is handed to the server and
    cleared with its outcome: a row found with it still set was interrupted mid-send. When the
    relay takes over a claim whose lease lapsed (`takeovers` + 1), such an open attempt counts in
    `lost_attempts`; a row sent with lost_attempts > 0 was possibly sent twice (same Message-ID).
    """

    __tablename__ = "delivery"
    __table_args__ = (
        sa.UniqueConstraint("notification_id", "recipient_id", "channel"),
        sa.CheckConstraint("channel IN ('in_app','email','sms','push')", name="channel"),
        sa.CheckConstraint("status IN ('queued','sending','sent','failed')", name="status"),
        # Partial indexes, so that writing 200,000 outbox rows and marking each one sent touch
        # as few index entries as possible: the relay's scan covers only unfinished rows, the
        # unread badge (one COUNT) and the inbox only in-app rows.
        sa.Index(
            "ix_delivery_pending",
            "status",
            "not_before",
            postgresql_where=sa.text("status IN ('queued', 'sending')"),
            sqlite_where=sa.text("status IN ('queued', 'sending')"),
        ),
        sa.Index(
            "ix_delivery_inbox",
            "recipient_id",
            "read_at",
            postgresql_where=sa.text("channel = 'in_app'"),
            sqlite_where=sa.text("channel = 'in_app'"),
        ),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    notification_id: Mapped[int] = mapped_column(sa.ForeignKey("notification.id", ondelete="CASCADE"))
    recipient_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(sa.String(10))
    status: Mapped[str] = mapped_column(sa.String(10), default=rules.QUEUED)
    digest: Mapped[bool] = mapped_column(default=False)
    attempts: Mapped[int] = mapped_column(default=0)
    attempt_at: Mapped[datetime | None]
    takeovers: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    lost_attempts: Mapped[int] = mapped_column(default=0, server_default=sa.text("0"))
    not_before: Mapped[datetime | None]
    enqueued_at: Mapped[datetime | None]
    claimed_at: Mapped[datetime | None]
    claim_token: Mapped[str | None] = mapped_column(sa.String(32))
    sent_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(300))

    notification: Mapped[Notification] = relationship()
    recipient: Mapped[User] = relationship()


class NotificationPreference(db.Model):
    """A guardian's channels for one kind of notification (no row → the kind's defaults)."""

    __tablename__ = "notification_preference"
    __table_args__ = (sa.UniqueConstraint("user_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(40))
    email: Mapped[bool] = mapped_column(default=True)
    sms: Mapped[bool] = mapped_column(default=True)
    digest: Mapped[bool] = mapped_column(default=False)
    push: Mapped[bool] = mapped_column(default=True, server_default=sa.true())


class NotificationSettings(db.Model):
    """Per-user quiet hours and digest time (no row → 21:00–06:30 and 18:00, Asia/Ho_Chi_Minh)."""

    __tablename__ = "notification_settings"
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), primary_key=True)
    quiet_enabled: Mapped[bool] = mapped_column(default=True)
    quiet_start: Mapped[time] = mapped_column(default=rules.DEFAULT_QUIET_START)
    quiet_end: Mapped[time] = mapped_column(default=rules.DEFAULT_QUIET_END)
    digest_at: Mapped[time] = mapped_column(default=rules.DEFAULT_DIGEST_AT)

    def as_rules(self) -> rules.Settings:
        return rules.Settings(self.quiet_enabled, self.quiet_start, self.quiet_end, self.digest_at)


class PushSubscription(db.Model):
    """One device's Web Push subscription (the browser's PushSubscription JSON): the push
    service's `endpoint` (unique: a device re-subscribing replaces its row) and the keys that
    encrypt messages to it (RFC 8291). Removed when the push service answers 404 or 410."""

    __tablename__ = "push_subscription"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user.id", ondelete="CASCADE"), index=True)
    endpoint: Mapped[str] = mapped_column(sa.String(1000), unique=True)
    p256dh: Mapped[str] = mapped_column(sa.String(200))
    auth: Mapped[str] = mapped_column(sa.String(100))
    user_agent: Mapped[str | None] = mapped_column(sa.String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    last_success_at: Mapped[datetime | None]
