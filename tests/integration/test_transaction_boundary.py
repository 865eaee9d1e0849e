"""The request boundary: a view's work commits when it returns normally and rolls back when it raises.

A view answering an error status after writing fails under TESTING unless it says so with
`jobs.keep_writes()`; outside TESTING (TRANSACTION_CHECKS off) it commits, as any normal return.
"""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from flask import abort

from app import jobs
from app.audit import audit
from app.authz import public
from app.extensions import csrf, db
from app.models import AuditLog, District


def _districts() -> list[str]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(District.name).order_by(District.name)))


@pytest.fixture
def views(app):
    """A few views registered on the test app, each adding a district named after it."""

    def add(name: str) -> None:
        db.session.add(District(name=name, code=name[:10]))
        db.session.flush()

    @public
    def returns_ok():
        add("ok")
        return "saved"

    @public
    def raises():
        add("raised")
        abort(409)

    @public
    def fails():
        add("failed")
        raise RuntimeError("boom")

    @public
    def refuses():
        add("refused")
        return "no", 422

    @public
    def refuses_keeping():
        add("kept")
        jobs.keep_writes()
        return "no, but counted", 422

    @public
    def refuses_after_audit():
        audit("test.page_seen", ("district", "1"))
        return "seen, refused", 422

    for fn in (returns_ok, raises, fails, refuses, refuses_keeping, refuses_after_audit):
        app.add_url_rule(f"/_tx/{fn.__name__}", fn.__name__, csrf.exempt(fn), methods=["POST"])
    app.config["PROPAGATE_EXCEPTIONS"] = False
    return app


def test_normal_return_commits_and_raising_rolls_back(views, client):
    assert client.post("/_tx/returns_ok").status_code == 200
    assert client.post("/_tx/raises").status_code == 409
    assert client.post("/_tx/fails").status_code == 500
    assert _districts() == ["ok"]


def test_an_error_status_after_writing_must_say_it_keeps_them(views, client):
    # Under TESTING the accident is a 500 with nothing stored ...
    assert client.post("/_tx/refuses").status_code == 500
    # ... a view that means it says so, and its writes are kept with the 422.
    assert client.post("/_tx/refuses_keeping").status_code == 422
    assert _districts() == ["kept"]


def test_audit_entries_belong_to_any_answer(views, client):
    assert client.post("/_tx/refuses_after_audit").status_code == 422
    db.session.rollback()
    assert (
        db.session.scalar(sa.select(sa.func.count(AuditLog.id)).where(AuditLog.action == "test.page_seen"))
        == 1
    )


def test_without_the_check_an_error_status_commits_like_any_normal_return(views, client):
    views.config["TRANSACTION_CHECKS"] = False
    assert client.post("/_tx/refuses").status_code == 422
    assert _districts() == ["refused"]
