"""A parent's download: asked for on the account page, built by a job (through the outbox) with
its progress shown, everything about the parent and each child (account, consents,
notifications, contact book, who among the staff viewed the record) as JSON and as a readable
document, for its owner only, until it expires."""

from __future__ import annotations

import json
import re
from datetime import date, timedelta
from decimal import Decimal

import sqlalchemy as sa

from app import jobs
from app.audit import audit
from app.extensions import db
from app.models import utcnow
from app.notifications import notify
from app.notifications.models import PushSubscription
from app.privacy import consent
from app.privacy.models import DataRequest
from contactbook.kindergarten_models import DevelopmentEvaluation, GrowthCheck
from contactbook.models import Attendance
from contactbook.results_models import TermResult
from tests.contactbook_factories import add_grade
from tests.factories import create_user


def _ask(client) -> int:
    resp = client.post_form("/privacy/downloads", {}, token_from="/privacy/")
    assert resp.status_code == 302
    return int(re.search(r"/privacy/downloads/(\d+)$", resp.headers["Location"]).group(1))


def test_parent_downloads_everything_about_her_and_her_child(app, world, cb_world, make_client, run_jobs):
    parent = world["users"]["parent"]
    child = cb_world["child"]
    teacher = world["users"]["teacher"]
    audit("contactbook.view_roster", cb_world["a1"], actor_id=teacher.id)
    notify("announcement", [parent.id], {"title": "Họp phụ huynh đầu năm"})
    jobs.commit()

    c = make_client()
    c.login_as(parent)
    assert "Chuẩn bị bản tải về" in c.get("/privacy/").get_data(as_text=True)
    rid = _ask(c)
    run_jobs()
    page = c.get(f"/privacy/downloads/{rid}").get_data(as_text=True)
    assert "100%" in page or "Đã xong" in page
    data = c.get(f"/privacy/downloads/{rid}/data.json")
    assert data.status_code == 200 and "attachment" in data.headers["Content-Disposition"]
    doc = json.loads(data.get_data(as_text=True))
    titles = [(s["title"], s["about"]) for s in doc["sections"]]
    assert ("Account", None) in titles and ("Consents", None) in titles and ("Notifications", None) in titles
    assert ("Grades", child.full_name) in titles and ("Attendance", child.full_name) in titles
    account = next(s for s in doc["sections"] if s["title"] == "Account")["rows"][0]
    assert account["phone"] == parent.phone
    notes = next(s for s in doc["sections"] if s["title"] == "Notifications")["rows"]
    assert any(n["title"] == "Họp phụ huynh đầu năm" for n in notes)
    log = next(
        s
        for s in doc["sections"]
        if s["title"].startswith("Who at the school") and s["about"] == child.full_name
    )
    assert [(r["action"], r["by"]) for r in log["rows"]] == [("contactbook.view_roster", teacher.full_name)]
    # Nothing about another family's child.
    assert cb_world["b_pupil"].full_name not in data.get_data(as_text=True)

    readable = c.get(f"/privacy/downloads/{rid}/document").get_data(as_text=True)
    assert child.full_name in readable and "Điểm" in readable

    # Only its owner: another parent gets 404 for the page and the files.
    other = make_client()
    other.login_as(cb_world["b_parent"])
    for path in ("", "/data.json", "/document"):
        assert other.get(f"/privacy/downloads/{rid}{path}").status_code == 404

    # Expired: the files are gone (410), the page says to ask again.
    row = db.session.get(DataRequest, rid)
    assert row.expires_at - row.ready_at == timedelta(days=7)
    row.expires_at = utcnow() - timedelta(seconds=1)
    jobs.commit()
    assert c.get(f"/privacy/downloads/{rid}/data.json").status_code == 410
    assert c.get(f"/privacy/downloads/{rid}/document").status_code == 410
    assert "hết hạn" in c.get(f"/privacy/downloads/{rid}").get_data(as_text=True)


def test_progress_is_shown_before_the_job_runs(app, world, make_client):
    parent = create_user("parent")
    jobs.commit()
    row = DataRequest(user_id=parent.id, status="running", progress=40)
    db.session.add(row)
    jobs.commit()
    c = make_client()
    c.login_as(parent)
    page = c.get(f"/privacy/downloads/{row.id}").get_data(as_text=True)
    assert 'value="40"' in page and 'http-equiv="refresh"' in page
    assert c.get(f"/privacy/downloads/{row.id}/data.json").status_code == 410
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 1


ANDROID_CHROME = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 Chrome/131.0 Mobile Safari/537.36"
)


def test_download_has_results_kindergarten_and_devices_and_reads_in_vietnamese(
    app, world, cb_world, make_client, run_jobs
):
    parent, child, teacher = world["users"]["parent"], cb_world["child"], world["users"]["teacher"]
    term = cb_world["terms_a"][0]
    add_grade(child, cb_world["math_a"], term, "midterm", "8.5")
    db.session.add_all(
        [
            TermResult(pupil_id=child.id, class_id=cb_world["a1"].id, period="1", learning="T", conduct="K"),
            DevelopmentEvaluation(
                pupil_id=child.id, term_id=term.id, domain="language", result="CD", comment="Cần luyện nói"
            ),
            GrowthCheck(
                pupil_id=child.id,
                class_id=cb_world["a1"].id,
                measured_on=date(2026, 10, 5),
                height_cm=Decimal("112.5"),
                weight_kg=Decimal("19.0"),
            ),
            Attendance(
                pupil_id=child.id, class_id=cb_world["a1"].id, on_date=date(2026, 11, 3), status="excused"
            ),
            PushSubscription(
                user_id=parent.id,
                endpoint="https://push.example/secret-endpoint",
                p256dh="SECRET-P256DH-KEY",
                auth="SECRET-AUTH",
                user_agent=ANDROID_CHROME,
            ),
        ]
    )
    # Another family's results stay out.
    db.session.add(
        TermResult(
            pupil_id=cb_world["b_pupil"].id,
            class_id=cb_world["b1"].id,
            period="1",
            learning="CD",
            conduct="CD",
        )
    )
    audit("contactbook.view_roster", cb_world["a1"], actor_id=teacher.id)
    consent.give(parent.id, consent.CHILD_CONTACT_BOOK, f"cb_pupil:{child.id}")
    jobs.commit()

    c = make_client()
    c.login_as(parent)
    rid = _ask(c)
    run_jobs()
    raw = c.get(f"/privacy/downloads/{rid}/data.json").get_data(as_text=True)
    doc = json.loads(raw)
    by_title = {(s["title"], s["about"]): s["rows"] for s in doc["sections"]}
    name = child.full_name
    assert [
        (r["period"], r["learning"], r["conduct"]) for r in by_title[("Term and year results", name)]
    ] == [("1", "T", "K")]
    evals = by_title[("Development evaluations (kindergarten)", name)]
    assert [(r["term"], r["domain"], r["result"], r["comment"]) for r in evals] == [
        ("1", "language", "CD", "Cần luyện nói")
    ]
    growth = by_title[("Height and weight (kindergarten)", name)]
    assert growth == [{"measured_on": "2026-10-05", "height_cm": "112.5", "weight_kg": "19.0"}]
    given = by_title[("Consents", None)]
    assert [(g["purpose"], g["subject"], g["child"]) for g in given] == [
        ("child_contact_book", f"cb_pupil:{child.id}", child.full_name)
    ]
    devices = by_title[("Devices that receive notifications", None)]
    assert [d["device"] for d in devices] == [ANDROID_CHROME] and devices[0]["created_at"]
    # A device's endpoint and keys let anyone push to it: never in the download.
    for secret in ("secret-endpoint", "SECRET-P256DH-KEY", "SECRET-AUTH"):
        assert secret not in raw

    page = c.get(f"/privacy/downloads/{rid}/document").get_data(as_text=True)
    # Labels, enums and dates in Vietnamese; no English key left as a header.
    for words in (
        "Họ và tên",
        "Điện thoại",
        "Phụ huynh",
        "Kết quả học kỳ và cả năm",
        "Học kỳ 1",
        "Tốt",
        "Khá",
        "Phát triển ngôn ngữ và giao tiếp",
        "Chưa đạt",
        "112,5",
        "05/10/2026",
        "03/11/2026",
        "Nghỉ có phép",
        "Kiểm tra giữa kỳ",
        "8,5",
        "Chrome trên Android",
        "Mã hồ sơ của con",
        "Sự đồng ý của chính con (sổ liên lạc)",
        "Thiết bị nhận thông báo",
        "Cán bộ nhà trường hoặc phòng giáo dục đã xem hoặc xuất hồ sơ",
    ):
        assert words in page, words
    for key in (
        "full_name",
        "created_at",
        "last_login_at",
        "date_of_birth",
        "on_date",
        "height_cm",
        "midterm",
    ):
        assert key not in page, key
    assert not re.search(r"\d{4}-\d{2}-\d{2}", page), "an ISO date left in the readable document"
    assert "SECRET" not in page
