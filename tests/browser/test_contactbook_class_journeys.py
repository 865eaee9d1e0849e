"""Contact book journeys of a class on phones, in headless Chromium, against the live server:
staff import the class list, print the codes and a guardian activates her account on her phone;
the homeroom teacher marks attendance with one thumb; a too-large attachment is refused in the
page with the text kept. Every journey ends with `assert_clean()` (no console error, page error
or Content-Security-Policy violation). The grade journeys are in test_contactbook_journeys.py.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from app.models import User
from contactbook.models import Attendance, Message, Pupil
from tests.browser.contactbook_helpers import (
    at,
    log_in,
    scored_class,
    tr,
)
from tests.contactbook_factories import classes_xlsx, create_year
from tests.factories import create_school
from tests.factories import create_user as make_user

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)


def test_staff_import_the_class_list_print_codes_and_a_guardian_activates_on_her_phone(
    page, extra_phone, live_server, commit, db, drain, tmp_path, assert_clean
):
    """The school's first day with the contact book: the office uploads classes.xlsx, prints the
    class's activation sheet, and a mother types her code on her phone, chooses a password and
    finds her child. The code does not work twice."""

    school = create_school(level="grade1", code="TH-THANHCONG", name="Trường Tiểu học Thành Công")
    create_year()
    staff = make_user("school_staff", school=school, full_name="Lê Văn Thư")
    commit()
    workbook = tmp_path / "classes.xlsx"
    workbook.write_bytes(
        classes_xlsx(
            [
                [
                    "TH-THANHCONG",
                    "1A",
                    "HS0001",
                    "Trần Minh An",
                    "05/03/2019",
                    "Nam",
                    "Ngô Thị Mai",
                    "0912333444",
                    None,
                ],
                [
                    "TH-THANHCONG",
                    "1A",
                    "HS0002",
                    "Lý Gia Bảo",
                    "11/09/2019",
                    "Nam",
                    "Lý Văn Cường",
                    "0912333555",
                    None,
                ],
            ],
            [["TH-THANHCONG", "1A", "Toán", "Phạm Thị Lan", "lan.tc@example.edu.vn", None, "có"]],
        )
    )

    log_in(page, live_server, staff)
    page.goto(live_server("/contactbook/import"))
    page.get_by_label(tr("Workbook classes.xlsx")).set_input_files(str(workbook))
    page.get_by_role("button", name=tr("Check and import")).click()
    expect(page).to_have_url(re.compile(r"/contactbook/import/\d+$"))
    drain()  # with Redis, a real worker; in-process the import already ran at the commit
    expect(page.locator(".flash-success").first).to_contain_text(
        tr(
            "%(rows)d rows imported: created %(created)d, updated %(updated)d, unchanged %(unchanged)d.",
            rows=3,
            created=3,
            updated=0,
            unchanged=0,
        )
    )

    page.goto(live_server("/contactbook/"))
    page.get_by_role("link", name="1A", exact=True).click()
    expect(page.get_by_role("row").filter(has_text="Trần Minh An")).to_contain_text(
        "Ngô Thị Mai (091****444, " + tr("not activated") + ")"
    )
    page.once("dialog", lambda dialog: dialog.accept())  # "codes printed earlier stop working"
    page.get_by_role("button", name=tr("Print activation codes for guardians")).click()
    row = page.get_by_role("row").filter(has_text="Trần Minh An")
    expect(row.locator("strong")).to_have_text(re.compile(r"^[A-Z2-9]{4}-[A-Z2-9]{4}$"))
    code = row.locator("strong").inner_text()
    expect(page.get_by_text("0912333444")).to_have_count(0)  # phones masked on paper

    mother = extra_phone()
    mother.goto(live_server("/contactbook/activate"))
    mother.get_by_label(tr("Phone number or email")).fill("0912 333 444")
    mother.get_by_label(tr("Activation code")).fill(code.lower())
    mother.get_by_label(tr("Choose a password")).fill("con yeu di hoc vui")
    mother.get_by_label(tr("Repeat the password")).fill("con yeu di hoc vui")
    mother.get_by_label(tr("I have read the privacy notice and agree to this processing.")).check()
    mother.get_by_role("button", name=tr("Activate")).click()
    an = db.session.scalar(sa.select(Pupil.id).where(Pupil.pupil_code == "HS0001"))
    expect(mother).to_have_url(at(f"/contactbook/children/{an}"))
    expect(mother.get_by_role("heading", level=1)).to_have_text("Trần Minh An")
    expect(mother.locator(".flash-success")).to_have_text(tr("Your account is ready. Welcome!"))

    # The same code a second time (someone found the slip): refused.
    mother.get_by_role("button", name=re.compile(tr("Log out"), re.I)).click()
    mother.goto(live_server("/contactbook/activate"))
    mother.get_by_label(tr("Phone number or email")).fill("0912333444")
    mother.get_by_label(tr("Activation code")).fill(code)
    mother.get_by_label(tr("Choose a password")).fill("mat khau cua nguoi khac")
    mother.get_by_label(tr("Repeat the password")).fill("mat khau cua nguoi khac")
    mother.get_by_label(tr("I have read the privacy notice and agree to this processing.")).check()
    mother.get_by_role("button", name=tr("Activate")).click()
    expect(
        mother.get_by_text(
            tr(
                "This phone number or email and code do not match, or the code has expired or "
                "been used. Ask the school for a new code."
            )
        )
    ).to_be_visible()
    expect(mother).to_have_url(at("/contactbook/activate"))
    db.session.rollback()
    assert db.session.scalar(sa.select(User.password_hash).where(User.phone == "0912333444"))
    assert_clean()


def test_homeroom_teacher_marks_attendance_with_one_thumb_on_a_phone(
    page, live_server, commit, db, assert_clean
):
    """One row per pupil; every status a tap target of at least 44 px that nothing covers;
    "everybody present" first, then one tap for the late pupil; saved as tapped."""

    world = scored_class()
    commit()
    assert page.viewport_size["width"] <= 414
    log_in(page, live_server, world.teacher)
    page.goto(live_server(f"/contactbook/classes/{world.cls.id}/attendance"))
    everybody = page.get_by_role("button", name=tr("Everybody present"))
    rows = page.locator(".attendance-row")
    expect(rows).to_have_count(len(world.pupils))
    assert everybody.bounding_box()["y"] < rows.first.bounding_box()["y"]  # the first thing to tap
    for label in page.locator(".attendance-choice span").all():
        box = label.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 60, box
        assert box["x"] >= 0 and box["x"] + box["width"] <= page.viewport_size["width"], box
        # Nothing covers the target (the old sticky name column covered the status controls).
        covered = (
            page.evaluate(
                "([x, y]) => { const e = document.elementFromPoint(x, y); return e && e.closest('.attendance-choice') ? '' : (e ? e.className : 'none'); }",
                [box["x"] + box["width"] / 2, box["y"] + box["height"] / 2],
            )
            if box["y"] < page.viewport_size["height"]
            else ""
        )
        assert covered == "", covered
    everybody.click()
    late = rows.nth(2).get_by_text(tr("Late"), exact=True)
    late.scroll_into_view_if_needed()
    late.click()
    rows.nth(2).get_by_role("textbox").fill("xe hỏng")
    page.get_by_role("button", name=tr("Save attendance")).click()
    expect(page.locator(".flash-success")).to_be_visible()
    marks = {a.pupil_id: (a.status, a.note) for a in db.session.scalars(sa.select(Attendance))}
    assert marks[world.pupils[2].id] == ("late", "xe hỏng")
    assert [marks[p.id][0] for i, p in enumerate(world.pupils) if i != 2] == ["present"] * 3
    expect(rows.nth(2).locator("input[value=late]")).to_be_checked()
    assert_clean()


def test_a_too_large_attachment_is_refused_in_the_page_and_the_text_stays(
    page, live_server, commit, db, tmp_path, assert_clean
):
    """A 6 MB photo is refused before anything is sent, with the typed message still there; a
    small PDF is sent and shows its real size (not '0 KB')."""

    world = scored_class()
    commit()
    big = tmp_path / "anh-lon.jpg"
    big.write_bytes(b"\xff\xd8\xff\xe0" + b"0" * (6 * 1024 * 1024))
    small = tmp_path / "giay-khen.pdf"
    small.write_bytes(b"%PDF-1.4\n" + b"x" * 300 + b"\n%%EOF\n")
    log_in(page, live_server, world.teacher)
    page.goto(live_server(f"/contactbook/pupils/{world.child.id}/messages/new"))
    body = page.locator("textarea[name=body]")
    body.fill("Chào anh, cháu Bình học rất tiến bộ.")
    files = page.locator("input[type=file][name=files]")
    files.set_input_files(str(big))
    expect(page.get_by_role("alert").filter(has_text="anh-lon.jpg")).to_be_visible()
    page.get_by_role("button", name=tr("Send")).click()
    expect(page).to_have_url(re.compile(r"/messages/new$"))  # nothing was sent
    expect(body).to_have_value("Chào anh, cháu Bình học rất tiến bộ.")
    assert db.session.scalar(sa.select(sa.func.count(Message.id))) == 0

    files.set_input_files(str(small))
    expect(page.get_by_role("alert").filter(has_text="anh-lon.jpg")).to_have_count(0)
    page.get_by_role("button", name=tr("Send")).click()
    expect(page).to_have_url(re.compile(r"/contactbook/threads/\d+"))
    expect(page.get_by_text("(316 B)")).to_be_visible()
    assert_clean()
