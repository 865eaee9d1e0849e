"""Admissions journeys on a phone, in headless Chromium, against the live server.

- A parent registers, adds her child with the admission code, personal ID and date of birth,
  applies (a preferred school above the guaranteed catchment school) and gets a receipt; the
  school's admission council flags a document and she answers from the child's page; after the
  office publishes round 1 she sees the offer and why, and confirms the place.
- A district officer imports the schools, catchments and roster files, runs round 1 (progress
  page), tries a what-if with more seats, compares it side by side, publishes round 1, and the
  public page then shows the seed.

Texts are read from the compiled Vietnamese catalog with `tr()` (a string not translated yet is
matched in English, as the page shows it). Every journey ends with `assert_clean()`: no console
error, page error or Content-Security-Policy violation.
"""

from __future__ import annotations

import re
from datetime import date, timedelta

import openpyxl
import pytest
import sqlalchemy as sa

from admissions import council, rounds, rules
from admissions.codes import generate_codes
from admissions.eligibility import catchment_for
from admissions.models import AdmissionCode, AllocationRound, Application, Child, RosterEntry
from app import jobs
from app.extensions import db
from app.models import School, utcnow
from tests.admissions_factories import (
    add_child_for,
    close_window,
    create_application,
    create_area,
    create_round,
    create_season,
    intake_year,
    level_of,
)
from tests.browser.contactbook_helpers import at, log_in, tr
from tests.factories import create_district, create_user
from tests.sms import last_code

expect = pytest.importorskip("playwright.sync_api", reason="browser tier: playwright is not installed").expect
expect.set_options(timeout=10_000)


def _run_office_round(level, district, officer, drain) -> object:
    """What the office does between the parent's visits: close the window, run and publish round 1."""

    close_window(level)
    rnd = create_round(level, district, officer)
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
    return rnd


def test_parent_registers_adds_a_child_applies_answers_the_council_and_confirms_the_offer(
    page, live_server, commit, db, drain, assert_clean
):

    district = create_district(name="Quận Cầu Giấy")
    area = create_area(district, n_children=2)
    season = create_season()
    level = level_of(season)
    generate_codes(level, district.id)
    officer = create_user("district_officer", district=district)
    staff = create_user("school_staff", school=area.other)
    commit()
    roster = area.children[0]
    code = db.session.scalar(sa.select(AdmissionCode).where(AdmissionCode.roster_entry_id == roster.id))
    name = roster.full_name

    # 1. register on the phone
    page.goto(live_server("/auth/register"))
    page.get_by_label(tr("Full name")).fill("Lê Thị Hạnh")
    page.get_by_label(tr("Mobile phone number")).fill("0912 345 679")
    page.get_by_label(tr("Password"), exact=True).fill("mot buoi sang dep troi")
    page.get_by_label(tr("Repeat the password")).fill("mot buoi sang dep troi")
    page.get_by_label(tr("I have read the privacy notice and agree to this processing.")).check()
    page.get_by_role("button", name=tr("Create account")).click()
    expect(page).to_have_url(at("/auth/verify"))  # the code sent by SMS (the log, without a gateway)
    page.get_by_label(tr("Code"), exact=True).fill(last_code("0912345679"))
    page.get_by_role("button", name=tr("Confirm")).click()
    expect(page).to_have_url(at("/home"))

    # 2. add the child with the paper from the school
    page.get_by_role("link", name=tr("My children: admissions")).click()
    expect(page).to_have_url(at("/children/"))
    page.get_by_role("link", name=tr("Add a child")).click()
    page.get_by_label(tr("Admission code")).fill(rules.format_code(code.code))
    page.get_by_label(tr("Child's personal ID")).fill(roster.personal_id)
    page.get_by_label(tr("Date of birth")).fill(roster.date_of_birth.isoformat())
    page.get_by_role("button", name=tr("Find my child")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text(name)
    expect(page.get_by_text(area.home.name)).to_be_visible()  # the catchment school, guaranteed

    # 3. apply: `other` ranked above the catchment school
    page.get_by_role("link", name=tr("Apply for %(name)s", name=name)).click()
    page.get_by_label(tr("1st choice")).select_option(label=area.other.name)
    page.get_by_role("button", name=tr("Submit the application for %(name)s", name=name)).click()
    expect(page).to_have_url(re.compile(r"/receipt"))
    db.session.rollback()
    app_ = db.session.scalar(sa.select(Application))
    expect(page.get_by_text(app_.reference).first).to_be_visible()
    page.goto(live_server("/children/"))
    expect(page.get_by_text(tr("Submitted"), exact=True).first).to_be_visible()

    # 4. the council of her 1st-choice school flags the proof of residence
    council.update_documents(
        app_,
        area.other,
        staff,
        {"birth_certificate": ("checked", ""), "residence_proof": ("problem", "Giấy tạm trú đã hết hạn.")},
    )
    commit()
    drain()
    page.goto(live_server(f"/children/{app_.child_id}"))
    expect(page.get_by_text("Giấy tạm trú đã hết hạn.").first).to_be_visible()
    page.get_by_label(tr("Answer the school's council")).fill("Tôi sẽ mang giấy mới đến trường vào thứ Hai.")
    page.get_by_role("button", name=tr("Send the answer")).click()
    expect(page).to_have_url(at(f"/children/{app_.child_id}"))
    expect(
        page.get_by_text(tr("Your answer has been sent to the school's admission council."))
    ).to_be_visible()
    expect(page.get_by_text("Tôi sẽ mang giấy mới đến trường vào thứ Hai.")).to_be_visible()

    # 5. the office runs and publishes round 1; she sees the offer and why, and confirms
    _run_office_round(level, district, officer, drain)
    page.goto(live_server(f"/children/{app_.child_id}"))
    expect(
        page.get_by_text(tr("%(name)s is offered a place at %(school)s.", name=name, school=area.other.name))
    ).to_be_visible()
    expect(
        page.get_by_text(tr("Admitted at your 1st choice, %(school)s.", school=area.other.name))
    ).to_be_visible()
    page.get_by_role("button", name=tr("Confirm the place of %(name)s", name=name)).click()
    expect(
        page.get_by_text(
            tr("The place of %(name)s at %(school)s is confirmed.", name=name, school=area.other.name)
        ).first
    ).to_be_visible()
    db.session.rollback()
    assert db.session.get(Application, app_.id).status == "confirmed"
    assert_clean()


# ---- the officer -------------------------------------------------------------------------------

DISTRICT = "Quận Cầu Giấy"


def _workbook(path, sheet: str, header: list, rows: list) -> str:
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(header)
    for row in rows:
        ws.append(row)
    wb.save(path)
    return str(path)


def _files(tmp_path) -> dict[str, str]:
    """Three grade-1 schools; two catchments; six children (four in Dịch Vọng: two seats there)."""

    born = rules.birth_year_for("grade1", intake_year())
    schools = _workbook(
        tmp_path / "schools.xlsx",
        "schools",
        ["school_code", "name", "level", "district", "ward", "address", "capacity"],
        [
            ["TH-DICHVONG", "Trường Tiểu học Dịch Vọng", "Lớp 1", DISTRICT, "Dịch Vọng", "", 2],
            ["TH-QUANHOA", "Trường Tiểu học Quan Hoa", "Lớp 1", DISTRICT, "Quan Hoa", "", 3],
            ["TH-NGHIATAN", "Trường Tiểu học Nghĩa Tân", "Lớp 1", DISTRICT, "Nghĩa Tân", "", 5],
        ],
    )
    catchments = _workbook(
        tmp_path / "catchments.xlsx",
        "catchments",
        ["school_code", "district", "ward", "residential_group"],
        [
            ["TH-DICHVONG", DISTRICT, "Dịch Vọng", None],
            ["TH-QUANHOA", DISTRICT, "Quan Hoa", None],
            ["TH-NGHIATAN", DISTRICT, "Nghĩa Tân", None],
        ],
    )
    given = ["An", "Bình", "Chi", "Dũng", "Giang", "Hà"]
    rows = []
    for i, g in enumerate(given):
        female = i % 2 == 0
        rows.append(
            [
                f"001{3 if female else 2}{born % 100:02d}{i + 1:06d}",
                f"Phạm {'Thị' if female else 'Văn'} {g}",
                date(born, 1 + i, 10),
                "Nữ" if female else "Nam",
                DISTRICT,
                "Dịch Vọng" if i < 4 else "Quan Hoa",
                "Tổ 1",
                "Thường trú",
                "Phạm Văn Bố",
                f"09120000{i:02d}",
            ]
        )
    roster = _workbook(
        tmp_path / "roster.xlsx",
        "roster",
        [
            "personal_id",
            "full_name",
            "date_of_birth",
            "gender",
            "district",
            "ward",
            "residential_group",
            "residence_type",
            "guardian_name",
            "guardian_phone",
        ],
        rows,
    )
    return {"schools": schools, "catchments": catchments, "roster": roster}


def _import(page, live_server, kind: str, path: str, drain) -> None:
    page.goto(live_server("/admissions/imports"))
    section = page.locator(f"#import-{kind}")
    section.get_by_label(tr("Excel file (.xlsx)")).set_input_files(path)
    section.get_by_role("button", name=tr("Import")).click()
    expect(page).to_have_url(re.compile(r"/admissions/imports/\d+"))
    drain()  # with Redis, a real worker; in-process the import already ran at the commit
    expect(page.locator(".flash-success")).to_be_visible()


def test_officer_imports_runs_a_round_compares_a_what_if_and_publishes(
    page, live_server, commit, db, drain, assert_clean, tmp_path
):

    district = create_district(name=DISTRICT)
    officer = create_user("district_officer", district=district)
    season = create_season()
    level = level_of(season)
    commit()
    files = _files(tmp_path)

    # 1. imports from the phone: schools, catchments, roster
    log_in(page, live_server, officer)
    page.get_by_role("link", name=tr("Excel imports: schools, catchments, roster")).click()
    for kind in ("schools", "catchments", "roster"):
        _import(page, live_server, kind, files[kind], drain)
    db.session.rollback()
    entries = db.session.scalars(sa.select(RosterEntry).order_by(RosterEntry.personal_id)).all()
    assert len(entries) == 6

    # families applied during the window (the parent journey above shows how); it has closed now
    parent = create_user("parent")

    schools = {s.code: s for s in db.session.scalars(sa.select(School))}
    for entry in entries:
        child = add_child_for(parent, entry, season)
        home = db.session.get(
            School, catchment_for("grade1", entry.ward_id, entry.residential_group_id).school_id
        )
        # the two Quan Hoa children rank Nghĩa Tân first
        others = [schools["TH-NGHIATAN"]] if entry.ward.name == "Quan Hoa" else []
        create_application(child, level, parent, choices=others, catchment=home)
    close_window(level)
    commit()
    assert db.session.scalar(sa.select(sa.func.count(Child.id))) == 6

    # the level's overview on the phone: its table scrolls inside its frame, the page does not
    page.goto(live_server(f"/admissions/office/districts/{district.id}/levels/{level.id}"))
    expect(page.get_by_text(tr("Eligible children") + ": 6")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # 2. round 1: create (the seed's SHA-256 is public), run, see the results
    page.goto(live_server(f"/admissions/office/districts/{district.id}/levels/{level.id}/rounds"))
    page.get_by_role("button", name=tr("Create round 1 (draw the seed)")).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(tr("Round %(n)d", n=1))
    # without BEACON_URL the run waits for the beacon; the officer types its value and source
    page.get_by_role("button", name=tr("Run the round")).click()
    expect(
        page.get_by_text(
            tr(
                "Waiting for the public randomness beacon: its round fixed in advance has not been received yet "
                "(not emitted yet, or the beacon cannot be reached). Try again in a few minutes, or type its value "
                "and where you read it."
            )
        )
    ).to_be_visible()
    page.get_by_label(tr("Beacon randomness (hexadecimal)")).fill("7f" * 32)
    page.get_by_label(tr("Where it was read (address of the page)")).fill("https://api.drand.sh/public/42")
    page.get_by_role("button", name=tr("Record the beacon value")).click()
    expect(page.get_by_text(tr("The beacon value is recorded and public."))).to_be_visible()
    page.get_by_role("button", name=tr("Run the round")).click()
    drain()
    expect(page.locator("#round-progress-text")).to_have_text(tr("Done (not published)"), timeout=15_000)
    results = page.get_by_role("table", name=tr("Schools"))
    expect(results.get_by_role("row", name=re.compile("Dịch Vọng"))).to_contain_text("2")
    official = db.session.scalar(sa.select(AllocationRound).where(AllocationRound.kind == "official"))
    assert official.summary["unassigned"] == 2  # four children for two seats in Dịch Vọng

    # 3. what-if: two more seats at Dịch Vọng, compared side by side
    page.get_by_role("link", name=tr("Try other capacities")).click()
    page.get_by_label("Trường Tiểu học Dịch Vọng").fill("4")
    page.get_by_role("button", name=tr("Run the what-if")).click()
    drain()
    compare = page.get_by_role("link", name=tr("Compare side by side"))
    expect(compare).to_be_visible(timeout=15_000)
    compare.click()
    row = page.get_by_role("table", name=tr("Per school")).get_by_role("row", name=re.compile("Dịch Vọng"))
    expect(row).to_contain_text("2 → 4")
    expect(row).to_contain_text("+2")
    # the two children who would get a seat with the extra seats are listed by name (officers only)
    expect(page.get_by_role("heading", level=2)).to_contain_text("2")

    # 4. publish the official round
    page.get_by_role("link", name=tr("Back to the official round")).click()
    page.get_by_label(tr("I have checked the results: publish them and tell the families.")).check()
    page.get_by_role("button", name=tr("Publish round %(n)d", n=1)).click()
    expect(page.locator(".flashes .flash-success")).to_contain_text(
        tr(
            "Round %(n)d published: %(offered)d offers, %(moved)d moved up, %(unplaced)d without a seat. "
            "The seed is now public and the families are being notified.",
            n=1,
            offered=4,
            moved=0,
            unplaced=2,
        )
    )
    drain()
    db.session.rollback()
    official = db.session.get(AllocationRound, official.id)
    assert official.status == "published"

    # 5. the public page shows the seed and the cutoff, no name
    page.goto(live_server(f"/tuyen-sinh/levels/{level.id}/districts/{district.id}"))
    expect(page.get_by_text(official.seed)).to_be_visible()
    assert "Phạm" not in page.content()
    assert_clean()
