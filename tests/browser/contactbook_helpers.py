"""Helpers for the contact book journeys (tests/browser/test_contactbook_journeys.py and
test_contactbook_class_journeys.py).

- `tr(msgid, **kw)`: the text the server shows for an English msgid, read from the same compiled
  Vietnamese catalog (app/translations/vi/LC_MESSAGES/messages.mo, built by `scripts/i18n
  compile`). A string the translator has not done yet comes back in English, as on the page, so
  the journeys keep working while the catalog is being filled in.
- `scored_class()`: a lower-secondary class with a scored subject (Circular 22) and fixed names.
- `log_in()`, `open_term()`, `grade_cell()`: the steps every journey repeats.
- a second phone: the `extra_phone` fixture (tests/browser/conftest.py) — more phone-sized browser
  contexts (a second person at the same time), with the `page` fixture's console / CSP problem
  collection and failure screenshots.
"""

from __future__ import annotations

import gettext
import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import sqlalchemy as sa
from playwright.sync_api import expect

from contactbook.models import Grade
from tests.contactbook_factories import assign, create_class, create_pupil, create_subject, terms_of
from tests.factories import PASSWORD, create_school, create_user

ROOT = Path(__file__).resolve().parents[2]
CATALOG = ROOT / "app" / "translations" / "vi" / "LC_MESSAGES" / "messages.mo"


@cache
def _catalog() -> gettext.NullTranslations:
    try:
        with CATALOG.open("rb") as fh:
            return gettext.GNUTranslations(fh)
    except FileNotFoundError:  # not compiled: the server shows English too
        return gettext.NullTranslations()


def tr(msgid: str, **kw) -> str:
    """What a vi-VN visitor reads for `msgid` (python-format placeholders filled from kw)."""
    text = _catalog().gettext(msgid)
    return text % kw if kw else text


def at(path: str) -> re.Pattern:
    """A URL on the live server whose path is `path` (any query string or fragment)."""
    return re.compile(r"^https?://[^/]+" + re.escape(path) + r"([?#].*)?$")


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class ScoredClass:
    school: object
    teacher: object
    parent: object
    cls: object
    math: object
    pupils: list  # in grade-book order (by name)
    child: object  # the parent's child (second row)
    terms: list


PUPIL_NAMES = ("Lê Thu An", "Lê Thu Bình", "Lê Thu Chi", "Lê Thu Dung")  # A < B < C < D under any collation


def scored_class() -> ScoredClass:
    """School with class 6A1 (homeroom: Cô Nguyễn Thị Lan, who also teaches Toán, scored with
    three regular assessments), four pupils; the second one, Lê Thu Bình, is the child of
    Phạm Văn Hùng. Not committed."""

    school = create_school(level="grade6", name="Trường THCS Thành Công")
    teacher = create_user(
        "teacher", school=school, full_name="Nguyễn Thị Lan", email="lan.nt@thcs.example.edu.vn"
    )
    parent = create_user("parent", phone="0912000222", full_name="Phạm Văn Hùng")
    cls = create_class(school, "6A1", homeroom=teacher)
    math = create_subject(school, 6, "Toán", "scored", regular_count=3)
    assign(teacher, cls, math)
    pupils = [
        create_pupil(cls, full_name=name, guardians=[parent] if i == 1 else [create_user("parent")])
        for i, name in enumerate(PUPIL_NAMES)
    ]
    return ScoredClass(school, teacher, parent, cls, math, pupils, pupils[1], terms_of(cls))


# ---------------------------------------------------------------------------------------------
# Steps


def log_in(page, live_server, user, password: str = PASSWORD) -> None:
    """Through the real login page, as a person types it; lands on /home."""

    page.goto(live_server("/auth/login"))
    page.get_by_label(tr("Phone number or email")).fill(user.phone or user.email)
    page.get_by_label(tr("Password"), exact=True).fill(password)
    page.get_by_role("button", name=tr("Log in")).click()
    expect(page).to_have_url(at("/home"))


def open_term(page, number: int) -> None:
    """Pick term `number` in the page's term switcher (already current → nothing to click)."""

    nav = page.get_by_role("navigation", name=tr("Terms"))
    label = tr("Term %(n)d", n=number)
    link = nav.get_by_role("link", name=label, exact=True)
    if link.count():
        link.click()
    expect(nav.locator("[aria-current=page]")).to_have_text(label)


def grade_cell(page, pupil, kind: str = "regular", seq: int = 1):
    """The grade book's input of one pupil and column (named g-<pupil>-<kind>-<seq>)."""
    return page.locator(f"input[name='g-{pupil.id}-{kind}-{seq}']")


def grades_of(db, pupil=None):
    """The stored grades (seen from the test thread, after the server thread's commits)."""

    db.session.rollback()
    q = sa.select(Grade).order_by(Grade.pupil_id, Grade.kind, Grade.seq)
    if pupil is not None:
        q = q.where(Grade.pupil_id == pupil.id)
    return db.session.scalars(q).all()
