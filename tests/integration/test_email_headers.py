"""Email that looks like it came from a school, checked on a real local
SMTP server: folded Vietnamese subjects keep their spaces; every email has a Message-ID, a Date,
the configured sender, a plain-text part and absolute links from PUBLIC_URL."""

from __future__ import annotations

import email.utils
import random
from datetime import datetime
from email import message_from_bytes, policy

import pytest
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.mail import build_message, send_email
from app.models import User
from app.notifications import notify
from tests.factories import create_school, create_user

PUBLIC = "https://tuyensinh.example.edu.vn"
SENDER = "Phòng GD&ĐT Cầu Giấy <thongbao@tuyensinh.example.edu.vn>"
WORDS = "Thông báo nghỉ Tết trường đã công bố lịch học bù Nguyên Đán lớp 1A the a bb ccc 😀 —"
LONG_SUBJECTS = [
    "Thông báo nghỉ Tết Nguyên Đán năm 2027 của trường tiểu học Dịch Vọng: lịch học bù đã công bố",
    "Kết quả tuyển sinh vào lớp 1 đã công bố, phụ huynh xác nhận nhập học trước ngày 15 tháng 7",
    " ".join(["nghỉ Tết"] * 30),  # longer than several folded lines
    "Lịch họp phụ huynh 😀 đầu năm — a  b   đã công bố",  # emoji, runs of spaces
]


@pytest.fixture
def mail_to(app, smtp_server):
    app.config.update(
        MAIL_URL=smtp_server.url,
        MAIL_SENDER=SENDER,
        PUBLIC_URL=PUBLIC,
        REDIS_URL=None,
        NOTIFY_CLOCK=lambda: datetime(2026, 12, 10, 3, 0),  # 10:00 in Hanoi: no quiet hours
    )
    app.extensions.pop("redis", None)
    return smtp_server


def assert_well_formed(msg, to: str):
    assert msg["To"] == to
    assert msg["From"] == SENDER
    assert email.utils.parseaddr(msg["From"])[1] == "thongbao@tuyensinh.example.edu.vn"
    assert msg["Message-ID"] and msg["Message-ID"].startswith("<") and "@" in msg["Message-ID"]
    sent_at = email.utils.parsedate_to_datetime(msg["Date"])
    assert sent_at.tzinfo is not None and abs((sent_at - email.utils.localtime()).total_seconds()) < 300
    plain = msg.get_body(("plain",))
    assert plain is not None and plain.get_content().strip()
    return plain.get_content(), msg.get_body(("html",)).get_content()


def raw_subject(msg) -> str:
    return dict(msg.raw_items())["Subject"]


@pytest.mark.parametrize("subject", LONG_SUBJECTS, ids=["tet", "ket-qua", "repeated", "emoji-spaces"])
def test_a_folded_subject_keeps_its_spaces(app, mail_to, subject):
    send_email("hoa@example.vn", subject, "Nội dung.", "<p>Nội dung.</p>")
    msg = mail_to.wait_for(1, timeout=5)[0]
    assert msg["Subject"] == subject
    raw = raw_subject(msg)
    assert "\n" in raw and raw.isascii(), raw  # it really was folded, in encoded words
    assert_well_formed(msg, "hoa@example.vn")


def test_the_policy_keeps_spaces_for_every_subject_shape(app):
    """Python's own folding loses the space at the fold between encoded words ("nghỉTết"): a
    sample of thousands of subjects comes back identical."""

    words = WORDS.split()
    rnd = random.Random(17)
    for _ in range(1500):
        subject = " ".join(rnd.choice(words) for _ in range(rnd.randint(1, 40)))
        raw = build_message("a@example.vn", subject, "x").as_bytes()
        assert all(len(line) <= 78 for line in raw.split(b"\r\n")[:12]), raw[:400]
        assert message_from_bytes(raw, policy=policy.default)["Subject"] == subject


def test_the_welcome_email_is_complete_and_links_to_the_site(app, mail_to):
    school = create_school()
    user = create_user("teacher", school=school, email="co.lan@example.edu.vn")
    jobs.commit()
    jobs.run_job("app.tasks:send_welcome_email", [user.id], {})
    msg = mail_to.wait_for(1, timeout=5)[0]
    text, html = assert_well_formed(msg, "co.lan@example.edu.vn")
    assert f"{PUBLIC}/auth/login" in text and f'href="{PUBLIC}/auth/login"' in html


def test_the_activation_email_gives_the_full_address(app, mail_to):
    """It said "vui lòng truy cập /contactbook/activate": now the address families can open."""
    school = create_school()
    user = create_user("teacher", school=school, email="thay.nam@example.edu.vn")
    user.password_hash = None
    jobs.commit()
    jobs.run_job("contactbook.tasks:send_staff_activation", [user.id], {})
    msg = mail_to.wait_for(1, timeout=5)[0]
    text, html = assert_well_formed(msg, "thay.nam@example.edu.vn")
    assert f"{PUBLIC}/contactbook/activate" in text and f"{PUBLIC}/contactbook/activate" in html
    assert " /contactbook/activate" not in text


def test_notification_emails_are_complete(app, mail_to):
    parent = create_user("parent", email="me.hoa@example.vn")
    jobs.commit()
    title = LONG_SUBJECTS[0]
    notify("announcement", [parent.id], {"title": title, "url": f"{PUBLIC}/contactbook/announcements/7"})
    jobs.commit()
    msg = mail_to.wait_for(1, timeout=10)[0]
    assert msg["Subject"] == title and "\n" in raw_subject(msg)
    text, html = assert_well_formed(msg, "me.hoa@example.vn")
    assert f"{PUBLIC}/notifications/preferences" in text and f"{PUBLIC}/notifications/preferences" in html
    assert db.session.scalar(sa.select(User.id).where(User.id == parent.id))
