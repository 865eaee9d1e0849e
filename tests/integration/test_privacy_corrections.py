"""Correction requests: a parent asks for a roster fact about her child to be corrected; it goes
to the queue of the office of the child's district (the city administrator sees all) with the
legal deadline; the office answers, every step audited; the parent reads the answer."""

from __future__ import annotations

import re

import sqlalchemy as sa

from app import jobs
from app.audit import describe
from app.extensions import db
from app.models import AuditLog
from app.privacy.models import DataRequest
from tests.admissions_factories import add_child_for, create_area, create_season
from tests.factories import create_user


def _family(world, district_index: int):
    season = create_season()
    area = create_area(world["districts"][district_index], n_children=1)
    parent = create_user("parent")
    child = add_child_for(parent, area.children[0], season)
    jobs.commit()
    return parent, child


def test_correction_goes_to_the_district_queue_and_is_answered(app, world, make_client):
    parent, child = _family(world, 0)
    c = make_client()
    c.login_as(parent)
    page = c.get("/privacy/corrections/new").get_data(as_text=True)
    assert child.full_name in page and "72 giờ" in page
    empty = c.post_form("/privacy/corrections/new", {"subject": f"child:{child.id}", "details": ""})
    assert empty.status_code == 422
    other = c.post_form("/privacy/corrections/new", {"subject": "child:999999", "details": "x"})
    assert other.status_code == 422  # not one of her children
    ok = c.post_form(
        "/privacy/corrections/new",
        {"subject": f"child:{child.id}", "details": "Ngày sinh đúng là 02/03/2020"},
    )
    assert ok.status_code == 302
    row = db.session.scalar(sa.select(DataRequest).where(DataRequest.kind == "correction"))
    assert row.district_id == world["districts"][0].id and row.status == "open"
    assert (row.due_at - row.created_at).total_seconds() == 72 * 3600

    # District A's officer sees it with its deadline; district B's does not; the city admin does.
    officer = make_client()
    officer.login_as(world["users"]["district_officer"])
    queue = officer.get("/privacy/queue").get_data(as_text=True)
    assert "Ngày sinh đúng là 02/03/2020" in queue and "Hạn trả lời" in queue
    foreign = make_client()
    foreign.login_as(world["foreign"]["district_officer"])
    assert "Ngày sinh đúng là" not in foreign.get("/privacy/queue").get_data(as_text=True)
    assert (
        foreign.post_form(
            f"/privacy/queue/{row.id}", {"outcome": "done", "answer": "x"}, token_from="/privacy/queue"
        ).status_code
        == 404
    )
    admin = make_client()
    admin.login_as(world["users"]["city_admin"])
    assert "Ngày sinh đúng là 02/03/2020" in admin.get("/privacy/queue").get_data(as_text=True)

    done = officer.post_form(
        f"/privacy/queue/{row.id}",
        {"outcome": "done", "answer": "Đã sửa ngày sinh theo giấy khai sinh."},
        token_from="/privacy/queue",
    )
    assert done.status_code == 302
    again = officer.post_form(
        f"/privacy/queue/{row.id}", {"outcome": "refused", "answer": "Không"}, token_from="/privacy/queue"
    )
    assert again.status_code == 302
    db.session.expire_all()
    row = db.session.get(DataRequest, row.id)
    assert row.status == "done" and row.handled_by_id == world["users"]["district_officer"].id
    actions = db.session.scalars(
        sa.select(AuditLog.action).where(AuditLog.target_type == "privacy_request").order_by(AuditLog.id)
    ).all()
    assert actions == ["privacy.correction_requested", "privacy.correction_done"]
    mine = c.get("/privacy/").get_data(as_text=True)
    assert "Đã sửa ngày sinh theo giấy khai sinh." in mine

    # The audit page says it in Vietnamese.

    with app.test_request_context():
        entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "privacy.correction_done"))
        assert re.search("Đã sửa dữ liệu theo yêu cầu", str(describe(entry)))
