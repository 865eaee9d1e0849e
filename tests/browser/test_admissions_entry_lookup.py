"""A family finds its line in the frozen entry list by the entry code on its receipt and sees
that its entry is included (the inclusion proof checked against the published fingerprint)."""

from __future__ import annotations

import pytest

from admissions import freeze
from tests.admissions_factories import (
    add_child_for,
    close_window,
    create_application,
    create_area,
    create_season,
    level_of,
)
from tests.browser.contactbook_helpers import log_in, tr
from tests.factories import create_district, create_user

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect


def test_a_family_finds_its_entry_by_code_and_sees_it_included(page, live_server, commit, assert_clean):
    district = create_district(name="Quận Cầu Giấy")
    area = create_area(district, n_children=3)
    season = create_season()
    level = level_of(season)
    parent = create_user("parent")
    apps = [
        create_application(
            add_child_for(parent, r, season), level, parent, choices=[area.other], catchment=area.home
        )
        for r in area.children
    ]
    close_window(level)
    freeze.refreeze(level, district.id, None)  # the scheduled freeze at the close
    commit()
    code = freeze.entry_code_of(apps[1].id)

    log_in(page, live_server, parent)
    page.goto(live_server(f"/children/applications/{apps[1].id}/receipt"))
    expect(page.get_by_text(code)).to_be_visible()
    page.get_by_role("link", name=tr("Find your entry"), exact=True).click()
    expect(page.get_by_role("status")).to_have_text(
        tr("Your entry is included in the published entry list (version %(v)d).", v=1)
    )
    expect(page.get_by_text(f"{area.other.code} → {area.home.code}")).to_be_visible()
    # A code typed wrong is not found, and says so.
    page.get_by_label(tr("Entry code (on your receipt)")).fill("AAAAA-AAAAA")
    page.get_by_role("button", name=tr("Find")).click()
    expect(page.get_by_role("status")).to_contain_text("AAAAA-AAAAA")
    page.get_by_role("link", name=tr("Public record")).click()
    expect(page.get_by_text(freeze.latest_freeze(level, district.id).root)).to_be_visible()
    assert_clean()
