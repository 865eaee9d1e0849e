"""Guardian activation: printable per-class codes (hashed, single-use, expiring), the public
activation page (phone + code → password → logged in), rate limiting."""

from __future__ import annotations

import logging
import re
from datetime import timedelta

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import Role, User, utcnow
from contactbook import tasks
from contactbook.models import ActivationCode
from tests.contactbook_factories import create_pupil
from tests.factories import create_user
from tests.querycount import count_queries

CODE = re.compile(r"<strong>([A-Z2-9]{4}-[A-Z2-9]{4})</strong>")


def _new_guardian(cls, phone="0911222333"):
    g = User(role=Role.PARENT, phone=phone, full_name="Nguyễn Thị Mẹ", password_hash=None)
    db.session.add(g)
    db.session.flush()
    create_pupil(cls, guardians=[g])
    jobs.commit()
    return g


def _sheet(client, cls):
    token = client.csrf(f"/contactbook/classes/{cls.id}")
    resp = client.post(f"/contactbook/classes/{cls.id}/activation-codes", data={"csrf_token": token})
    assert resp.status_code == 200, resp.status_code
    return resp.get_data(as_text=True)


def _activate(client, login, code, password="mot ngay dep troi", confirm=None):  # noqa: S107
    return client.post_form(
        "/contactbook/activate",
        {"login": login, "code": code, "password": password, "confirm": confirm or password},
    )


def test_staff_prints_codes_and_guardian_activates_once(app, world, cb_world, make_client):
    guardian = _new_guardian(cb_world["a1"])
    staff = make_client()
    staff.login_as(world["users"]["school_staff"])
    page = _sheet(staff, cb_world["a1"])
    codes = CODE.findall(page)
    assert len(codes) == 1  # the world parent has a password already: "already active"
    assert "091****333" in page and "0911222333" not in page
    stored = db.session.scalars(sa.select(ActivationCode)).all()
    assert len(stored) == 1 and codes[0].replace("-", "") not in stored[0].code_hash

    parent = make_client()
    wrong = _activate(parent, "0911222333", "AAAA-BBBB")
    assert wrong.status_code == 422
    assert "do not match" in wrong.get_data(as_text=True) or "không khớp" in wrong.get_data(as_text=True)
    weak = _activate(parent, "0911222333", codes[0], password="12345678")
    assert weak.status_code == 422
    ok = _activate(parent, "091 122 2333", codes[0].lower().replace("-", " "))
    assert ok.status_code == 302
    assert parent.get("/contactbook/children").status_code in (200, 302)  # logged in
    db.session.expire_all()
    assert db.session.get(User, guardian.id).password_hash
    again = _activate(make_client(), "0911222333", codes[0])
    assert again.status_code == 422  # single-use

    logged = make_client()
    logged.login("0911222333", "mot ngay dep troi")


def test_codes_expire_and_reprinting_revokes_the_old_sheet(app, world, cb_world, make_client):
    _new_guardian(cb_world["a1"])
    staff = make_client()
    staff.login_as(world["users"]["school_staff"])
    first = CODE.findall(_sheet(staff, cb_world["a1"]))[0]
    second = CODE.findall(_sheet(staff, cb_world["a1"]))[0]
    assert first != second
    assert _activate(make_client(), "0911222333", first).status_code == 422
    db.session.execute(sa.update(ActivationCode).values(expires_at=utcnow() - timedelta(minutes=1)))
    jobs.commit()
    assert _activate(make_client(), "0911222333", second).status_code == 422


def test_other_school_staff_and_teachers_cannot_print_codes(app, world, cb_world, make_client):
    foreign = make_client()
    foreign.login_as(world["foreign"]["school_staff"])
    token = foreign.csrf("/home")
    assert (
        foreign.post(
            f"/contactbook/classes/{cb_world['a1'].id}/activation-codes", data={"csrf_token": token}
        ).status_code
        == 404
    )
    teacher = make_client()
    teacher.login_as(world["users"]["teacher"])
    token = teacher.csrf("/home")
    assert (
        teacher.post(
            f"/contactbook/classes/{cb_world['a1'].id}/activation-codes", data={"csrf_token": token}
        ).status_code
        == 403
    )


def test_activation_sheet_runs_a_bounded_number_of_queries(app, world, cb_world, make_client):
    staff = make_client()
    staff.login_as(world["users"]["school_staff"])
    _sheet(staff, cb_world["a1"])
    with count_queries(app) as small:
        _sheet(staff, cb_world["a1"])
    for i in range(25):
        _new_guardian(cb_world["a1"], phone=f"09112{i:05d}")
    with count_queries(app) as big:
        _sheet(staff, cb_world["a1"])
    assert big.count <= small.count + 2, (small.count, big.count)


def test_activation_is_rate_limited_per_account(app, cb_world, make_client):
    app.config["LOGIN_LIMIT_PER_ACCOUNT"] = "3/minute"
    _new_guardian(cb_world["a1"])
    client = make_client()
    statuses = [_activate(client, "0911222333", f"AAAA-AAA{i + 2}").status_code for i in range(4)]
    assert statuses[:3] == [422, 422, 422] and statuses[3] == 429


def test_teacher_activates_with_the_emailed_code(app, make_client, caplog):
    school_teacher = create_user("teacher")
    school_teacher.password_hash = None
    jobs.commit()
    caplog.set_level(logging.INFO, logger="app.mail")
    assert tasks.send_staff_activation(school_teacher.id) is True
    jobs.commit()
    assert tasks.send_staff_activation(school_teacher.id) is False  # idempotent
    mail = next(r.getMessage() for r in caplog.records if school_teacher.email in r.getMessage())
    code = re.search(r"\b([A-Z2-9]{4}-[A-Z2-9]{4})\b", mail).group(1)
    client = make_client()
    short = _activate(client, school_teacher.email, code, password="ngay dep oi")  # 11 < 12 for staff
    assert short.status_code == 422
    assert _activate(client, school_teacher.email, code, password="mot ngay dep troi xanh").status_code == 302


def test_a_login_with_a_nul_byte_is_never_found(app, world, cb_world, make_client):
    """One rule for activation and sign-in (app.auth.services.find_by_login): a NUL in the login
    names no account, even when the rest would (PostgreSQL refuses NUL in a parameter)."""
    _new_guardian(cb_world["a1"])
    staff = make_client()
    staff.login_as(world["users"]["school_staff"])
    code = CODE.findall(_sheet(staff, cb_world["a1"]))[0]
    parent = make_client()
    assert _activate(parent, "0911\x00222333", code).status_code == 422
    assert _activate(parent, "0911222333", code).status_code == 302  # the code was not used up
    signed = make_client().post_form(
        "/auth/login", {"login": "0911222333\x00", "password": "mot ngay dep troi"}
    )
    assert signed.status_code == 200  # the form again: no account of that name
    make_client().login("0911222333", "mot ngay dep troi")
