"""The city administrator starts the school years: creates the first year on a new
installation, then the next one, and makes it current, on a phone and on a desktop, in Vietnamese."""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.extensions import db
from app.models import AcademicYear
from tests.factories import PASSWORD, create_user

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)

YEARS = "Năm học"  # "Academic years" (home card, heading) and "Academic year" (the name field)
NEW_YEAR = "Năm học mới"  # "New academic year"
NO_YEAR = "Chưa có năm học hiện tại"  # "There is no current academic year yet…"
FIRST_DAY = "Ngày bắt đầu"  # "First day"
LAST_DAY = "Ngày kết thúc"  # "Last day"
MAKE_CURRENT_NOW = "Đặt làm năm học hiện tại ngay"  # "Make it the current year now"
CREATE = "Tạo năm học"  # "Create the year"
CREATED = "Đã tạo năm học {}."  # "The academic year %(name)s has been created."
CURRENT = "Năm học hiện tại: {}."  # "Current academic year: %(name)s."
MAKE_CURRENT = "Đặt làm hiện tại {}"  # "Make current" + the year's name (visually hidden)
NOW_CURRENT = "{} nay là năm học hiện tại."  # "%(name)s is now the current academic year."
PAST = "Đã qua: vẫn lưu, chỉ xem"  # "Past: kept, read only"
OVERLAP = "Khoảng thời gian này trùng với một năm học khác."  # "These dates overlap another year."


@pytest.mark.parametrize("width", [390, 1280])
def test_admin_creates_the_first_year_then_the_next_and_switches(
    page, live_server, commit, assert_clean, width
):

    page.set_viewport_size({"width": width, "height": 844})
    admin = create_user("city_admin", email="admin@so.edu.vn", full_name="Nguyễn Quản Trị")
    commit()
    page.goto(live_server("/auth/login"))
    page.get_by_label("Số điện thoại hoặc email").fill(admin.email)
    page.get_by_label("Mật khẩu", exact=True).fill(PASSWORD)
    page.get_by_role("button", name="Đăng nhập").click()

    page.get_by_role("link", name=YEARS, exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(YEARS)
    expect(page.get_by_text(NO_YEAR)).to_be_visible()

    page.get_by_role("link", name=NEW_YEAR).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(NEW_YEAR)
    page.get_by_label(YEARS, exact=True).fill("2027-2028")
    page.get_by_label(FIRST_DAY, exact=True).fill("2027-09-05")
    page.get_by_label(LAST_DAY, exact=True).fill("2028-05-31")
    page.get_by_label(MAKE_CURRENT_NOW).check()
    page.get_by_role("button", name=CREATE).click()
    expect(page.get_by_text(CREATED.format("2027-2028"))).to_be_visible()
    expect(page.get_by_text(CURRENT.format("2027-2028"))).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("2027-2028"))).to_contain_text("16/01/2028")

    # The next year is proposed a year later to the day; a mistyped start is refused in place.
    page.get_by_role("link", name=NEW_YEAR).click()
    expect(page.get_by_label(YEARS, exact=True)).to_have_value("2028-2029")
    expect(page.get_by_label(FIRST_DAY, exact=True)).to_have_value("2028-09-05")
    page.get_by_label(FIRST_DAY, exact=True).fill("2028-05-20")
    page.get_by_label(LAST_DAY, exact=True).fill("2029-05-15")
    page.get_by_role("button", name=CREATE).click()
    expect(page.get_by_text(OVERLAP)).to_be_visible()
    page.get_by_label(FIRST_DAY, exact=True).fill("2028-09-05")
    page.get_by_label(LAST_DAY, exact=True).fill("2029-05-31")
    page.get_by_role("button", name=CREATE).click()
    expect(page.get_by_text(CREATED.format("2028-2029"))).to_be_visible()
    expect(page.get_by_text(CURRENT.format("2027-2028"))).to_be_visible()

    # Switching asks first, then keeps last year listed as past.
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name=MAKE_CURRENT.format("2028-2029")).click()
    expect(page.get_by_text(NOW_CURRENT.format("2028-2029"))).to_be_visible()
    expect(page.get_by_role("row", name=re.compile("2027-2028"))).to_contain_text(PAST)
    assert page.evaluate("document.documentElement.scrollWidth") <= width

    db.session.expire_all()
    current = db.session.scalars(sa.select(AcademicYear.name).where(AcademicYear.is_current)).all()
    assert current == ["2028-2029"]
    assert_clean()
