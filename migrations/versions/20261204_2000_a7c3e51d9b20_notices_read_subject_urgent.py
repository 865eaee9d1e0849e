"""notices: one notion of read, and urgent notices

A notification may name what it is about (`subject`, e.g. "announcement:12", "thread:7"): the
area that shows that thing marks the recipient's inbox items about it read (indexed lookup).
An announcement may be urgent (sent as the platform's "emergency" kind, every channel, past
quiet hours and summaries).

Data: the notifications already sent about an announcement or a conversation get their subject
from their link, and the inbox items of announcements a family had already opened are read (the
delivery report and the announcement page then agree on the past too).

Revision ID: a7c3e51d9b20
Revises: a7c31e5d90b2
Create Date: 2026-12-04 20:00:00.000000

"""
import json
import re

from alembic import op
import sqlalchemy as sa

LINKS = re.compile(r"/contactbook/(announcements|threads)/(\d+)(?:[?#].*)?$")
THINGS = {"announcements": "announcement", "threads": "thread"}


# revision identifiers, used by Alembic.
revision = 'a7c3e51d9b20'
down_revision = 'a7c31e5d90b2'
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.add_column(sa.Column('subject', sa.String(length=60), nullable=True))
        batch_op.create_index('ix_notification_subject', ['subject'], unique=False)
    with op.batch_alter_table('cb_announcement', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('urgent', sa.Boolean(), server_default=sa.text('false'), nullable=False)
        )
    _backfill()


def _backfill():
    conn = op.get_bind()
    notification = sa.table(
        'notification', sa.column('id', sa.Integer), sa.column('kind', sa.String),
        sa.column('context', sa.JSON), sa.column('subject', sa.String),
    )
    updates = []
    rows = conn.execute(
        sa.select(notification.c.id, notification.c.context).where(
            notification.c.kind.in_(('announcement', 'message'))
        )
    )
    for nid, context in rows:
        if isinstance(context, str):  # SQLite without the JSON type's processing
            context = json.loads(context)
        match = LINKS.search(str((context or {}).get('url') or ''))
        if match:
            updates.append({'nid': nid, 'subject': f"{THINGS[match.group(1)]}:{match.group(2)}"})
    if updates:
        conn.execute(
            sa.text('UPDATE notification SET subject = :subject WHERE id = :nid'), updates
        )
    # Announcements already opened: their inbox items are read; and the other way round.
    conn.execute(
        sa.text(
            "UPDATE delivery SET read_at = ("
            " SELECT MIN(r.read_at) FROM cb_announcement_recipient r, notification n"
            " WHERE n.id = delivery.notification_id AND n.subject = 'announcement:' || r.announcement_id"
            " AND r.user_id = delivery.recipient_id AND r.read_at IS NOT NULL)"
            " WHERE channel = 'in_app' AND read_at IS NULL AND EXISTS ("
            " SELECT 1 FROM cb_announcement_recipient r, notification n"
            " WHERE n.id = delivery.notification_id AND n.subject = 'announcement:' || r.announcement_id"
            " AND r.user_id = delivery.recipient_id AND r.read_at IS NOT NULL)"
        )
    )
    conn.execute(
        sa.text(
            "UPDATE cb_announcement_recipient SET read_at = ("
            " SELECT MIN(d.read_at) FROM delivery d, notification n"
            " WHERE n.id = d.notification_id AND n.subject = 'announcement:' || cb_announcement_recipient.announcement_id"
            " AND d.recipient_id = cb_announcement_recipient.user_id AND d.channel = 'in_app'"
            " AND d.read_at IS NOT NULL)"
            " WHERE read_at IS NULL AND EXISTS ("
            " SELECT 1 FROM delivery d, notification n"
            " WHERE n.id = d.notification_id AND n.subject = 'announcement:' || cb_announcement_recipient.announcement_id"
            " AND d.recipient_id = cb_announcement_recipient.user_id AND d.channel = 'in_app'"
            " AND d.read_at IS NOT NULL)"
        )
    )


def downgrade():
    with op.batch_alter_table('cb_announcement', schema=None) as batch_op:
        batch_op.drop_column('urgent')
    with op.batch_alter_table('notification', schema=None) as batch_op:
        batch_op.drop_index('ix_notification_subject')
        batch_op.drop_column('subject')
