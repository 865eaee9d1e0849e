"""The privacy notice and consents: shown and ticked before registration and before the contact
book's activation, recorded per purpose with the notice version, withdrawable from the account
page with their effect (a withdrawn email channel sends no email), a child's own consent."""

from __future__ import annotations

from datetime import date

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import AuditLog, User
from app.notifications import notify
from app.notifications.models import Delivery
from app.privacy.models import Consent
from tests import sms
from tests.contactbook_factories import create_pupil
from tests.factories import create_user
from tests.integration.test_contactbook_activation import CODE, _new_guardian, _sheet

VERSION = "2026-12-01"


def _consents(user_id: int) -> list[tuple]:
    q = sa.select(Consent.purpose, Consent.subject, Consent.notice_version, Consent.withdrawn_at.is_(None))
    return [tuple(r) for r in db.session.execute(q.where(Consent.user_id == user_id).order_by(Consent.id))]


def test_notice_page_in_both_languages(client):
    vi = client.get("/privacy/notice").get_data(as_text=True)
    assert "Thông báo xử lý dữ liệu cá nhân (phiên bản 2026-12-01)" in vi
    assert "Personal data notice (version 2026-12-01)" in vi  # the other language folded below
    client.post_form("/lang", {"lang": "en"}, token_from="/privacy/notice")
    en = client.get("/privacy/notice").get_data(as_text=True)
    assert en.index("Personal data notice") < en.index("Thông báo xử lý dữ liệu cá nhân")


def test_registration_needs_the_notice_ticked_and_records_the_admissions_consent(client, app):
    form = {
        "full_name": "Trần Thị Mẹ",
        "phone": "0987654321",
        "password": "mot ngay dep troi",
        "confirm": "mot ngay dep troi",
    }
    page = client.get("/auth/register").get_data(as_text=True)
    assert 'name="privacy_notice" value="2026-12-01"' in page and "Thông báo xử lý dữ liệu cá nhân" in page
    refused = client.post_form("/auth/register", {**form, "privacy_notice": ""})
    assert refused.status_code == 422
    assert "đánh dấu" in refused.get_data(as_text=True)
    assert (
        db.session.scalar(sa.select(sa.func.count()).select_from(User).where(User.phone == "0987654321")) == 0
    )

    sms.register(client, "0987654321", password="mot ngay dep troi")  # post_form ticks the box
    user = db.session.scalar(sa.select(User).where(User.phone == "0987654321"))
    assert _consents(user.id) == [("admissions", None, VERSION, True)]


def test_activation_needs_the_notice_and_records_the_contact_book_consent(app, world, cb_world, make_client):
    guardian = _new_guardian(cb_world["a1"])
    staff = make_client()
    staff.login_as(world["users"]["school_staff"])
    code = CODE.findall(_sheet(staff, cb_world["a1"]))[0]
    form = {
        "login": "0911222333",
        "code": code,
        "password": "mot ngay dep troi",
        "confirm": "mot ngay dep troi",
    }
    parent = make_client()
    assert "Thông báo xử lý dữ liệu cá nhân" in parent.get("/contactbook/activate").get_data(as_text=True)
    assert parent.post_form("/contactbook/activate", {**form, "privacy_notice": ""}).status_code == 422
    assert (
        parent.post_form("/contactbook/activate", {**form, "privacy_notice": "1999-01-01"}).status_code == 422
    )
    assert _consents(guardian.id) == []
    assert parent.post_form("/contactbook/activate", form).status_code == 302  # the code was not used up
    assert _consents(guardian.id) == [("contact_book", None, VERSION, True)]


def test_withdrawing_the_email_channel_stops_emails_and_says_so(app, world, make_client):
    parent = create_user("parent", email="me@example.vn")
    jobs.commit()
    c = make_client()
    c.login_as(parent)
    page = c.get("/privacy/").get_data(as_text=True)
    assert "Kênh email" in page
    assert (
        c.post_form("/privacy/consents/email", {"action": "give"}, token_from="/privacy/").status_code == 302
    )
    done = c.post_form("/privacy/consents/email", {"action": "withdraw"}, token_from="/privacy/")
    assert done.status_code == 302
    assert "Chúng tôi ngừng gửi email" in c.get("/privacy/").get_data(as_text=True)  # the flash: its effect
    assert _consents(parent.id) == [("email", None, VERSION, False)]
    actions = db.session.scalars(sa.select(AuditLog.action).where(AuditLog.target_type == "privacy_consent"))
    assert sorted(actions) == ["privacy.consent_given", "privacy.consent_withdrawn"]

    other = create_user("parent", email="other@example.vn")
    jobs.commit()
    n = notify("announcement", [parent.id, other.id], {"title": "Họp phụ huynh"})
    jobs.commit()
    emails = db.session.scalars(
        sa.select(Delivery.recipient_id).where(Delivery.notification_id == n.id, Delivery.channel == "email")
    ).all()
    assert emails == [other.id]  # withdrawn: in the app only
    in_app = db.session.scalars(
        sa.select(Delivery.recipient_id).where(Delivery.notification_id == n.id, Delivery.channel == "in_app")
    ).all()
    assert sorted(in_app) == sorted([parent.id, other.id])

    # Given again: emails again.
    c.post_form("/privacy/consents/email", {"action": "give"}, token_from="/privacy/")
    n2 = notify("announcement", [parent.id], {"title": "Lần hai"})
    jobs.commit()
    assert (
        db.session.scalar(
            sa.select(sa.func.count()).where(Delivery.notification_id == n2.id, Delivery.channel == "email")
        )
        == 1
    )


def test_unknown_purpose_is_404(app, world, make_client):
    c = make_client()
    c.login_as(world["users"]["parent"])
    assert (
        c.post_form("/privacy/consents/nope", {"action": "give"}, token_from="/privacy/").status_code == 404
    )


def test_a_child_of_seven_gets_her_own_consent_recorded_by_the_parent(app, world, cb_world, make_client):
    parent = world["users"]["parent"]
    today = date.today()
    older = create_pupil(
        cb_world["a1"], guardians=[parent], full_name="Chị Lớn", dob=date(today.year - 8, 1, 1)
    )
    younger = create_pupil(
        cb_world["a1"], guardians=[parent], full_name="Em Bé", dob=date(today.year - 5, 1, 1)
    )
    jobs.commit()
    c = make_client()
    c.login_as(parent)
    page = c.get("/privacy/").get_data(as_text=True)
    assert "Chị Lớn" in page and "Em Bé" in page
    assert page.count('name="subject"') >= 1 and f'value="cb_pupil:{younger.id}"' not in page
    ok = c.post_form(
        "/privacy/children/consent",
        {"subject": f"cb_pupil:{older.id}", "action": "give"},
        token_from="/privacy/",
    )
    assert ok.status_code == 302
    assert ("child_contact_book", f"cb_pupil:{older.id}", VERSION, True) in _consents(parent.id)
    # Another family's child: not found.
    foreign = cb_world["b_pupil"]
    resp = c.post_form(
        "/privacy/children/consent", {"subject": f"cb_pupil:{foreign.id}"}, token_from="/privacy/"
    )
    assert resp.status_code == 404
    resp = c.post_form("/privacy/children/consent", {"subject": "cb_pupil:999999"}, token_from="/privacy/")
    assert resp.status_code == 404
