"""A phone number belongs to whoever proves it: one-time codes by SMS
for registering, confirming and changing a phone, forgot password; the takeover of a child's
guardianship by a stranger who registered the parent's number fails."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from app import jobs
from app.auth import verification
from app.extensions import db
from app.models import AuditLog, CodePurpose, PhoneCode, User, UserSession, utcnow
from contactbook.activation import issue_code
from contactbook.models import Guardian, Pupil
from tests.contactbook_factories import classes_xlsx, create_year
from tests.factories import PASSWORD, create_district, create_school, create_user
from tests.sms import last_code, register, texts_to

NEW_PASSWORD = "mot chieu mua thu ha noi"  # noqa: S105


def _register_form(client, phone, name="Trần Thị Mẹ", password=PASSWORD):
    return client.post_form(
        "/auth/register", {"full_name": name, "phone": phone, "password": password, "confirm": password}
    )


def _count(model, *where):
    return db.session.scalar(sa.select(sa.func.count(model.id)).where(*where))


def test_the_account_exists_only_once_the_code_is_entered(client):
    resp = _register_form(client, "0912000111")
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/verify"
    assert _count(User) == 0
    page = client.get("/auth/verify").get_data(as_text=True)
    assert "091****111" in page and "0912000111" not in page
    code = last_code("0912000111")
    assert code and len(code) == 6
    row = db.session.scalar(sa.select(PhoneCode))
    assert code not in row.code_hash and code not in str(row.payload)  # stored hashed only
    assert row.expires_at - row.created_at == timedelta(minutes=10)

    wrong = "000000" if code != "000000" else "111111"
    resp = client.post_form("/auth/verify", {"code": wrong})
    assert resp.status_code == 422
    assert _count(User) == 0
    db.session.expire_all()
    assert db.session.get(PhoneCode, row.id).attempts == 1  # the wrong try was kept

    assert client.post_form("/auth/verify", {"code": code}).status_code == 302
    user = db.session.scalar(sa.select(User))
    assert user.phone == "0912000111" and user.phone_verified_at is not None
    assert client.get("/home").status_code == 200
    # Nothing is pending any more: the code page sends back to the start.
    assert client.get("/auth/verify").headers["Location"] == "/auth/register"
    assert _count(User) == 1


def test_five_wrong_codes_end_the_code_and_a_new_one_replaces_it(client):
    _register_form(client, "0912000112")
    code = last_code("0912000112")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(5):
        assert client.post_form("/auth/verify", {"code": wrong}).status_code == 422
    resp = client.post_form("/auth/verify", {"code": code})
    assert resp.status_code == 422 and _count(User) == 0
    # Ask for a new code: the earlier one stops working, the new one creates the account.
    assert client.post_form("/auth/verify/resend", {}, token_from="/auth/verify").status_code == 302
    new = last_code("0912000112")
    assert len(texts_to("0912000112")) == 2
    if new != code:
        assert client.post_form("/auth/verify", {"code": code}).status_code == 422
    assert client.post_form("/auth/verify", {"code": new}).status_code == 302
    assert _count(User) == 1


def test_a_code_expires_after_ten_minutes(client):
    _register_form(client, "0912000113")
    code = last_code("0912000113")
    db.session.execute(sa.update(PhoneCode).values(expires_at=utcnow() - timedelta(seconds=1)))
    db.session.commit()
    resp = client.post_form("/auth/verify", {"code": code})
    assert resp.status_code == 422 and _count(User) == 0


def test_registration_answers_alike_for_a_known_number(make_client):
    known = create_user("parent", phone="0912000114")
    db.session.commit()
    pages = {}
    for phone in ("0912000114", "0912000115"):
        client = make_client()
        resp = _register_form(client, phone)
        assert resp.status_code == 302 and resp.headers["Location"] == "/auth/verify"
        page = client.get("/auth/verify").get_data(as_text=True)
        pages[phone] = page.replace(phone[-3:], "XXX")
    strip = lambda p: p.split('name="csrf_token"')[0] + p.split('name="csrf_token"')[1].split(">", 1)[1]  # noqa: E731
    assert strip(pages["0912000114"]).count("XXX") == strip(pages["0912000115"]).count("XXX")
    assert "trường" not in pages["0912000114"] or "đã tạo" not in pages["0912000114"]
    # The owner of the known number is told what to do, and receives no code.
    told = texts_to("0912000114")
    assert len(told) == 1 and last_code("0912000114") is None
    assert last_code("0912000115") is not None
    db.session.refresh(known)
    assert known.password_hash is not None and _count(User) == 1


def test_codes_are_limited_per_number(make_client, app):
    app.config["CODE_LIMIT_PER_PHONE"] = "2/minute"
    answers = [_register_form(make_client(), "0912000116").status_code for _ in range(3)]
    assert answers == [302, 302, 429]
    assert _count(PhoneCode, PhoneCode.phone == "0912000116") == 2  # (with Redis the first SMS,
    # replaced by the second code before a worker ran, is rightly never sent)
    assert _register_form(make_client(), "0912000117").status_code == 302  # another number


def test_codes_are_limited_per_address(make_client, app):
    app.config["CODE_LIMIT_PER_IP"] = "2/minute"
    client = make_client()
    assert client.post_form("/auth/forgot", {"login": "0912000118"}).status_code == 302
    assert client.post_form("/auth/forgot", {"login": "0912000119"}).status_code == 302
    assert client.post_form("/auth/forgot", {"login": "0912000120"}).status_code == 429


# --- the takeover of a parent's number -----------------------------------------------------------------


def _school_imports_class(runner, tmp_path, phone):
    d = create_district()
    create_school(d, level="grade1", code="TH-A")
    create_year()
    jobs.commit()
    row = ["TH-A", "1A", "HS001", "Nguyễn Văn An", "05/03/2019", "Nam", "Nguyễn Văn Bố", phone, None]
    path = tmp_path / "classes.xlsx"
    teacher = ["TH-A", "1A", "Toán", "Phạm Thị Lan", "lan@example.edu.vn", None, "có"]
    path.write_bytes(classes_xlsx([row], [teacher]))
    result = runner.invoke(args=["contactbook", "import-classes", str(path)])
    assert result.exit_code == 0, result.output
    db.session.expire_all()
    return db.session.scalar(sa.select(Pupil).where(Pupil.pupil_code == "HS001"))


def test_a_stranger_who_registers_the_parents_number_gets_no_child(make_client, runner, tmp_path):
    phone = "0912345000"
    stranger = make_client()
    assert _register_form(stranger, phone, "Kẻ Lạ", "mat khau cua ke la").status_code == 302
    for guess in ("123456", "654321", "000000", "999999", "111111"):
        stranger.post_form("/auth/verify", {"code": guess})
    assert _count(User) == 0  # without the code sent to the parent's phone, no account

    pupil = _school_imports_class(runner, tmp_path, phone)
    account = db.session.scalar(sa.select(User).where(User.phone == phone))
    assert account.password_hash is None  # the school's account, nobody can log in to it yet
    assert (
        stranger.post_form("/auth/login", {"login": phone, "password": "mat khau cua ke la"}).status_code
        == 200
    )
    assert stranger.get(f"/contactbook/children/{pupil.id}").status_code == 302  # to the login page

    # The real parent registers the same number, enters the code the SMS brought, and sees the child.
    parent = make_client()
    register(parent, phone, "Nguyễn Văn Bố", NEW_PASSWORD)
    db.session.expire_all()
    assert _count(User, User.phone == phone) == 1
    account = db.session.scalar(sa.select(User).where(User.phone == phone))
    assert account.phone_verified_at is not None and account.full_name == "Nguyễn Văn Bố"
    assert parent.get(f"/contactbook/children/{pupil.id}").status_code == 200


def test_an_unproven_account_sees_no_child_until_the_owner_proves_the_number(make_client, runner, tmp_path):
    """An account registered before codes existed (the stranger of the issue): the class import
    links the number, but the account sees nothing until a code sent to that number is entered;
    the real owner takes the account over with "forgot password"."""
    phone = "0912345001"
    old = create_user("parent", phone=phone, full_name="Kẻ Lạ", phone_verified=False)
    db.session.commit()
    pupil = _school_imports_class(runner, tmp_path, phone)
    stranger = make_client()
    stranger.login(phone)
    for path in ("/home", f"/contactbook/children/{pupil.id}", "/contactbook/children", "/notifications/"):
        resp = stranger.get(path)
        assert resp.status_code == 302 and resp.headers["Location"] == "/auth/confirm-phone", path
    page = stranger.get("/auth/confirm-phone").get_data(as_text=True)
    assert "091****001" in page and "Nguyễn Văn An" not in page

    owner = make_client()
    assert owner.post_form("/auth/forgot", {"login": phone}).status_code == 302
    code = last_code(phone)
    resp = owner.post_form("/auth/reset", {"code": code, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert resp.status_code == 302, resp.get_data(as_text=True)[-800:]
    assert owner.get(f"/contactbook/children/{pupil.id}").status_code == 200
    # The stranger's session ended and the old password no longer opens the account.
    assert stranger.get("/home").headers["Location"].startswith("/auth/login")
    assert stranger.post_form("/auth/login", {"login": phone, "password": PASSWORD}).status_code == 200
    db.session.refresh(old)
    assert old.phone_verified_at is not None
    assert _count(Guardian, Guardian.user_id == old.id) == 1


def test_an_unproven_parent_confirms_the_phone_with_a_code(client):
    parent = create_user("parent", phone="0912345002", phone_verified=False)
    db.session.commit()
    client.login_as(parent)
    assert client.get("/contactbook/children").headers["Location"] == "/auth/confirm-phone"
    resp = client.post_form("/auth/confirm-phone", {})
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/verify"
    assert client.post_form("/auth/verify", {"code": last_code("0912345002")}).status_code == 302
    assert client.get("/home").status_code == 200
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.phone_verified")) is not None


# --- changing a phone ---------------------------------------------------------------------------


def test_a_new_phone_holds_only_once_its_code_is_entered(client, make_client):
    parent = create_user("parent", phone="0912345003")
    db.session.commit()
    other_device = make_client()
    other_device.login_as(parent)
    client.login_as(parent)
    wrong_password = {"phone": "0912345004", "password": "not my password"}
    assert client.post_form("/auth/phone", wrong_password).status_code == 422
    resp = client.post_form("/auth/phone", {"phone": "0912345004", "password": PASSWORD})
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/verify"
    db.session.refresh(parent)
    assert parent.phone == "0912345003"  # not before the code
    assert client.post_form("/auth/verify", {"code": last_code("0912345004")}).status_code == 302
    db.session.refresh(parent)
    assert parent.phone == "0912345004" and parent.phone_verified_at is not None
    assert client.get("/home").status_code == 200
    assert other_device.get("/home").status_code == 302  # other sessions ended


def test_changing_to_a_number_with_an_account_sends_no_code(client):
    parent = create_user("parent", phone="0912345005")
    create_user("parent", phone="0912345006")
    db.session.commit()
    client.login_as(parent)
    assert client.post_form("/auth/phone", {"phone": "0912345006", "password": PASSWORD}).status_code == 302
    assert last_code("0912345006") is None and len(texts_to("0912345006")) == 1
    db.session.refresh(parent)
    assert parent.phone == "0912345005"


# --- forgot password ----------------------------------------------------------------------------


def test_staff_recover_a_password_by_sms_and_other_sessions_end(make_client):
    teacher = create_user("teacher", phone="0987000111")
    db.session.commit()
    laptop = make_client()
    laptop.login_as(teacher)
    phone = make_client()
    resp = phone.post_form("/auth/forgot", {"login": teacher.email})
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/reset"
    code = last_code("0987000111")
    short = {"code": code, "password": "short pass", "confirm": "short pass"}
    assert phone.post_form("/auth/reset", short).status_code == 422  # staff: 12 characters or more
    resp = phone.post_form("/auth/reset", {"code": code, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert resp.status_code == 302
    assert phone.get("/home").status_code == 200
    assert laptop.get("/home").status_code == 302
    assert _count(UserSession) == 1
    assert (
        make_client().post_form("/auth/login", {"login": teacher.email, "password": PASSWORD}).status_code
        == 200
    )
    make_client().login(teacher.email, NEW_PASSWORD)
    assert db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "user.password_reset")) is not None


def test_forgot_password_answers_alike_for_unknown_logins(make_client):
    create_user("parent", phone="0912345007")
    db.session.commit()
    for login in ("0912345007", "0912345008", "nobody@example.vn"):
        resp = make_client().post_form("/auth/forgot", {"login": login})
        assert resp.status_code == 302 and resp.headers["Location"] == "/auth/reset", login
    assert last_code("0912345007") is not None
    assert len(texts_to("0912345008")) == 1 and last_code("0912345008") is None  # "no account" SMS
    rows = db.session.scalars(sa.select(PhoneCode).order_by(PhoneCode.id)).all()
    assert [r.purpose for r in rows] == [CodePurpose.RESET] * 3


def test_a_wrong_reset_code_changes_nothing(client):
    parent = create_user("parent", phone="0912345009")
    db.session.commit()
    client.post_form("/auth/forgot", {"login": parent.phone})
    code = last_code(parent.phone)
    wrong = "000000" if code != "000000" else "111111"
    resp = client.post_form("/auth/reset", {"code": wrong, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD})
    assert resp.status_code == 422
    client.login(parent.phone, PASSWORD)  # the old password still works


def test_the_sms_job_sends_nothing_for_a_code_replaced_before_it_ran(app):
    with app.test_request_context():
        row = verification.issue(CodePurpose.REGISTER, "0912345010", sms=None)
        verification.issue(CodePurpose.REGISTER, "0912345010", sms=None)
        jobs.commit()
        verification.send_code_sms(row.id, "0912345010", "123456 test")
    assert texts_to("0912345010") == []


def test_the_schools_printed_code_proves_the_number(client, runner, tmp_path):
    pupil = _school_imports_class(runner, tmp_path, "0912345011")
    account = db.session.scalar(sa.select(User).where(User.phone == "0912345011"))
    code = issue_code(account)
    jobs.commit()
    resp = client.post_form(
        "/contactbook/activate",
        {"login": "0912345011", "code": code, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD},
    )
    assert resp.status_code == 302
    assert client.get(f"/contactbook/children/{pupil.id}").status_code == 200
    db.session.refresh(account)
    assert account.phone_verified_at is not None


def test_an_unproven_account_cannot_move_to_a_number_of_its_own(client, runner, tmp_path):
    """A stranger holding a parent's number from before the codes must not prove another number
    and keep the children the school linked to the parent's."""
    phone = "0912345012"
    create_user("parent", phone=phone, phone_verified=False)
    db.session.commit()
    pupil = _school_imports_class(runner, tmp_path, phone)
    client.login(phone)
    resp = client.post_form(
        "/auth/phone", {"phone": "0912345013", "password": PASSWORD}, token_from="/auth/confirm-phone"
    )
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/confirm-phone"
    assert texts_to("0912345013") == []
    assert client.get(f"/contactbook/children/{pupil.id}").status_code == 302


def test_a_reset_code_can_be_sent_again(client):
    parent = create_user("parent", phone="0912345014")
    db.session.commit()
    client.post_form("/auth/forgot", {"login": parent.phone})
    first = last_code(parent.phone)
    resp = client.post_form("/auth/verify/resend", {}, token_from="/auth/reset")
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/reset"
    second = last_code(parent.phone)
    assert len(texts_to(parent.phone)) == 2
    if second != first:
        bad = {"code": first, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
        assert client.post_form("/auth/reset", bad).status_code == 422
    good = {"code": second, "password": NEW_PASSWORD, "confirm": NEW_PASSWORD}
    assert client.post_form("/auth/reset", good).status_code == 302


def test_a_code_entered_after_the_school_imported_the_number_claims_the_schools_account(
    client, runner, tmp_path
):
    phone = "0912345015"
    _register_form(client, phone, "Nguyễn Văn Bố", NEW_PASSWORD)
    code = last_code(phone)
    pupil = _school_imports_class(runner, tmp_path, phone)  # between the SMS and the code
    assert client.post_form("/auth/verify", {"code": code}).status_code == 302
    assert _count(User, User.phone == phone) == 1
    assert client.get(f"/contactbook/children/{pupil.id}").status_code == 200


def test_forgot_password_by_email_and_by_number_share_the_numbers_limit(make_client, app):
    app.config["CODE_LIMIT_PER_PHONE"] = "2/minute"
    teacher = create_user("teacher", phone="0987000112")
    db.session.commit()
    answers = [
        make_client().post_form("/auth/forgot", {"login": login}).status_code
        for login in (teacher.email, "0987000112", teacher.email.upper())
    ]
    assert answers == [302, 302, 429]
    assert _count(PhoneCode, PhoneCode.phone == "0987000112") == 2


def test_a_numbers_old_codes_are_deleted_and_a_used_code_keeps_no_password_hash(client):
    _register_form(client, "0912345016")
    row = db.session.scalar(sa.select(PhoneCode))
    row.created_at -= timedelta(days=2)
    db.session.commit()
    _register_form(client, "0912345016")  # a new code: the two-day-old row goes
    db.session.expire_all()
    rows = db.session.scalars(sa.select(PhoneCode)).all()
    assert len(rows) == 1 and rows[0].created_at > utcnow() - timedelta(hours=1)
    assert client.post_form("/auth/verify", {"code": last_code("0912345016")}).status_code == 302
    db.session.expire_all()
    assert "password_hash" not in db.session.get(PhoneCode, rows[0].id).payload


def test_the_language_chosen_before_registering_stays(client):
    client.post_form("/lang", {"lang": "en"}, token_from="/auth/register")
    _register_form(client, "0912345017")
    client.post_form("/auth/verify", {"code": last_code("0912345017")})
    assert "Log out" in client.get("/home").get_data(as_text=True)


def test_an_unproven_parent_adds_no_child_in_admissions(client):
    parent = create_user("parent", phone="0912345018", phone_verified=False)
    db.session.commit()
    client.login_as(parent)
    for path in ("/children/", "/children/add"):
        resp = client.get(path)
        assert resp.status_code == 302 and resp.headers["Location"] == "/auth/confirm-phone", path
    token = client.csrf("/auth/confirm-phone")
    resp = client.post("/children/add", data={"csrf_token": token, "code": "ABCD-EFGH"})
    assert resp.status_code == 302 and resp.headers["Location"] == "/auth/confirm-phone"


def test_a_code_entered_twice_at_once_creates_one_account(client, app):
    # A double click: both requests loaded the unused code; the one that uses it second is
    # told the code is no longer valid (the UPDATE takes a code only while it is unused).
    _register_form(client, "0912345019")
    code = last_code("0912345019")
    row_id = db.session.scalar(sa.select(PhoneCode.id).where(PhoneCode.phone == "0912345019"))
    with app.test_request_context():
        row, holder = verification.pending_with_holder(row_id)
        assert holder is None
        db.session.execute(sa.update(PhoneCode).where(PhoneCode.id == row_id).values(used_at=utcnow()))
        try:
            verification.finish_registration(row, code, holder)
        except verification.CodeError as err:
            assert err.reason == "expired"
        else:
            raise AssertionError("a used code was taken again")
        db.session.rollback()
    assert _count(User, User.phone == "0912345019") == 0
