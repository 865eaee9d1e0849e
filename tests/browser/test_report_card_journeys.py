"""A parent opens the term's report card on a phone and downloads it as PDF, in headless
Chromium against the live server; the homeroom teacher confirmed the term's results first. The
same for a kindergarten child's term report (no grades)."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import utcnow
from contactbook.kindergarten_models import DevelopmentEvaluation
from contactbook.results_models import TermResult
from tests.browser.contactbook_helpers import at, log_in, scored_class, tr
from tests.contactbook_factories import (
    add_grade,
    assign,
    create_class,
    create_pupil,
    create_school,
    create_subject,
    create_user,
    terms_of,
)
from tests.pdftext import pdf_text

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)


def _download_pdf(page, tmp_path) -> bytes:
    """Tap "Download as PDF" and read the file the browser saved."""
    with page.expect_download() as download:
        page.get_by_role("link", name=tr("Download as PDF")).click()
    saved = tmp_path / "download.pdf"
    download.value.save_as(saved)
    assert download.value.suggested_filename.endswith(".pdf")
    return saved.read_bytes()


def test_a_parent_downloads_the_report_card_on_a_phone(page, live_server, commit, assert_clean, tmp_path):
    w = scored_class()
    term = w.terms[0]
    for p in w.pupils:
        for i, v in enumerate(("8", "9", "7"), start=1):
            add_grade(p, w.math, term, "regular", v, seq=i)
        add_grade(p, w.math, term, "midterm", "8")
        add_grade(p, w.math, term, "endterm", "9")
    db.session.add(
        TermResult(
            pupil_id=w.child.id,
            class_id=w.cls.id,
            period="1",
            learning="T",
            conduct="T",
            confirmed_at=utcnow(),
            confirmed_by_id=w.teacher.id,
        )
    )
    commit()
    log_in(page, live_server, w.parent)
    page.goto(live_server(f"/contactbook/children/{w.child.id}?term={term.id}"))
    page.get_by_role("link", name=tr("Report card"), exact=True).click()
    expect(page).to_have_url(at(f"/contactbook/children/{w.child.id}/report-card"))
    card = page.locator("article.card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text(w.child.full_name)
    expect(card).to_contain_text("8.4")  # (8 + 9 + 7 + 2 × 8 + 3 × 9) / 8 = 67 / 8 → 8.4
    expect(card.get_by_role("row", name=tr("Learning"))).to_contain_text("Tốt")
    # Fits the phone: no sideways scrolling of the page.
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert _download_pdf(page, tmp_path).startswith(b"%PDF-")
    assert_clean()


def test_a_parent_downloads_the_kindergarten_term_report_on_a_phone(
    page, live_server, commit, assert_clean, tmp_path
):
    school = create_school(level="kindergarten", name="Trường Mầm non Hoa Sen")
    teacher = create_user("teacher", school=school, full_name="Trần Thị Mai")
    parent = create_user("parent", phone="0912000333", full_name="Đỗ Văn Nam")
    cls = create_class(school, "0MG5A", homeroom=teacher)  # the factory reads the grade in front
    cls.name = "MG5A"
    child = create_pupil(cls, guardians=[parent], full_name="Đỗ Bé Ngọc")
    term = terms_of(cls)[0]
    db.session.add(
        DevelopmentEvaluation(
            pupil_id=child.id, term_id=term.id, domain="language", result="D", comment="Kể chuyện mạch lạc"
        )
    )
    commit()
    log_in(page, live_server, parent)
    page.goto(live_server(f"/contactbook/children/{child.id}?term={term.id}"))
    page.get_by_role("link", name=tr("Term report"), exact=True).click()
    expect(page).to_have_url(at(f"/contactbook/children/{child.id}/kindergarten-report"))
    card = page.locator("article.card")
    expect(card).to_have_count(1)
    expect(card).to_contain_text(child.full_name)
    expect(card.get_by_role("row", name=tr("Language and communication"))).to_contain_text(
        "Kể chuyện mạch lạc"
    )
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert child.full_name in pdf_text(_download_pdf(page, tmp_path))
    assert_clean()


def test_a_primary_teacher_assesses_with_the_keyboard_and_the_family_reads_the_report_card(
    page, live_server, commit, assert_clean
):
    """Class 1A on a phone: the homeroom teacher sets a pupil's qualities and competences at the
    end of the year from the keyboard alone (type the level's letter, Tab to the next), saves, and
    the family finds them on the report card of term 2."""
    school = create_school(level="grade1", name="Trường Tiểu học Thành Công")
    teacher = create_user(
        "teacher", school=school, full_name="Nguyễn Thị Lan", email="lan.nt@th.example.edu.vn"
    )
    parent = create_user("parent", phone="0912000333", full_name="Phạm Văn Hùng")
    cls = create_class(school, "1A", homeroom=teacher)
    assign(teacher, cls, create_subject(school, 1, "Toán", has_test=True))
    create_pupil(cls, full_name="Đỗ Minh An", guardians=[create_user("parent")])
    child = create_pupil(cls, full_name="Lê Thu Bình", guardians=[parent])
    term2 = terms_of(cls)[1]
    commit()
    log_in(page, live_server, teacher)
    page.goto(live_server(f"/contactbook/classes/{cls.id}/qualities?point=cn"))
    # Short headings on a phone; the full names are the columns' names for screen readers.
    heading = page.get_by_role("columnheader", name="Giải quyết vấn đề và sáng tạo", exact=True)
    expect(heading).to_have_attribute("title", "Giải quyết vấn đề và sáng tạo")
    assert page.locator(".qc-grid thead").bounding_box()["height"] < 100
    first = page.get_by_label(f"{child.full_name} — Yêu nước", exact=True)
    first.focus()
    for key in ["c", *["t"] * 14]:  # Cần cố gắng, then Tốt for the fourteen others
        page.keyboard.press(key)
        page.keyboard.press("Tab")
    page.keyboard.type("Con cần mạnh dạn hơn khi phát biểu.")
    page.keyboard.press("Enter")  # in the grid Enter never submits the whole class
    expect(page.locator(".flash")).to_have_count(0)
    page.get_by_role("button", name=tr("Save %(point)s", point="Cuối năm học")).click()
    expect(page.locator(".flash-success")).to_be_visible()
    expect(page.get_by_label(f"{child.full_name} — Yêu nước", exact=True)).to_have_value("C")
    expect(page.get_by_label(f"{child.full_name} — Thể chất", exact=True)).to_have_value("T")

    page.context.clear_cookies()
    log_in(page, live_server, parent)
    page.goto(live_server(f"/contactbook/children/{child.id}/report-card?term={term2.id}"))
    card = page.locator("article.card")
    expect(card.get_by_role("row", name="Yêu nước")).to_contain_text("Cần cố gắng")
    expect(card.get_by_role("row", name="Tính toán")).to_contain_text("Tốt")
    expect(card).to_contain_text("Con cần mạnh dạn hơn khi phát biểu.")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_clean()
