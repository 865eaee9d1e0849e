"""School staff split the incoming pupils on a phone: the automatic split into two balanced
classes, one manual move, then the confirmed step."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from contactbook.models import Enrolment, SchoolClass
from tests.factories import PASSWORD
from tests.integration.test_contactbook_intake import _setup

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)

INCOMING = "Học sinh mới"  # "Incoming pupils"
SPLIT = "Chia lớp tự động"  # "Split automatically"
MOVE = "Lưu chuyển lớp"  # "Save the moves"
CONFIRM = "Xác nhận danh sách lớp"  # "Confirm the classes"


def test_staff_split_incoming_pupils_on_a_phone(page, live_server, commit, assert_clean):
    school, following, staff, parents, children = _setup()
    commit()

    page.goto(live_server("/auth/login"))
    page.get_by_label("Số điện thoại hoặc email").fill(staff.email)
    page.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.goto(live_server(f"/contactbook/schools/{school.id}"))
    page.get_by_role("link", name=INCOMING).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(INCOMING)
    expect(page.locator(".receipt")).to_contain_text("6 học sinh mới")
    page.get_by_label("Số lớp").fill("2")
    page.get_by_role("button", name=SPLIT).click()
    expect(page.get_by_text("Đã chia 6 học sinh vào 2 lớp.")).to_be_visible()
    expect(page.get_by_role("heading", name="Lớp 1A")).to_be_visible()
    expect(page.get_by_role("heading", name="Lớp 1B")).to_be_visible()

    page.get_by_label("Lớp của Trẻ Số 1").select_option("1B")
    page.get_by_role("button", name=MOVE).click()
    expect(page.get_by_text("Đã chuyển lớp cho 1 học sinh.")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    page.get_by_role("checkbox").check()
    page.get_by_role("button", name=CONFIRM).click()
    expect(page.get_by_text("6 học sinh đã vào lớp (2 lớp)")).to_be_visible()

    db.session.expire_all()
    names = db.session.scalars(
        sa.select(SchoolClass.name)
        .where(SchoolClass.academic_year_id == following.id)
        .order_by(SchoolClass.name)
    ).all()
    assert names == ["1A", "1B"]
    assert (
        db.session.scalar(
            sa.select(sa.func.count(Enrolment.id)).where(Enrolment.academic_year_id == following.id)
        )
        == 6
    )
    assert_clean()
