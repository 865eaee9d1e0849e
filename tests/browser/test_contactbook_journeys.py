"""Contact book journeys on phones, in headless Chromium, against the live server.

A teacher enters a whole column of grades from the keyboard, corrects what the grade book
refuses, saves a draft and publishes; the family reads the published grades with the term
average of Circular 22/2021, answers the teacher's message (read receipts both ways), and sees a
published grade that was changed, with the teacher's reason.

The teacher and the parent each have their own phone (browser context), at the same time.
Texts are looked up in the compiled Vietnamese catalog with `tr()` (contactbook_helpers), so a
string not translated yet is matched in English as the page shows it; form fields are found by
their name attribute, label or role. Every journey ends with `assert_clean()`: no console error,
page error or Content-Security-Policy violation on either phone.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from app.models import AuditLog
from contactbook.models import GradeChange, Message, MessageThread
from tests.browser.contactbook_helpers import (
    at,
    grade_cell,
    grades_of,
    log_in,
    open_term,
    scored_class,
    tr,
)
from tests.contactbook_factories import add_grade, assign, create_subject

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)

# The child's term-1 Toán scores and their Circular 22 term average:
# (8.5 + 7.5 + 9 + 2 × 6 + 3 × 7) / (3 + 5) = 58 / 8 = 7.25 → 7.3 (half-up; a float round() gives 7.2).
CHILD_SCORES = {
    ("regular", 1): "8.5",
    ("regular", 2): "7.5",
    ("regular", 3): "9",
    ("midterm", 1): "6",
    ("endterm", 1): "7",
}
CHILD_AVERAGE = "7.3"


def hanoi_day(utc: datetime) -> str:
    """A stored (naive UTC) time as the day the page shows: the date in Hanoi."""
    return utc.replace(tzinfo=UTC).astimezone(ZoneInfo("Asia/Ho_Chi_Minh")).strftime("%d/%m/%Y")


def _open_contact_book(page) -> None:
    page.get_by_role("link", name=tr("Contact book: grades, attendance, messages")).click()


def _open_grade_book(page, world, term: int = 1) -> None:
    """From /home, as the teacher taps through: contact book → her classes → the grade book."""
    _open_contact_book(page)
    expect(page).to_have_url(at("/contactbook/teach"))
    page.get_by_role("link", name=tr("Grade book: %(subject)s", subject=world.math.name)).click()
    expect(page).to_have_url(at(f"/contactbook/classes/{world.cls.id}/grades/{world.math.id}"))
    open_term(page, term)
    expect(page.get_by_role("heading", level=1)).to_have_text(
        f"{world.math.name} · {tr('Class %(name)s', name=world.cls.name)}"
    )


def _open_child_page(page, world, term: int = 1) -> None:
    """From /home: contact book → (one child) straight to the child's page → the term."""
    _open_contact_book(page)
    expect(page).to_have_url(at(f"/contactbook/children/{world.child.id}"))
    expect(page.get_by_role("heading", level=1)).to_have_text(world.child.full_name)
    open_term(page, term)


def _math_row(page):
    """The child page's row of Toán: [subject + teacher] [assessments] [term result]."""
    return page.get_by_role("row").filter(has=page.get_by_role("rowheader").filter(has_text="Toán"))


def _publish_child_scores(world, *, endterm: str = CHILD_SCORES[("endterm", 1)]) -> None:
    term1 = world.terms[0]
    for (kind, seq), value in CHILD_SCORES.items():
        add_grade(world.child, world.math, term1, kind, endterm if kind == "endterm" else value, seq=seq)
    for pupil, value in zip(
        (world.pupils[0], world.pupils[2], world.pupils[3]), ("9", "6.5", "8"), strict=True
    ):
        add_grade(pupil, world.math, term1, "regular", value)


# ---------------------------------------------------------------------------------------------


def test_teacher_types_a_column_corrects_errors_saves_a_draft_then_publishes(
    page, extra_phone, live_server, commit, db, run_jobs, assert_clean
):
    world = scored_class()
    an, binh, chi, dung = world.pupils
    commit()

    # The family is logged in on their own phone all along.
    family = extra_phone()
    log_in(family, live_server, world.parent)
    notif = family.locator("header a.notif-link")
    expect(notif).to_have_text(tr("Notifications (%(n)d)", n=0))

    log_in(page, live_server, world.teacher)
    _open_grade_book(page, world)
    grid = page.locator("table[data-grid]")
    expect(grid.locator("thead th")).to_have_text(
        ["#", tr("Pupil"), "TX1", "TX2", "TX3", "GK", "CK", tr("Term average")]
    )
    expect(grid.locator("tbody th[scope=row]")).to_have_text([p.full_name for p in world.pupils])
    expect(grade_cell(page, an)).to_have_attribute("inputmode", "decimal")

    # Column TX1 from the keyboard: type, Enter moves down (the form is not submitted).
    grade_cell(page, an).click()
    for pupil, typed in ((an, "9"), (binh, "8,5"), (chi, "11"), (dung, "7,25")):
        expect(grade_cell(page, pupil)).to_be_focused()
        page.keyboard.type(typed)
        page.keyboard.press("Enter")
    expect(grade_cell(page, dung)).to_be_focused()  # last row: Enter stays put
    expect(page).to_have_url(at(f"/contactbook/classes/{world.cls.id}/grades/{world.math.id}"))
    # The child's row with Tab: TX2, TX3, GK, CK.
    grade_cell(page, binh, "regular", 2).click()
    for kind, seq in (("regular", 2), ("regular", 3), ("midterm", 1), ("endterm", 1)):
        expect(grade_cell(page, binh, kind, seq)).to_be_focused()
        page.keyboard.type(CHILD_SCORES[(kind, seq)])
        page.keyboard.press("Tab")
    expect(grade_cell(page, chi)).to_be_focused()  # Tab goes on to the next row

    page.get_by_role("button", name=tr("Save draft")).click()

    # Refused: each bad cell says why, beside it; what was typed is kept; nothing is stored.
    summary = page.locator(".error-summary")
    expect(summary).to_have_text(tr("Nothing was saved. Correct the %(n)d highlighted cells.", n=2))
    expect(summary).to_be_focused()
    for pupil, typed, message in (
        (chi, "11", "Enter a score from 0 to 10."),
        (dung, "7,25", "Use at most one decimal, such as 7.5."),
    ):
        cell = grade_cell(page, pupil)
        error_id = f"e-g-{pupil.id}-regular-1"
        expect(cell).to_have_value(typed)
        expect(cell).to_have_attribute("aria-invalid", "true")
        expect(cell).to_have_attribute("aria-describedby", error_id)
        expect(page.locator(f"td.has-error #{error_id}")).to_have_text(tr(message))
    for pupil in (an, binh):
        expect(grade_cell(page, pupil)).not_to_have_attribute("aria-invalid", "true")
    expect(grade_cell(page, binh)).to_have_value("8,5")
    expect(grade_cell(page, binh, "endterm")).to_have_value("7")
    assert grades_of(db) == []

    grade_cell(page, chi).fill("10")
    grade_cell(page, dung).fill("7,3")
    page.get_by_role("button", name=tr("Save draft")).click()

    expect(page.locator(".flash-success")).to_have_text(
        tr("Saved as draft. Families see the grades once you publish them.")
    )
    expect(page.get_by_text(tr("Drafts: %(d)d · Published: %(p)d", d=8, p=0))).to_be_visible()
    for pupil, shown in ((an, "9"), (binh, "8.5"), (chi, "10"), (dung, "7.3")):
        expect(grade_cell(page, pupil)).to_have_value(shown)
    binh_row = grid.locator("tbody tr").nth(1)
    expect(binh_row.locator(f"span[title='{tr('draft')}']")).to_have_count(5)
    expect(binh_row.locator("td").last).to_have_text(CHILD_AVERAGE)
    stored = grades_of(db)
    assert len(stored) == 8 and {g.status for g in stored} == {"draft"}

    # Drafts stay with the teacher: the family sees no grade yet, and was not told of any.
    _open_child_page(family, world)
    math = _math_row(family)
    expect(math.locator("td").first).to_have_text(tr("No published grades yet"))
    expect(math.locator("td").nth(1)).to_have_text("—")
    expect(math).not_to_contain_text("8.5")

    page.get_by_role("button", name=tr("Save and publish")).click()
    expect(page.locator(".flash-success")).to_have_text(
        tr("Saved and published: families can see the grades now.")
    )
    expect(page.get_by_text(tr("Drafts: %(d)d · Published: %(p)d", d=0, p=8))).to_be_visible()
    expect(grid.locator(f"span[title='{tr('draft')}']")).to_have_count(0)
    stored = grades_of(db)
    assert len(stored) == 8 and {g.status for g in stored} == {"published"}

    run_jobs()  # "grades published" reaches the family through the notification job
    family.reload()
    expect(notif).to_have_text(tr("Notifications (%(n)d)", n=1))
    expect(math.locator("td").first).to_contain_text("TX1: 8.5")
    expect(math.locator("td").nth(1)).to_have_text(CHILD_AVERAGE)
    assert_clean()


def test_parent_reads_published_grades_and_the_term_average_then_answers_the_teacher(
    page, extra_phone, live_server, commit, db, assert_clean
):
    world = scored_class()
    _publish_child_scores(world)
    # Another subject with only a draft: the family must not see it.

    literature = create_subject(world.school, 6, "Ngữ văn", "scored", regular_count=2)
    assign(world.teacher, world.cls, literature)
    add_grade(world.child, literature, world.terms[0], "regular", "4", status="draft")
    commit()
    question = "Chào anh, tuần này Bình làm bài kiểm tra Toán rất tốt. Anh nhắc cháu ôn phân số nhé."
    answer = "Cảm ơn cô Lan, tối nay tôi sẽ cùng cháu ôn phân số."

    # The teacher writes to the family: her class → the pupil → "Write to the family".
    teacher = extra_phone()
    log_in(teacher, live_server, world.teacher)
    _open_contact_book(teacher)
    teacher.get_by_role("link", name=tr("Class %(name)s", name=world.cls.name)).click()
    teacher.get_by_role("link", name=world.child.full_name).click()
    teacher.get_by_role("link", name=tr("Write to the family")).click()
    expect(teacher).to_have_url(at(f"/contactbook/pupils/{world.child.id}/messages/new"))
    expect(teacher.locator("select[name=recipient] option:checked")).to_have_text(world.parent.full_name)
    teacher.locator("textarea[name=body]").fill(question)
    teacher.get_by_role("button", name=tr("Send")).click()
    expect(teacher).to_have_url(re.compile(r"/contactbook/threads/\d+([?#].*)?$"))
    thread_url = teacher.url
    mine = teacher.locator("li.card").filter(has_text=question)
    expect(mine).to_contain_text(tr("not seen yet"))

    # The parent: the child's page shows only published grades, with the term average.
    log_in(page, live_server, world.parent)
    _open_child_page(page, world)
    math = _math_row(page)
    expect(math.get_by_role("rowheader")).to_contain_text(world.teacher.full_name)
    for (kind, seq), value in CHILD_SCORES.items():
        label = {"regular": f"TX{seq}", "midterm": "GK", "endterm": "CK"}[kind]
        expect(math.locator("td").first.locator("span").filter(has_text=f"{label}:")).to_have_text(
            f"{label}: {value}"
        )
    expect(math.locator("td").nth(1)).to_have_text(CHILD_AVERAGE)
    literature_row = page.get_by_role("row").filter(
        has=page.get_by_role("rowheader").filter(has_text="Ngữ văn")
    )
    expect(literature_row.locator("td").first).to_have_text(tr("No published grades yet"))
    expect(literature_row.locator("td").nth(1)).to_have_text("—")

    # The teacher's message, marked new, then the reply.
    page.get_by_role("link", name=tr("Messages"), exact=True).click()
    expect(page).to_have_url(at("/contactbook/messages"))
    card = page.locator("li.card").filter(has_text=world.child.full_name)
    expect(card.locator("strong")).to_have_text("· " + tr("new"))
    card.get_by_role("link", name=world.teacher.full_name).click()
    assert page.url.split("#")[0] == thread_url.split("#")[0]
    expect(page.get_by_role("heading", level=1)).to_have_text(
        tr("Messages about %(name)s", name=world.child.full_name)
    )
    expect(page.locator("li.card").filter(has_text=question)).to_be_visible()
    page.get_by_label(tr("Message"), exact=True).fill(answer)
    page.get_by_role("button", name=tr("Send")).click()
    expect(page).to_have_url(re.compile(r"#last$"))
    reply = page.locator("li.card#last")
    expect(reply).to_contain_text(answer)
    expect(reply).to_contain_text(tr("not seen yet"))

    # The teacher sees the reply and that her message was read; the parent, that his was.
    seen = re.compile(re.escape("· " + tr("seen")) + r"\s*$")
    teacher.reload()
    expect(teacher.locator("li.card#last")).to_contain_text(answer)
    expect(mine.locator("p.hint")).to_have_text(seen)
    page.reload()
    expect(reply.locator("p.hint")).to_have_text(seen)

    db.session.rollback()
    thread = db.session.scalars(sa.select(MessageThread)).one()
    assert (thread.pupil_id, thread.guardian_id, thread.teacher_id) == (
        world.child.id,
        world.parent.id,
        world.teacher.id,
    )
    assert [m.sender_id for m in db.session.scalars(sa.select(Message).order_by(Message.id))] == [
        world.teacher.id,
        world.parent.id,
    ]
    assert_clean()


def test_changing_a_published_grade_needs_a_reason_and_the_family_sees_the_change(
    page, extra_phone, live_server, commit, db, assert_clean
):
    world = scored_class()
    _publish_child_scores(world)
    commit()
    reason = "Chấm phúc khảo bài kiểm tra cuối kỳ: cộng 1 điểm câu 4."

    family = extra_phone()
    log_in(family, live_server, world.parent)
    _open_child_page(family, world)
    math = _math_row(family)
    expect(math.locator("td").first.locator("span").filter(has_text="CK:")).to_have_text("CK: 7")
    expect(math.locator("td").nth(1)).to_have_text(CHILD_AVERAGE)
    expect(math.locator("a[href^='#change-']")).to_have_count(0)

    log_in(page, live_server, world.teacher)
    _open_grade_book(page, world)
    expect(page.get_by_text(tr("Drafts: %(d)d · Published: %(p)d", d=0, p=8))).to_be_visible()
    endterm = grade_cell(page, world.child, "endterm")
    expect(endterm).to_have_value("7")
    endterm.click()
    endterm.select_text()
    page.keyboard.type("8")

    # Without a reason: refused beside the cell, nothing changes.
    page.get_by_role("button", name=tr("Save and publish")).click()
    expect(page.locator(".error-summary")).to_have_text(
        tr("Nothing was saved. Correct the %(n)d highlighted cells.", n=1)
    )
    error_id = f"e-g-{world.child.id}-endterm-1"
    expect(endterm).to_have_attribute("aria-invalid", "true")
    expect(endterm).to_have_attribute("aria-describedby", error_id)
    expect(page.locator(f"#{error_id}")).to_have_text(
        tr("Changing a published grade needs a reason (below).")
    )
    expect(endterm).to_have_value("8")
    stored = {(g.kind, g.seq): g for g in grades_of(db, world.child)}
    assert stored[("endterm", 1)].score == 7 and not stored[("endterm", 1)].changed_after_publish

    page.get_by_label(tr("Reason for changing published grades")).fill(reason)
    page.get_by_role("button", name=tr("Save and publish")).click()
    expect(page.locator(".flash-success")).to_have_text(
        tr("Saved and published: families can see the grades now.")
    )
    expect(endterm).to_have_value("8")
    expect(
        page.locator(
            f"td:has(input[name='g-{world.child.id}-endterm-1']) "
            f"span[title='{tr('changed after publishing')}']"
        )
    ).to_have_count(1)
    # (58 + 3) / 8 = 7.625 → 7.6
    expect(page.locator("table[data-grid] tbody tr").nth(1).locator("td").last).to_have_text("7.6")

    grade = {(g.kind, g.seq): g for g in grades_of(db, world.child)}[("endterm", 1)]
    assert grade.score == 8 and grade.status == "published" and grade.changed_after_publish
    change = db.session.scalars(sa.select(GradeChange)).one()
    assert (change.grade_id, change.old_score, change.new_score, change.reason, change.changed_by_id) == (
        grade.id,
        7,
        8,
        reason,
        world.teacher.id,
    )
    assert (
        db.session.scalar(
            sa.select(sa.func.count())
            .select_from(AuditLog)
            .where(AuditLog.action == "contactbook.grade_change")
        )
        == 1
    )

    # The family sees the new grade marked as changed, what it was, when and why.
    family.reload()
    expect(math.locator("td").first.locator("span").filter(has_text="CK:")).to_have_text("CK: 8 ✎")
    mark = math.locator(f"a[href='#change-{grade.id}']")
    expect(mark).to_have_attribute("title", tr("changed"))
    expect(math.locator("td").nth(1)).to_have_text("7.6")
    expect(family.get_by_role("heading", name=tr("Changes to published grades"))).to_be_visible()
    entry = family.locator(f"li#change-{grade.id}")
    expect(entry).to_have_text(
        "Toán CK: "
        + tr(
            "%(old)s → %(new)s on %(day)s. Reason: %(reason)s",
            old="7",
            new="8",
            day=hanoi_day(change.changed_at),
            reason=reason,
        )
    )
    mark.click()
    expect(family).to_have_url(re.compile(rf"#change-{grade.id}$"))
    expect(entry).to_be_in_viewport()
    assert_clean()
