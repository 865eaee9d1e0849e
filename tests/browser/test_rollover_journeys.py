"""School staff prepare next year's classes on a phone: the preview with its
counts, a renamed class, a pupil kept back, then the confirmed step."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from app.extensions import db
from contactbook.models import Enrolment, SchoolClass
from tests.contactbook_factories import create_class, create_pupil, create_year
from tests.factories import PASSWORD, create_district, create_school, create_user

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)

NEXT_YEAR = "Lớp năm học sau"  # "Next year's classes"
UPDATE = "Cập nhật bản xem trước"  # "Update the preview"
PREPARE = "Chuẩn bị các lớp năm học sau"  # "Prepare next year's classes"
KEPT_BACK = "Ở lại lớp (mã học sinh)"  # "Kept back (pupil codes)"
TICK = "Vui lòng đánh dấu vào ô để xác nhận."  # "Tick the box to confirm."
DONE = "Đã chuẩn bị xong các lớp năm học sau: 2 lớp, 2 học sinh lên lớp, 1 học sinh ở lại lớp, 1 học sinh rời trường."


def test_staff_prepare_next_years_classes_on_a_phone(page, live_server, commit, assert_clean):
    school = create_school(create_district(), level="grade1", code="TH-A", name="Trường Tiểu học A")
    create_year("2026-2027")
    following = create_year("2027-2028", current=False)
    c1 = create_class(school, "1A")
    c5 = create_class(school, "5A")
    create_pupil(c1, code="HS001", full_name="Nguyễn Văn An")
    create_pupil(c1, code="HS002", full_name="Trần Thị Bình")
    create_pupil(c1, code="HS003", full_name="Lê Minh Châu")
    create_pupil(c5, code="HS501", full_name="Phạm Thu Hà")
    staff = create_user("school_staff", school=school, email="vanthu@a.edu.vn")
    commit()

    page.goto(live_server("/auth/login"))
    page.get_by_label("Số điện thoại hoặc email").fill(staff.email)
    page.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()
    page.goto(live_server(f"/contactbook/schools/{school.id}"))
    page.get_by_role("link", name=NEXT_YEAR).click()

    expect(page.get_by_role("heading", level=1)).to_have_text(NEXT_YEAR)
    expect(page.locator(".receipt")).to_contain_text("3 học sinh lên lớp")
    expect(page.locator(".receipt")).to_contain_text("1 học sinh rời trường")
    name = page.get_by_label("Tên lớp năm học sau (khối 2)")
    expect(name).to_have_value("2A")
    name.fill("2A1")
    page.get_by_label(KEPT_BACK).first.fill("HS002")
    page.get_by_role("button", name=UPDATE).click()
    expect(page.locator(".receipt")).to_contain_text("2 học sinh lên lớp")
    expect(page.locator(".receipt")).to_contain_text("1 học sinh ở lại lớp")
    expect(page.get_by_label("Tên lớp năm học sau (khối 2)")).to_have_value("2A1")

    page.get_by_role("button", name=PREPARE).click()  # not ticked: refused, nothing written
    expect(page.get_by_text(TICK)).to_be_visible()
    page.get_by_role("checkbox").check()
    page.get_by_role("button", name=PREPARE).click()
    expect(page.get_by_text(DONE)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    db.session.expire_all()
    names = db.session.scalars(
        sa.select(SchoolClass.name)
        .where(SchoolClass.academic_year_id == following.id)
        .order_by(SchoolClass.name)
    ).all()
    assert names == ["1A", "2A1"]
    assert (
        db.session.scalar(
            sa.select(sa.func.count(Enrolment.id)).where(Enrolment.academic_year_id == following.id)
        )
        == 3
    )
    assert_clean()
