"""The per-message statements of a send job (app/notifications/claims.py): message k's outcome
and message k+1's attempt marker are one statement, and it never marks a message the job no
longer holds. The kill tests (test_notifications_kill.py, test_notifications_push_kill.py)
prove the guarantee with real processes; this pins the statement count and the claim check."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import utcnow
from app.notifications import claims as claims_module
from app.notifications import notify, rules
from app.notifications.claims import Claims
from app.notifications.models import Delivery
from app.notifications.tasks import send_deliveries
from tests.factories import create_user

D = Delivery.__table__
DAYTIME = lambda: datetime(2026, 12, 10, 3, 0)  # noqa: E731 - 10:00 in Hanoi: no quiet hours


def queued_emails(n: int) -> list[int]:
    users = [create_user("parent", email=f"claims{i}@example.vn") for i in range(n)]
    for u in users:
        u.last_login_at = utcnow()
    db.session.commit()
    note = notify("announcement", [u.id for u in users], {"title": "Họp phụ huynh"})
    db.session.commit()  # the send jobs are in the outbox, not run
    return list(
        db.session.scalars(
            sa.select(D.c.id)
            .where(D.c.notification_id == note.id, D.c.channel == rules.EMAIL)
            .order_by(D.c.id)
        )
    )


def row(delivery_id: int):
    return db.session.execute(sa.select(D).where(D.c.id == delivery_id)).one()


def test_outcome_and_next_marker_are_one_statement_that_checks_the_claim(app):
    app.config.update(REDIS_URL=None, MAIL_URL=None, NOTIFY_CLOCK=DAYTIME)
    a, b, c = queued_emails(3)
    with Claims() as claims:
        assert claims.claim([D.c.id.in_([a, b, c])], utcnow()) == [a, b, c]
        assert claims.begin([a])
        assert claims.sent_then_begin(a, b)
        db.session.rollback()
        assert (row(a).status, row(a).attempt_at, row(a).claim_token) == ("sent", None, None)
        assert (row(b).status, row(b).attempts) == ("sending", 1) and row(b).attempt_at is not None
        # c taken over by another job: b's outcome is recorded, c is neither marked nor sent
        db.session.execute(sa.update(D).where(D.c.id == c).values(claim_token="another"))
        db.session.commit()
        assert not claims.sent_then_begin(b, c)
        db.session.rollback()
        assert row(b).status == "sent"
        assert (row(c).attempts, row(c).attempt_at, row(c).claim_token) == (0, None, "another")


def test_a_chunk_costs_one_statement_per_message(app, monkeypatch):
    app.config.update(REDIS_URL=None, MAIL_URL=None, NOTIFY_CLOCK=DAYTIME)
    ids = queued_emails(5)
    counted = []

    class Counting:
        def __init__(self, cursor):
            self.cursor = cursor

        def execute(self, *args, **kw):
            counted.append(args[0])
            return self.cursor.execute(*args, **kw)

        def __getattr__(self, name):
            return getattr(self.cursor, name)

    init = claims_module.Claims.__init__

    def counting_init(self):
        init(self)
        self.cursor = Counting(self.cursor)

    monkeypatch.setattr(claims_module.Claims, "__init__", counting_init)
    assert send_deliveries(ids) == 5
    jobs.commit()
    assert len(counted) == 5 + 1, counted  # the first marker, 4 outcome+marker, the last outcome
    db.session.rollback()
    assert {row(i).status for i in ids} == {"sent"}
