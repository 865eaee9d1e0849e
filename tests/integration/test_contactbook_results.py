"""A class's overall results (Circular 22): computed from the published grade book, the conduct
set and the whole confirmed by the homeroom teacher in one audited step (refused while a grade is
missing), then shown to the family; the school's staff read them; nobody else sees them."""

from __future__ import annotations

import contextlib
import re
import zlib

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.models import AuditLog
from app.notifications.models import Notification
from contactbook.models import Grade
from contactbook.results_models import TermResult
from tests.contactbook_factories import add_grade, create_pupil, create_user, secondary_setup
from tests.querycount import count_queries


def _grades(pupil, s, term, math, pe):
    """Math: three regular scores, a mid-term and an end-of-term; PE: four Đ/CĐ marks."""
    for i, v in enumerate(math[:3], start=1):
        add_grade(pupil, s["math"], term, "regular", v, seq=i)
    add_grade(pupil, s["math"], term, "midterm", math[3])
    add_grade(pupil, s["math"], term, "endterm", math[4])
    for i, m in enumerate(pe[:2], start=1):
        add_grade(pupil, s["pe"], term, "regular", m, seq=i)
    add_grade(pupil, s["pe"], term, "midterm", pe[2])
    add_grade(pupil, s["pe"], term, "endterm", pe[3])


def _inflated(pdf: bytes) -> bytes:
    """The PDF with its compressed streams inflated (the font names live in object streams)."""
    out = [pdf]
    for m in re.finditer(rb"stream\r?\n(.*?)\r?\nendstream", pdf, re.S):
        with contextlib.suppress(zlib.error):
            out.append(zlib.decompress(m.group(1)))
    return b"".join(out)


def _results():
    db.session.expire_all()
    return {
        (r.pupil_id, r.period): (r.learning, r.conduct) for r in db.session.scalars(sa.select(TermResult))
    }


def test_the_homeroom_teacher_confirms_the_term_results_and_the_family_sees_them(app, make_client):
    s = secondary_setup()
    term1 = s["terms"][0]
    good, fair, late = s["pupils"]
    _grades(good, s, term1, [9, 9, 9, 8, 8], ["D", "D", "D", "D"])  # 8.4 and Đạt → Tốt
    _grades(fair, s, term1, [6, 6, 6, 5, 5], ["D", "D", "D", "D"])  # 5.4 → Đạt
    add_grade(late, s["math"], term1, "regular", 7)  # not finished: no learning result
    add_grade(late, s["math"], term1, "midterm", 7, status="draft")  # drafts do not count
    jobs.commit()
    teacher = make_client()
    teacher.login_as(s["teacher"])
    url = f"/contactbook/classes/{s['cls'].id}/results?period=1"
    page = teacher.get(url).get_data(as_text=True)
    assert "8.4" in page and "5.4" in page and "còn thiếu điểm" in page
    form = {f"k-{p.id}": "T" for p in s["pupils"]}

    resp = teacher.post_form(url, form, token_from=url)
    assert resp.status_code == 422 and late.full_name in resp.get_data(as_text=True)
    assert _results() == {}

    db.session.execute(sa.delete(Grade).where(Grade.pupil_id == late.id))
    _grades(late, s, term1, [3, 3, 3, 3, 3], ["D", "CD", "CD", "CD"])  # 3.0 and Chưa đạt → Chưa đạt
    jobs.commit()
    resp = teacher.post_form(url, {**form, f"k-{fair.id}": ""}, token_from=url)
    assert resp.status_code == 422 and "Hãy chọn kết quả rèn luyện cho mọi học sinh" in resp.get_data(
        as_text=True
    )
    assert _results() == {}

    resp = teacher.post_form(url, {**form, f"k-{late.id}": "K"}, token_from=url)
    assert resp.status_code == 302
    assert _results() == {
        (good.id, "1"): ("T", "T"),
        (fair.id, "1"): ("D", "T"),
        (late.id, "1"): ("CD", "K"),
    }
    entry = db.session.scalar(sa.select(AuditLog).where(AuditLog.action == "contactbook.results.confirm"))
    assert entry.actor_id == s["teacher"].id and entry.details["changed"] == 3
    told = db.session.scalars(sa.select(Notification).where(Notification.kind == "contact_book")).all()
    assert len(told) == 3 and all(n.context["title"] == "Đã có kết quả học kỳ 1" for n in told)

    # The family sees the confirmed results on the child's page.
    parent = make_client()
    parent.login_as(s["parent"])
    child = parent.get(f"/contactbook/children/{good.id}").get_data(as_text=True)
    assert "Kết quả tổng hợp" in child
    assert "Tốt" in child

    # Confirming again without a change tells nobody again.
    resp = teacher.post_form(url, {**form, f"k-{late.id}": "K"}, token_from=url)
    assert resp.status_code == 302
    assert (
        len(db.session.scalars(sa.select(Notification).where(Notification.kind == "contact_book")).all()) == 3
    )


def test_only_the_homeroom_teacher_confirms_and_the_school_staff_read(app, make_client):
    s = secondary_setup()
    url = f"/contactbook/classes/{s['cls'].id}/results"
    other = make_client()
    other.login_as(create_user("teacher", school=s["school"]))
    assert other.get(url).status_code == 404
    staff = make_client()
    staff.login_as(create_user("school_staff", school=s["school"]))
    assert staff.get(url).status_code == 200
    assert staff.post_form(url, {}, token_from=url).status_code == 403
    parent = make_client()
    parent.login_as(s["parent"])
    assert parent.get(url).status_code in (403, 404)
    teacher = make_client()
    teacher.login_as(s["teacher"])
    assert teacher.get(url + "?period=3").status_code == 404
    assert teacher.get(url + "?period=year").status_code == 200


def test_report_cards_for_a_family_and_a_whole_class(app, make_client):
    s = secondary_setup()
    term1 = s["terms"][0]
    child = s["pupils"][0]
    _grades(child, s, term1, [9, 9, 9, 8, 8], ["D", "D", "D", "D"])
    add_grade(child, s["math"], term1, "endterm", 4, seq=2, status="draft")  # a draft never shows
    jobs.commit()
    teacher = make_client()
    teacher.login_as(s["teacher"])
    url = f"/contactbook/classes/{s['cls'].id}/results?period=1"
    form = {f"k-{p.id}": "K" for p in s["pupils"]}
    for p in s["pupils"][1:]:
        _grades(p, s, term1, [7, 7, 7, 7, 7], ["D", "D", "D", "D"])
    jobs.commit()
    assert teacher.post_form(url, form, token_from=url).status_code == 302

    parent = make_client()
    parent.login_as(s["parent"])
    page = parent.get(f"/contactbook/children/{child.id}/report-card?term={term1.id}")
    html = page.get_data(as_text=True)
    assert page.status_code == 200 and child.full_name in html and s["cls"].school.name in html
    assert "8.4" in html and "Khá" in html and s["pupils"][1].full_name not in html
    pdf = parent.get(f"/contactbook/children/{child.id}/report-card.pdf?term={term1.id}")
    assert pdf.status_code == 200 and pdf.mimetype == "application/pdf"
    assert pdf.data.startswith(b"%PDF-") and b"+DejaVu-Sans" in _inflated(pdf.data)  # Vietnamese letters
    assert "attachment" in pdf.headers["Content-Disposition"]
    # Another family's child, and a pupil of the class that is not hers: 404.
    assert parent.get(f"/contactbook/children/{s['pupils'][1].id}/report-card").status_code == 404
    assert parent.get(f"/contactbook/children/{s['pupils'][1].id}/report-card.pdf").status_code == 404

    # The school prints the whole class: one card per pupil, in a fixed number of queries.
    staff = make_client()
    staff.login_as(create_user("school_staff", school=s["school"]))
    whole = f"/contactbook/classes/{s['cls'].id}/report-cards?term={term1.id}"
    with count_queries(app) as few:
        html = staff.get(whole).get_data(as_text=True)
    assert all(p.full_name in html for p in s["pupils"]) and html.count('class="card"') == 3
    for _ in range(5):
        create_pupil(s["cls"], guardians=[create_user("parent")])
    jobs.commit()
    with count_queries(app) as more:
        html = staff.get(whole).get_data(as_text=True)
    assert html.count('class="card"') == 8 and more.count == few.count
    pdf = staff.get(f"/contactbook/classes/{s['cls'].id}/report-cards.pdf?term={term1.id}")
    assert pdf.status_code == 200 and pdf.data.startswith(b"%PDF-")
    other = make_client()
    other.login_as(create_user("teacher", school=s["school"]))
    assert other.get(whole).status_code == 404
