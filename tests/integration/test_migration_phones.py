"""The migration that brings phone codes decides which existing accounts count as proven: only
parent accounts activated with their school's printed code, never self-registered ones."""

from __future__ import annotations

import sqlalchemy as sa
from flask_migrate import downgrade, upgrade

from app.extensions import db
from tests.integration.test_migrations import empty_db, migration_app  # noqa: F401 - fixtures

BEFORE = "c4d1e8f27a90"
PHONES = "3ccb560a3b7c"


def test_only_school_activated_parents_count_as_proven(migration_app):  # noqa: F811

    upgrade(revision=BEFORE)
    accounts = {
        # name: (role, phone, password hash, audit actions on the account)
        "activated": ("parent", "0912000001", "x", ["contactbook.account_activated"]),
        "registered": ("parent", "0912000002", "x", ["user.register"]),
        "both": ("parent", "0912000003", "x", ["user.register", "contactbook.account_activated"]),
        "not_activated": ("parent", "0912000004", None, []),
        "teacher": ("teacher", "0912000005", "x", ["contactbook.account_activated"]),
    }
    ids = {}
    with db.engine.begin() as conn:
        for name, (role, phone, pw, actions) in accounts.items():
            ids[name] = conn.execute(
                sa.text(
                    'INSERT INTO "user" (phone, full_name, password_hash, role, active, created_at) '
                    "VALUES (:phone, 'Người Dùng', :pw, :role, :active, CURRENT_TIMESTAMP) RETURNING id"
                ),
                {"phone": phone, "pw": pw, "role": role, "active": True},
            ).scalar_one()
            for action in actions:
                conn.execute(
                    sa.text(
                        "INSERT INTO audit_log (at, action, target_type, target_id, details) "
                        "VALUES (CURRENT_TIMESTAMP, :action, 'user', :target, '{}')"
                    ),
                    {"action": action, "target": str(ids[name])},
                )
    upgrade(revision=PHONES)
    with db.engine.connect() as conn:
        proven = dict(conn.execute(sa.text('SELECT id, phone_verified_at FROM "user"')).all())
    assert {name for name, i in ids.items() if proven[i] is not None} == {"activated"}
    downgrade(revision=BEFORE)
    upgrade()
