"""On a 390 px phone: the declined and the left-out child's pages never promise a seat they do not
have, and the receipt's label renders in one font that covers Vietnamese (no glyph fallback)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from admissions import rounds
from admissions.models import AllocationRound, Application
from app import jobs
from app.extensions import db
from app.models import utcnow
from tests.admissions_factories import (
    add_child_for,
    close_window,
    create_application,
    create_area,
    create_season,
    enter_beacon,
    level_of,
)
from tests.browser.contactbook_helpers import log_in, tr
from tests.factories import create_district, create_user

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)

GUARANTEE = "Catchment school (guaranteed place):"


def _published_world(commit, drain):
    """Ward W's catchment school has 2 seats for 3 children: round 1 leaves one out (published
    without the office's automatic offer, as a round published before it existed)."""

    district = create_district(name="Quận Cầu Giấy")
    area = create_area(district, n_children=3)
    area.home.capacity = 2
    season = create_season()
    level = close_window(level_of(season))
    officer = create_user("district_officer", district=district)
    parent = create_user("parent")
    kids = [add_child_for(parent, r, season) for r in area.children]
    apps = [create_application(k, level, parent, catchment=area.home) for k in kids]
    enter_beacon(level, district.id, officer)  # frozen at the close; the officer types the beacon
    commit()
    rnd = rounds.create_official_round(level, district.id, officer)
    jobs.commit()
    rounds.queue_round(rnd, officer)
    jobs.commit()
    drain()
    db.session.expire_all()
    rnd = db.session.get(AllocationRound, rnd.id)
    assert rnd.status == "done", rnd.error
    rounds.publish_round(rnd, officer, utcnow() + timedelta(days=5))
    jobs.commit()
    drain()
    db.session.expire_all()
    return parent, apps, area


def test_declined_and_left_out_children_see_no_promise_on_a_phone(
    page, live_server, commit, db, drain, assert_clean
):

    parent, apps, area = _published_world(commit, drain)
    statuses = {a.id: db.session.get(Application, a.id).status for a in apps}
    left_out = next(a for a in apps if statuses[a.id] == "unplaced")
    placed = next(a for a in apps if statuses[a.id] == "offered")
    log_in(page, live_server, parent)

    # The child the round left out: where she stands and what happens next; no promise.
    page.goto(live_server(f"/children/{left_out.child_id}"))
    name = db.session.get(Application, left_out.id).child.full_name
    expect(page.get_by_text(tr("%(name)s has no school place at the moment.", name=name))).to_be_visible()
    expect(page.get_by_text(tr(GUARANTEE))).to_have_count(0)
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # The placed child: declining says what is given up, in the confirmation too.
    page.goto(live_server(f"/children/{placed.child_id}"))
    name = db.session.get(Application, placed.id).child.full_name
    given_up = tr(
        "Declining gives up the guaranteed place of %(name)s at the catchment school %(school)s: "
        "%(name)s will then have no school place. The seat goes to another child and cannot be given "
        "back; the education office can only offer a school that still has seats.",
        name=name,
        school=area.home.name,
    )
    expect(page.get_by_text(given_up)).to_be_visible()
    dialogs = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.accept()))
    page.get_by_role("button", name=tr("Decline the place")).click()
    expect(page.get_by_text(tr("%(name)s has no school place at the moment.", name=name))).to_be_visible()
    assert dialogs and given_up in dialogs[0]
    expect(page.get_by_text(tr(GUARANTEE))).to_have_count(0)
    db.session.expire_all()
    assert db.session.get(Application, placed.id).status == "declined"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390
    assert_clean()


def test_the_receipt_label_renders_in_one_font_that_covers_vietnamese(page, live_server, commit, db, drain):
    parent, apps, _area = _published_world(commit, drain)
    log_in(page, live_server, parent)
    app_ = db.session.scalar(sa.select(Application).where(Application.id == apps[0].id))
    for media in ("screen", "print"):
        page.emulate_media(media=media)
        page.goto(live_server(f"/children/applications/{app_.id}/receipt"))
        ref = page.locator(".receipt-ref").first
        expect(ref).to_contain_text(tr("Reference number"))
        # The label is in the body font, never a monospace one; only the ASCII code is monospaced.
        label_font = ref.evaluate("e => getComputedStyle(e).fontFamily")
        assert "mono" not in label_font.lower(), (media, label_font)
        # What Chromium actually drew the label with: one font for every glyph (no fallback).
        cdp = page.context.new_cdp_session(page)
        cdp.send("DOM.enable")
        cdp.send("CSS.enable")
        doc = cdp.send("DOM.getDocument", {"depth": -1})
        node = cdp.send("DOM.querySelector", {"nodeId": doc["root"]["nodeId"], "selector": ".receipt-ref"})
        fonts = cdp.send("CSS.getPlatformFontsForNode", {"nodeId": node["nodeId"]})["fonts"]
        # (The node's fonts include the code's monospace one; the label's are the others.)
        label_fonts = [f for f in fonts if "mono" not in f["familyName"].lower()]
        assert len(label_fonts) == 1, (media, fonts)
        code = page.locator(".receipt-ref .code").first
        expect(code).to_have_text(app_.reference)
        assert "mono" in code.evaluate("e => getComputedStyle(e).fontFamily").lower()
