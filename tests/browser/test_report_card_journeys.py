"""A parent opens the term's report card on a phone and downloads it as PDF, in headless
Chromium against the live server; the homeroom teacher confirmed the term's results first."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import utcnow
from contactbook.results_models import TermResult
from tests.browser.contactbook_helpers import at, log_in, scored_class, tr
from tests.contactbook_factories import add_grade

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)


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
    with page.expect_download() as download:
        page.get_by_role("link", name=tr("Download as PDF")).click()
    saved = tmp_path / "card.pdf"
    download.value.save_as(saved)
    assert download.value.suggested_filename.endswith(".pdf")
    assert saved.read_bytes().startswith(b"%PDF-")
    assert_clean()
