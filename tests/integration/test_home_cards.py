"""The home page lists the cards the platform and the areas register (app.views.register_home_card),
each for its roles, in their order; the platform's own template names no area."""

from __future__ import annotations

import re
from pathlib import Path

from flask_babel import lazy_gettext as _l

from app import jobs
from app.views import home_cards, register_home_card

ROOT = Path(__file__).resolve().parents[2]

# What each role saw on the home page before the cards were registered (the same links, in the
# same order as the old template).
EXPECTED = {
    "parent": [
        "/contactbook/",
        "/children/",
        "/admissions/rounds/",
        "/tuyen-sinh/",
        "/notifications/",
        "/privacy/",
        "/auth/sessions",
        "/auth/password",
    ],
    "teacher": [
        "/contactbook/",
        "/admissions/rounds/",
        "/tuyen-sinh/",
        "/notifications/",
        "/notifications/sent",
        "/auth/sessions",
        "/auth/password",
    ],
    "school_staff": [
        "/contactbook/",
        "/contactbook/urgent/new",
        "/admissions/rounds/",
        "/tuyen-sinh/",
        "/admissions/dashboard/",
        "/admissions/council/",
        "/admin/users",
        "/notifications/",
        "/notifications/sent",
        "/auth/sessions",
        "/auth/password",
    ],
    "city_admin": [
        "/contactbook/",
        "/admissions/rounds/",
        "/tuyen-sinh/",
        "/admissions/office/",
        "/admissions/imports",
        "/admissions/dashboard/",
        "/admissions/council/",
        "/admin/years",
        "/admin/users",
        "/admin/audit",
        "/admin/api-clients/",
        "/notifications/",
        "/notifications/sent",
        "/notifications/admin/failures",
        "/privacy/queue",
        "/auth/sessions",
        "/auth/password",
    ],
}


def card_links(page: str) -> list[str]:
    cards = page.split('<ul class="cards">')[1].split("</ul>")[0]
    return re.findall(r'href="([^"]+)"', cards)


def test_each_role_sees_its_cards_in_order(app, world, make_client):
    for role, expected in EXPECTED.items():
        c = make_client()
        c.login_as(world["users"][role])
        links = card_links(c.get("/home").get_data(as_text=True))
        assert links == expected, role


def test_an_area_adds_a_card_for_some_roles(app, world, make_client):
    register_home_card(app, _l("Audit log"), "admin.audit_log", roles=("teacher",), order=1)
    jobs.commit()
    c = make_client()
    c.login_as(world["users"]["teacher"])
    assert card_links(c.get("/home").get_data(as_text=True))[0] == "/admin/audit"
    with app.test_request_context():
        assert [card.endpoint for card in home_cards("parent")][:2] == [
            "contactbook_public.index",
            "admissions_parent.my_children",
        ]


def test_the_home_template_names_no_area():
    for name in ("home.html", "index.html"):
        template = (ROOT / "templates" / name).read_text()
        assert "admissions" not in template and "contactbook" not in template


def test_the_public_welcome_page_links_the_rounds_and_the_figures(app, make_client):
    links = card_links(make_client().get("/").get_data(as_text=True))
    assert links == ["/admissions/rounds/", "/tuyen-sinh/"]
    for link in links:
        assert make_client().get(link).status_code == 200


def test_families_read_plain_words_on_their_home_page(app, world, make_client):
    """Cards speak to families, not to auditors: no 'seed fingerprints' on a parent's or a
    teacher's home page (Vietnamese, the default language)."""
    for role in ("parent", "teacher"):
        client = make_client()
        client.login_as(world["users"][role])
        page = client.get("/home").get_data(as_text=True)
        assert "Kết quả tuyển sinh: cách xếp chỗ học và cách kiểm tra hồ sơ của con" in page
        assert "vân tay" not in page and "chuỗi khởi tạo" not in page
