"""Account deletion: the parent reads what will be removed and what is kept (and why) before
asking; the office carries it out from its queue; the account is anonymised, what the law does
not require is removed, admission records are kept, every step audited."""

from __future__ import annotations

import sqlalchemy as sa

from admissions.models import Application
from app import jobs
from app.extensions import db
from app.models import AuditLog, User, UserSession
from app.notifications.models import PushSubscription
from app.privacy.models import Consent, DataRequest
from contactbook.models import Guardian
from tests.admissions_factories import add_child_for, create_application, create_area, create_season, level_of
from tests.factories import PASSWORD


def test_parent_asks_office_deletes_and_the_statement_says_what_was_kept(app, world, cb_world, make_client):
    parent = world["users"]["parent"]  # a contact-book guardian in school A
    phone = parent.phone
    season = create_season()
    area = create_area(world["districts"][0], n_children=1)
    child = add_child_for(parent, area.children[0], season)
    create_application(child, level_of(season), parent, catchment=area.home)
    db.session.add(
        PushSubscription(user_id=parent.id, endpoint="https://push.example/d/1", p256dh="k", auth="a")
    )
    jobs.commit()

    c = make_client()
    c.login_as(parent)
    page = c.get("/privacy/delete").get_data(as_text=True)
    assert "Theo quy định: hồ sơ tuyển sinh được lưu giữ 5 năm." in page
    assert "Liên kết giữa bạn và con trong sổ liên lạc" in page and "Giữ lại" in page
    assert c.post_form("/privacy/delete", {}, token_from="/privacy/delete").status_code == 422
    assert c.post_form("/privacy/delete", {"confirm": "yes"}, token_from="/privacy/delete").status_code == 302
    row = db.session.scalar(sa.select(DataRequest).where(DataRequest.kind == "deletion"))
    assert row.status == "open" and row.district_id == world["districts"][0].id

    officer = make_client()
    officer.login_as(world["users"]["district_officer"])
    queue = officer.get("/privacy/queue").get_data(as_text=True)
    assert "Xoá tài khoản" in queue and "Theo quy định: hồ sơ tuyển sinh được lưu giữ 5 năm." in queue
    done = officer.post_form(
        f"/privacy/queue/{row.id}", {"outcome": "done", "answer": "Đã xoá."}, token_from="/privacy/queue"
    )
    assert done.status_code == 302

    db.session.expire_all()
    user = db.session.get(User, parent.id)
    assert not user.active and user.phone is None and user.email is None and user.password_hash is None
    assert user.full_name.startswith("Tài khoản đã xoá")
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Guardian).where(Guardian.user_id == parent.id)
        )
        == 0
    )
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(Consent).where(Consent.user_id == parent.id))
        == 0
    )
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(UserSession).where(UserSession.user_id == parent.id)
        )
        == 0
    )
    assert not db.session.scalar(sa.select(PushSubscription).where(PushSubscription.user_id == parent.id))

    assert (
        db.session.scalar(
            sa.select(sa.func.count()).select_from(Application).where(Application.child_id == child.id)
        )
        == 1
    )
    row = db.session.get(DataRequest, row.id)
    assert row.status == "done" and '"kept": true' in row.details
    actions = db.session.scalars(
        sa.select(AuditLog.action).where(AuditLog.target_type == "privacy_request").order_by(AuditLog.id)
    ).all()
    assert actions == ["privacy.deletion_requested", "privacy.deletion_done"]
    # The parent can no longer log in.
    assert make_client().post_form("/auth/login", {"login": phone, "password": PASSWORD}).status_code == 200
