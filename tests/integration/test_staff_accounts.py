"""Staff accounts over their life: administrators search, page and edit the accounts in their
scope, deactivate (every session ends) and reactivate them, and issue one-time activation codes
that force a new password at the first login; nobody edits outside their scope or raises their own
role; every change is audited in words an officer reads."""

from __future__ import annotations

import re
from datetime import timedelta

import sqlalchemy as sa

from app.extensions import db
from app.models import AuditLog, User, UserSession, utcnow
from tests.factories import PASSWORD, create_user

NEW_PASSWORD = "một câu dài dễ nhớ 2027"  # noqa: S105


def _form(user, **changes) -> dict:
    data = {
        "full_name": user.full_name,
        "email": user.email or "",
        "phone": user.phone or "",
        "role": user.role,
        "school_id": str(user.school_id or 0),
        "district_id": str(user.district_id or 0),
    }
    return {**data, **{k: str(v) for k, v in changes.items()}}


def _edit(client, user, **changes):
    path = f"/admin/users/{user.id}/edit"
    return client.post_form(path, _form(user, **changes), token_from=path)


def _act(client, user, what: str):
    return client.post_form(f"/admin/users/{user.id}/{what}", token_from=f"/admin/users/{user.id}/edit")


def _entries(action: str) -> list[AuditLog]:
    return list(
        db.session.scalars(sa.select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))
    )


def test_search_and_pages(client, world):
    school = world["schools"][0]
    for n in range(55):
        create_user("teacher", school=school, full_name=f"Giáo Viên Số {n:02d}")
    create_user("teacher", school=school, full_name="Nguyễn Thị Hoa Sen")
    db.session.commit()
    client.login_as(world["users"]["district_officer"])
    first = client.get("/admin/users").get_data(as_text=True)
    assert first.count("/edit") == 50 and 'rel="next"' in first
    second = client.get("/admin/users?page=2").get_data(as_text=True)
    assert 'rel="prev"' in second and second.count("/edit") >= 6
    found = client.get("/admin/users?q=hoa+sen").get_data(as_text=True)
    assert "Nguyễn Thị Hoa Sen" in found and found.count("/edit") == 1
    assert world["foreign"]["teacher"].full_name not in first + second


def test_an_officer_edits_an_account_in_scope_and_the_log_says_it_in_words(client, world):
    teacher = world["users"]["teacher"]
    client.login_as(world["users"]["district_officer"])
    assert client.get(f"/admin/users/{teacher.id}/edit").status_code == 200
    resp = _edit(client, teacher, full_name="Trần Văn Mới", phone="0912777888", role="school_staff")
    assert resp.status_code == 302, resp.get_data(as_text=True)[-600:]
    db.session.refresh(teacher)
    assert (teacher.full_name, teacher.phone, teacher.role) == ("Trần Văn Mới", "0912777888", "school_staff")
    assert teacher.phone_verified_at is None  # a number typed by an administrator is not proven
    (entry,) = _entries("user.update")
    assert entry.details["changed"] == ["full_name", "phone"]
    assert "0912777888" not in str(entry.details) and "Trần" not in str(entry.details)
    admin = create_user("city_admin")
    db.session.commit()
    log = type(client)(client.c.application.test_client())
    log.login_as(admin)
    page = log.get("/admin/audit?action=user.update").get_data(as_text=True)
    assert "Quản trị viên sửa tài khoản cán bộ" in page
    assert "Vai trò: Giáo viên → Cán bộ nhà trường<br>Đã sửa: Họ và tên, Số điện thoại" in page


def test_nobody_edits_outside_their_scope(make_client, world):
    foreign, officer_b = world["foreign"]["teacher"], world["foreign"]["district_officer"]
    cases = [
        (world["users"]["district_officer"], foreign),
        (world["users"]["district_officer"], officer_b),
        (world["users"]["school_staff"], world["users"]["district_officer"]),
        (world["users"]["school_staff"], foreign),
        (world["users"]["district_officer"], world["users"]["city_admin"]),
    ]
    for actor, target in cases:
        c = make_client()
        c.login_as(actor)
        assert c.get(f"/admin/users/{target.id}/edit").status_code == 404, (actor.role, target.role)
        for what in ("deactivate", "reactivate", "activation"):
            assert _act(c, target, what).status_code == 404
    db.session.refresh(foreign)
    assert foreign.active and foreign.password_hash


def test_a_school_gives_only_its_own_school_and_teacher_or_staff_roles(client, world):
    teacher = world["users"]["teacher"]
    client.login_as(world["users"]["school_staff"])
    assert _edit(client, teacher, role="district_officer").status_code == 422
    assert _edit(client, teacher, school_id=world["schools"][1].id).status_code == 422
    assert _edit(client, teacher, role="school_staff").status_code == 302
    db.session.refresh(teacher)
    assert teacher.role == "school_staff" and teacher.school_id == world["schools"][0].id


def test_a_district_officer_moves_people_only_within_the_district(client, world):
    teacher = world["users"]["teacher"]
    client.login_as(world["users"]["district_officer"])
    assert _edit(client, teacher, school_id=world["schools"][1].id).status_code == 422
    assert (
        _edit(client, teacher, role="district_officer", district_id=world["districts"][1].id).status_code
        == 422
    )
    assert _edit(client, teacher, role="city_admin").status_code == 422


def test_nobody_raises_their_own_role(make_client, world):
    for role, raised in (("school_staff", "district_officer"), ("district_officer", "city_admin")):
        me = world["users"][role]
        c = make_client()
        c.login_as(me)
        assert _edit(c, me, role=raised).status_code == 422
        assert _edit(c, me, role="teacher").status_code == 422  # nor changes it at all
        db.session.refresh(me)
        assert me.role == role
        assert _edit(c, me, full_name="Tên Mới Của Tôi").status_code == 302
    me = world["users"]["district_officer"]
    c = make_client()
    c.login_as(me)
    assert _edit(c, me, district_id=world["districts"][1].id).status_code == 422


def test_deactivating_ends_every_session_and_reactivating_lets_the_person_back(make_client, world):
    teacher = world["users"]["teacher"]
    officer = make_client()
    officer.login_as(world["users"]["school_staff"])
    phone, laptop = make_client(), make_client()
    phone.login_as(teacher)
    laptop.login_as(teacher)
    assert _act(officer, teacher, "deactivate").status_code == 302
    assert db.session.scalar(sa.select(sa.func.count()).where(UserSession.user_id == teacher.id)) == 0
    for c in (phone, laptop):
        assert c.get("/home").status_code == 302
    assert (
        make_client().post_form("/auth/login", {"login": teacher.email, "password": PASSWORD}).status_code
        == 200
    )
    page = officer.get(f"/admin/users/{teacher.id}/edit").get_data(as_text=True)
    assert "Mở lại" in page
    assert _act(officer, teacher, "reactivate").status_code == 302
    make_client().login_as(teacher)
    assert [e.target_id for e in _entries("user.deactivate")] == [str(teacher.id)]
    assert [e.target_id for e in _entries("user.reactivate")] == [str(teacher.id)]


def test_deactivating_voids_an_activation_code_handed_out(make_client, world):
    teacher = world["users"]["teacher"]
    officer = make_client()
    officer.login_as(world["users"]["school_staff"])
    code = _issue_code(officer, teacher)
    assert _act(officer, teacher, "deactivate").status_code == 302
    assert _act(officer, teacher, "reactivate").status_code == 302
    assert (
        make_client().post_form("/auth/login", {"login": teacher.email, "password": code}).status_code == 200
    )


def test_nobody_deactivates_themselves(client, world):
    me = world["users"]["district_officer"]
    client.login_as(me)
    assert _act(client, me, "deactivate").status_code == 302
    db.session.refresh(me)
    assert me.active


def _issue_code(officer, user) -> str:
    resp = _act(officer, user, "activation")
    assert resp.status_code == 200
    found = re.search(r"data-activation-code>([A-Z0-9-]+)<", resp.get_data(as_text=True))
    assert found
    return found.group(1)


def test_an_activation_code_logs_in_once_and_forces_a_new_password(make_client, world):
    teacher = world["users"]["teacher"]
    officer, old = make_client(), make_client()
    officer.login_as(world["users"]["district_officer"])
    old.login_as(teacher)
    code = _issue_code(officer, teacher)
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    assert old.get("/home").status_code == 302  # its sessions ended
    # The old password stops working.
    assert (
        make_client().post_form("/auth/login", {"login": teacher.email, "password": PASSWORD}).status_code
        == 200
    )
    person = make_client()
    assert (
        person.post_form("/auth/login", {"login": teacher.email, "password": code.lower()}).status_code == 302
    )
    # Every page but choosing a new password sends the person there; no current password asked.
    for path in ("/home", "/contactbook/", "/auth/sessions"):
        resp = person.get(path)
        assert resp.status_code == 302 and resp.headers["Location"] == "/auth/password", path
    page = person.get("/auth/password").get_data(as_text=True)
    assert 'name="current"' not in page and "Hãy chọn mật khẩu của riêng bạn" in page
    short = person.post_form("/auth/password", {"password": "ngắn quá", "confirm": "ngắn quá"})
    assert short.status_code == 422 and 'id="password-error"' in short.get_data(as_text=True)
    ok = person.post_form("/auth/password", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert ok.status_code == 302
    assert person.get("/home").status_code == 200
    # The code worked once.
    assert (
        make_client().post_form("/auth/login", {"login": teacher.email, "password": code}).status_code == 200
    )
    make_client().login_as(teacher, NEW_PASSWORD)
    actions = [
        e.action for e in db.session.scalars(sa.select(AuditLog).where(AuditLog.target_id == str(teacher.id)))
    ]
    assert "user.activation_code" in actions and "user.activated" in actions


def test_a_new_account_must_choose_its_own_password_at_first_login(make_client, world):
    admin = make_client()
    admin.login_as(world["users"]["city_admin"])
    initial = "mật khẩu ban đầu 2026 dài"
    resp = admin.post_form(
        "/admin/users/new",
        {
            "full_name": "Lê Thị Mới",
            "email": "moi@example.edu.vn",
            "phone": "",
            "role": "teacher",
            "school_id": str(world["schools"][0].id),
            "district_id": "0",
            "password": initial,
        },
    )
    assert resp.status_code == 302, resp.get_data(as_text=True)[-600:]
    person = make_client()
    person.login("moi@example.edu.vn", initial)
    assert person.get("/home").headers["Location"] == "/auth/password"
    assert (
        person.post_form("/auth/password", {"password": NEW_PASSWORD, "confirm": NEW_PASSWORD}).status_code
        == 302
    )
    assert person.get("/home").status_code == 200
    assert not db.session.scalar(
        sa.select(User.must_change_password).where(User.email == "moi@example.edu.vn")
    )


def test_the_password_policy_is_the_forms_and_does_not_pile_up(make_client, world):
    """A staff member's change (12 characters) must not leave the staff rule on a parent's form:
    the policy used to be appended to a validator list shared by every request."""
    staff = make_client()
    staff.login_as(world["users"]["teacher"])
    nine = "abcxyz987"
    resp = staff.post_form("/auth/password", {"current": PASSWORD, "password": nine, "confirm": nine})
    assert resp.status_code == 422 and 'id="password-error"' in resp.get_data(as_text=True)
    assert "12" in resp.get_data(as_text=True)
    parent = make_client()
    parent.login_as(world["users"]["parent"])
    ok = parent.post_form("/auth/password", {"current": PASSWORD, "password": nine, "confirm": nine})
    assert ok.status_code == 302, ok.get_data(as_text=True)[-800:]


def _status_of(page: str, name: str) -> str:
    body = page.split("<tbody>")[1].split("</tbody>")[0]
    row = next(r for r in body.split("<tr>") if name in r)
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", row.split("</td>")[-2])).strip()


def test_the_list_marks_accounts_waiting_for_activation(make_client, world):
    """Created by an administrator or given a code, an account waits until its holder chooses a
    password; the list says so, and when the code handed out has expired."""
    teacher, staff = world["users"]["teacher"], world["users"]["school_staff"]
    officer = make_client()
    officer.login_as(world["users"]["district_officer"])
    before = officer.get("/admin/users").get_data(as_text=True)
    assert _status_of(before, teacher.full_name) == "Đang hoạt động"
    _issue_code(officer, teacher)
    _issue_code(officer, staff)
    db.session.get(User, staff.id).activation_expires_at = utcnow() - timedelta(minutes=1)
    db.session.commit()
    page = officer.get("/admin/users").get_data(as_text=True)
    assert _status_of(page, teacher.full_name).startswith("Chờ kích hoạt Mã có hiệu lực đến ")
    assert _status_of(page, staff.full_name) == "Chờ kích hoạt Mã kích hoạt đã hết hạn: hãy cấp mã mới."
    assert _status_of(page, world["users"]["district_officer"].full_name) == "Đang hoạt động"
