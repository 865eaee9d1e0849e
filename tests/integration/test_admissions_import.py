"""Excel imports of schools, catchments and the roster (docs/excel-formats.md): the importer,
the CLI, templates, scope, audit. The web upload with its progress, access and query counts are
in test_admissions_import_web.py; the files and helpers in tests/admissions_import_cases.py."""

from __future__ import annotations

import io
import re
from datetime import date, datetime

import openpyxl
import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from admissions.exports import template_workbook
from admissions.imports import Problem, import_workbook, reading
from admissions.models import Catchment, RosterEntry
from app import jobs
from app.models import AuditLog, District, ResidentialGroup, School, Ward
from app.xlsx import write_row
from tests.admissions_import_cases import (
    EN,
    SCHOOL_ROWS,
    VI,
    count,
    good_roster,
    problems,
    roster_row,
    run,
    xlsx,
)
from tests.factories import create_district, create_school

# --------------------------------------------------------------------------- schools


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_schools_import_then_reimport_unchanged(db, caugiay, lang):
    header = EN["schools"] if lang == "en" else VI["schools"]
    data = xlsx("schools", header, SCHOOL_ROWS)
    report = run("schools", data)
    assert report.ok, problems(report)
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    assert report.summary() == "created 3, updated 0, unchanged 0"
    s = db.session.scalar(sa.select(School).where(School.code == "TH-DICHVONG"))
    assert (s.level, s.capacity, s.district_id, s.ward.name, s.latitude) == (
        "grade1",
        105,
        caugiay.id,
        "Dịch Vọng",
        21.036,
    )
    kg = db.session.scalar(sa.select(School).where(School.code == "MN-HOASEN"))
    assert kg.level == "kindergarten" and kg.address == "" and kg.latitude is None
    assert db.session.scalar(sa.select(School.level).where(School.code == "THCS-CAUGIAY")) == "grade6"
    # Wards named in the file were created on the fly in the existing district.
    assert {w.name for w in db.session.scalars(sa.select(Ward))} == {"Dịch Vọng", "Quan Hoa"}
    assert count(db, District) == 1

    again = run("schools", data)
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)

    changed = [list(r) for r in SCHOOL_ROWS]
    changed[1][6] = 95
    third = run("schools", xlsx("schools", header, changed))
    assert (third.created, third.updated, third.unchanged) == (0, 1, 2)
    assert db.session.scalar(sa.select(School.capacity).where(School.code == "MN-HOASEN")) == 95


def test_school_update_with_empty_cells_keeps_what_is_stored_and_dash_clears(db, caugiay):
    """A one-row update that leaves the address and coordinates empty must not erase them (they
    feed the nearest-school suggestions); "-" clears a value on purpose."""
    header = EN["schools"]
    full = [
        "TH-DV",
        "Trường Dịch Vọng",
        "grade1",
        "Cầu Giấy",
        "Dịch Vọng",
        "12 Trần Đăng Ninh",
        105,
        21.036,
        105.79,
    ]
    assert run("schools", xlsx("schools", header, [full])).ok
    update = ["TH-DV", "Trường Dịch Vọng", "grade1", "Cầu Giấy", None, None, 120, None, None]
    report = run("schools", xlsx("schools", header, [update]))
    assert (report.created, report.updated, report.unchanged) == (0, 1, 0), problems(report)
    school = db.session.scalar(sa.select(School).where(School.code == "TH-DV"))
    assert (school.capacity, school.ward.name, school.address, school.latitude, school.longitude) == (
        120,
        "Dịch Vọng",
        "12 Trần Đăng Ninh",
        21.036,
        105.79,
    )
    assert run("schools", xlsx("schools", header, [update])).unchanged == 1
    cleared = ["TH-DV", "Trường Dịch Vọng", "grade1", "Cầu Giấy", "-", " - ", 120, "-", "-"]
    report = run("schools", xlsx("schools", header, [cleared]))
    assert report.ok and report.updated == 1, problems(report)
    db.session.expire_all()
    school = db.session.scalar(sa.select(School).where(School.code == "TH-DV"))
    assert (school.ward_id, school.address, school.latitude, school.longitude) == (None, "", None, None)
    # A new school may say "-" too: nothing to clear, nothing stored.
    new = ["TH-NEW", "Trường Mới", "grade1", "Cầu Giấy", "-", "-", 10, "-", "-"]
    assert run("schools", xlsx("schools", header, [new])).created == 1


def test_school_moved_to_another_district_with_an_empty_ward_loses_the_old_ward(db, caugiay):
    header = EN["schools"]
    assert run(
        "schools",
        xlsx(
            "schools", header, [["TH-M", "Trường M", "grade1", "Cầu Giấy", "Dịch Vọng", None, 10, None, None]]
        ),
    ).ok
    moved = ["TH-M", "Trường M", "grade1", "Huyện Gia Lâm", None, None, 10, None, None]
    assert run("schools", xlsx("schools", header, [moved])).updated == 1
    db.session.expire_all()
    school = db.session.scalar(sa.select(School).where(School.code == "TH-M"))
    assert school.ward_id is None and school.district.name == "Huyện Gia Lâm"


def test_schools_any_order_extra_columns_and_district_created_by_name(db):
    header = ["Ghi chú", "capacity", "level", "name", "school_code", "district"]
    report = run(
        "schools",
        xlsx(
            "schools",
            header,
            [["x", 50, "grade1", "Trường Tiểu học Gia Thụy", "TH-GIATHUY", "Huyện Gia Lâm"]],
        ),
    )
    assert report.ok, problems(report)
    d = db.session.scalar(sa.select(District).where(District.name == "Huyện Gia Lâm"))
    assert d is not None and d.code == "huyen-gia-lam"


def test_district_matched_without_prefix_and_tone_placement(db, caugiay):
    header = EN["schools"]
    row = ["TH-A", "Trường A", "grade1", "cầu giấy", "Trung Hòa", None, 10, None, None]
    assert run("schools", xlsx("schools", header, [row])).ok
    row2 = ["TH-B", "Trường B", "grade1", "QUẬN CẦU GIẤY", "Trung Hoà", None, 10, None, None]
    assert run("schools", xlsx("schools", header, [row2])).ok
    assert count(db, District) == 1 and count(db, Ward) == 1


def test_schools_bad_rows_store_nothing(db, caugiay):
    rows = [
        ["TH-A", "Trường A", "grade1", "Quận Cầu Giấy", None, None, 10, None, None],
        [1234, "Trường B", "grade1", "Quận Cầu Giấy", None, None, 10, None, None],  # numeric code
        ["TH-C", "Trường C", "grade 2", "Quận Cầu Giấy", None, None, 10, None, None],  # level
        ["TH-A", "Trường A bis", "grade1", "Quận Cầu Giấy", None, None, 10, None, None],  # duplicate
        ["TH-E", None, "grade1", "Quận Cầu Giấy", None, None, "mười", None, None],  # name, capacity
        ["TH-F", "Trường F", "grade1", "Quận Cầu Giấy", None, None, 10, 105.8, 21.0],  # swapped lat/lon
        ["TH-G", '=HYPERLINK("http://x")', "grade1", "Quận Cầu Giấy", None, None, 10, None, None],  # formula
    ]
    report = run("schools", xlsx("schools", EN["schools"], rows))
    assert not report.ok
    assert problems(report) == [
        (3, "school_code", "number_cell"),
        (4, "level", "level"),
        (5, "school_code", "duplicate"),
        (6, "name", "required"),
        (6, "capacity", "integer"),
        (7, "latitude", "number_range"),
        (7, "longitude", "number_range"),
        (8, "name", "formula"),
    ]
    assert report.problems[2].params == {"first": 2}
    assert count(db, School) == 0 and count(db, Ward) == 0
    assert "row 3, column school_code: must be a text cell; leading zeros lost" in report.problems[0].line()


# --------------------------------------------------------------------------- catchments


def test_catchments_import_reimport_and_unknown_school(db, caugiay):
    create_school(caugiay, code="TH-DICHVONG")
    jobs.commit()
    rows = [
        ["TH-DICHVONG", "Quận Cầu Giấy", "Dịch Vọng", None],  # the whole ward
        ["TH-DICHVONG", "Quận Cầu Giấy", "Quan Hoa", "Tổ 1"],
        ["TH-DICHVONG", "Quận Cầu Giấy", "Quan Hoa", "Tổ 2"],
    ]
    report = run("catchments", xlsx("catchments", VI["catchments"], rows))
    assert report.ok, problems(report)
    assert (report.created, report.updated, report.unchanged) == (3, 0, 0)
    lines = db.session.execute(
        sa.select(Ward.name, ResidentialGroup.name)
        .select_from(Catchment)
        .join(Ward, Ward.id == Catchment.ward_id)
        .outerjoin(ResidentialGroup, ResidentialGroup.id == Catchment.residential_group_id)
    ).all()
    assert sorted(lines, key=str) == sorted(
        [("Dịch Vọng", None), ("Quan Hoa", "Tổ 1"), ("Quan Hoa", "Tổ 2")], key=str
    )

    again = run(
        "catchments",
        xlsx("catchments", VI["catchments"], rows + [["th-dichvong", "Cầu Giấy", "quan hoa", "tổ 2"]]),
    )
    assert problems(again) == [(5, "school_code", "duplicate")]  # same line spelled differently
    again = run("catchments", xlsx("catchments", VI["catchments"], rows))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 3)

    bad = run(
        "catchments", xlsx("catchments", EN["catchments"], [["TH-NOWHERE", "Quận Cầu Giấy", "Yên Hòa", None]])
    )
    assert problems(bad) == [(2, "school_code", "unknown_school")]
    assert (
        count(db, Catchment) == 3 and db.session.scalar(sa.select(Ward).where(Ward.name == "Yên Hòa")) is None
    )


# --------------------------------------------------------------------------- roster


@pytest.mark.parametrize("lang", ["en", "vi"])
def test_roster_import_reimport_update(db, caugiay, lang):
    header = EN["roster"] if lang == "en" else VI["roster"]
    rows = good_roster(6)
    report = run("roster", xlsx("roster", header, rows))
    assert report.ok, problems(report)
    assert (report.rows, report.created, report.updated, report.unchanged) == (6, 6, 0, 0)
    e = db.session.scalar(sa.select(RosterEntry).where(RosterEntry.personal_id == "001320000000"))
    assert (e.full_name, e.gender, e.date_of_birth, e.residence_type, e.guardian_phone) == (
        "Trần Thị A",
        "female",
        date(2020, 1, 1),
        "permanent",
        "0900000000",
    )
    assert (
        e.ward.name == "Dịch Vọng" and e.ward.district_id == caugiay.id and e.residential_group.name == "Tổ 1"
    )
    assert count(db, ResidentialGroup) == 3

    again = run("roster", xlsx("roster", header, rows))
    assert (again.created, again.updated, again.unchanged) == (0, 0, 6)

    rows[2][8] = "Trần Văn Cường"
    rows.append(roster_row(pid="001220999999", name="Lê Văn Mới", gender="male", born="02/02/2020"))
    third = run("roster", xlsx("roster", header, rows))
    assert (third.created, third.updated, third.unchanged) == (1, 1, 5)


def test_roster_text_dates_english_enums_and_blank_rows_keep_row_numbers(db, caugiay):
    rows = [
        roster_row(born="15/03/2020", gender="female", residence="temporary"),
        [None] * 10,  # a blank row in the middle is skipped but still counted in row numbers
        roster_row(
            pid="001220012346",
            name="Lê Văn Bảo",
            born=datetime(2020, 5, 1),
            gender="male",
            phone="+84912345679",
        ),
        roster_row(pid="001220012347", name="Lê Văn Cường", gender="bogus"),
    ]
    report = run("roster", xlsx("roster", EN["roster"], rows))
    assert problems(report) == [(5, "gender", "gender")]
    rows.pop()
    report = run("roster", xlsx("roster", EN["roster"], rows))
    assert report.ok and report.rows == 2
    assert (
        db.session.scalar(
            sa.select(RosterEntry.guardian_phone).where(RosterEntry.personal_id == "001220012346")
        )
        == "0912345679"
    )


def test_roster_every_kind_of_bad_row(db, caugiay):
    rows = [
        roster_row(),  # 2 ok
        roster_row(pid="00132001234"),  # 3 bad format
        roster_row(pid="003320012346"),  # 4 unknown province
        roster_row(pid="001220012347"),  # 5 boy's digit, girl
        roster_row(pid="001020012348", gender="Nam"),  # 6 1900s digit, born 2020
        roster_row(pid="001321012349"),  # 7 year digits 21 ≠ 2020
        roster_row(pid=1320012350),  # 8 numeric cell
        roster_row(pid="001320012351", phone="0241234567"),  # 9 landline
        roster_row(pid="001320012352", name="=1+1"),  # 10 formula cell
        roster_row(pid="001320012353"),  # 11 '=cmd' text name (below)
        roster_row(pid="001320012354", born="31/02/2020"),  # 12 bad date
        roster_row(pid="001320012355", born=43905),  # 13 serial number, not a date
        roster_row(pid="001320012345"),  # 14 duplicate of row 2
        roster_row(pid="001320012356", residence="vãng lai"),  # 15 residence type
        roster_row(pid="001320012357", guardian="@SUM(A1)", ward=None),  # 16 guardian, ward missing
    ]
    data = xlsx("roster", VI["roster"], rows, text_cells={(11, 2): "=cmd|' /C calc'!A0", (16, 9): "@SUM(A1)"})
    report = run("roster", data)
    assert problems(report) == [
        (3, "personal_id", "pid_format"),
        (4, "personal_id", "pid_province"),
        (5, "personal_id", "pid_century_gender"),
        (6, "personal_id", "pid_century_gender"),
        (7, "personal_id", "pid_year"),
        (8, "personal_id", "number_cell"),
        (9, "guardian_phone", "phone"),
        (10, "full_name", "formula"),
        (11, "full_name", "formula_text"),
        (12, "date_of_birth", "date_invalid"),
        (13, "date_of_birth", "date_number"),
        (14, "personal_id", "duplicate"),
        (15, "residence_type", "residence_type"),
        (16, "guardian_name", "formula_text"),
        (16, "ward", "required"),
    ]
    assert report.problems[0].header == "Mã định danh"
    assert report.problems[0].line(as_written=True).startswith("row 3, column Mã định danh: ")
    assert count(db, RosterEntry) == 0 and count(db, Ward) == 0 and count(db, ResidentialGroup) == 0


@pytest.mark.parametrize(
    "data, code",
    [
        (b"not a spreadsheet at all", "not_xlsx"),
        (b"PK\x03\x04 truncated zip", "not_xlsx"),
        (xlsx("Sheet1", EN["roster"], [roster_row()]), "missing_sheet"),
        (
            xlsx(
                "roster",
                [c for c in EN["roster"] if c != "date_of_birth"],
                [roster_row()[:2] + roster_row()[3:]],
            ),
            "missing_column",
        ),
        (xlsx("roster", EN["roster"], []), "no_rows"),
        (xlsx("roster", EN["roster"], [[None] * 10, [""] * 10]), "no_rows"),
        (xlsx("roster", [], []), "missing_column"),
    ],
)
def test_whole_file_rejections(db, caugiay, data, code):
    report = run("roster", data)
    assert not report.ok
    assert {p.code for p in report.problems} == {code}
    assert all(p.row is None for p in report.problems)
    assert count(db, RosterEntry) == 0


@pytest.mark.parametrize("kind", ["schools", "catchments", "roster"])
def test_too_many_rows_rejects_the_whole_file(db, caugiay, monkeypatch, kind):

    monkeypatch.setattr(reading, "MAX_ROWS", 1)
    rows = {
        "schools": SCHOOL_ROWS[:2],
        "catchments": [["TH-A", "Quận Cầu Giấy", "Dịch Vọng", None]] * 2,
        "roster": [roster_row(), roster_row(pid="001320012346")],
    }[kind]
    report = run(kind, xlsx(kind, EN[kind], rows))
    assert problems(report) == [(None, None, "too_many_rows")]
    assert report.problems[0].params == {"max": 1}


def test_sheet_name_is_matched_case_insensitively_among_others(db, caugiay):
    data = xlsx("Roster", EN["roster"], [roster_row()], other_sheets=("Hướng dẫn",))
    assert run("roster", data).ok


def test_district_scope(db, caugiay):
    other = create_district(name="Quận Ba Đình")
    jobs.commit()
    rows = [
        roster_row(),
        roster_row(pid="001220012346", name="Lê Văn Bảo", gender="Nam", district="Quận Ba Đình"),
        roster_row(pid="001220012347", name="Lê Văn Cường", gender="Nam", district="Quận Mới Tinh"),
    ]
    report = run("roster", xlsx("roster", EN["roster"], rows), scope=caugiay.id)
    assert problems(report) == [(3, "district", "other_district"), (4, "district", "other_district")]
    assert count(db, District) == 2

    # A child already in another district's roster cannot be taken over by an officer.
    assert run(
        "roster", xlsx("roster", EN["roster"], [roster_row(district="Quận Ba Đình")]), scope=other.id
    ).ok
    moved = run("roster", xlsx("roster", EN["roster"], [roster_row()]), scope=caugiay.id)
    assert problems(moved) == [(2, "personal_id", "roster_other_district")]
    # The city can move the child.
    assert run("roster", xlsx("roster", EN["roster"], [roster_row()])).updated == 1


def test_no_query_per_row(app, db, caugiay):
    """Query count does not grow with the number of rows."""
    counter = {"n": 0}

    def count_queries(*args):
        counter["n"] += 1

    def queries_for(n, offset):
        rows = good_roster(n)
        for r in rows:
            r[0] = r[0][:6] + f"{offset + int(r[0][6:]):06d}"
        counter["n"] = 0
        sa.event.listen(db.engine, "before_cursor_execute", count_queries)
        try:
            assert run("roster", xlsx("roster", EN["roster"], rows)).ok
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", count_queries)
        return counter["n"]

    small = queries_for(10, 0)
    big = queries_for(400, 1000)
    assert big <= small + 2, (small, big)  # + executemany chunks at most


def test_progress_callback_reports_reading_and_saving(db, caugiay, monkeypatch):

    calls = []
    monkeypatch.setattr(
        reading.Progress, "tick", lambda self, done: self.fn("reading", self.sheet.fraction_read())
    )
    report = import_workbook(
        "roster",
        io.BytesIO(xlsx("roster", EN["roster"], good_roster(2500))),
        progress=lambda phase, f: calls.append((phase, f)),
    )
    assert report.ok
    fractions = [f for p, f in calls if p == "reading"]
    assert len(fractions) == 2 and 0 < fractions[0] < fractions[1] <= 1
    assert calls[-1] == ("saving", 1.0)
    jobs.rollback()


# --------------------------------------------------------------------------- templates


def test_templates_have_vietnamese_headers_text_cells_and_import_back(app, db, caugiay):

    for kind in ("schools", "catchments", "roster"):
        wb = openpyxl.load_workbook(io.BytesIO(template_workbook(kind)))
        ws = wb[kind]
        assert [c.value for c in ws[1]] == VI[kind]
        assert ws.max_row == 2
        code_col = 1
        assert ws.cell(row=2, column=code_col).number_format == "@"
        assert ws.cell(row=2, column=code_col).data_type == "s"
        report = run(kind, template_workbook(kind))
        assert report.ok, (kind, problems(report))
        assert report.created == 1


def test_export_escaping_helper():

    wb = openpyxl.Workbook()
    ws = wb.active
    write_row(ws, ["=cmd|' /C calc'!A0", "+1", "Nguyễn An", 5])
    buf = io.BytesIO()
    wb.save(buf)
    back = openpyxl.load_workbook(io.BytesIO(buf.getvalue()))
    cells = list(back.active[1])
    assert [c.value for c in cells] == ["'=cmd|' /C calc'!A0", "'+1", "Nguyễn An", 5]
    assert all(c.data_type != "f" for c in cells)


# --------------------------------------------------------------------------- CLI


def test_cli_import_ok_and_rejected(app, db, runner, caugiay, tmp_path):
    good = tmp_path / "schools.xlsx"
    good.write_bytes(xlsx("schools", VI["schools"], SCHOOL_ROWS))
    result = runner.invoke(args=["admissions", "import-schools", str(good)])
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "created 3, updated 0, unchanged 0"
    result = runner.invoke(args=["admissions", "import-schools", str(good)])
    assert result.stdout.strip().splitlines()[-1] == "created 0, updated 0, unchanged 3"

    bad = tmp_path / "roster.xlsx"
    bad.write_bytes(
        xlsx("roster", EN["roster"], [roster_row(), roster_row(pid="00132001234"), roster_row(phone="12")])
    )
    result = runner.invoke(args=["admissions", "import-roster", str(bad)])
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert lines[0] == "row 3, column personal_id: must be exactly 12 digits"
    assert re.match(r"row 4, column personal_id: repeats the value of row 2", lines[1])
    assert lines[2].startswith("row 4, column guardian_phone: is not a Vietnamese mobile number")
    assert count(db, RosterEntry) == 0

    vi = runner.invoke(args=["admissions", "import-roster", "--lang", "vi", str(bad)])

    with force_locale("vi"):
        expected = Problem(3, "personal_id", "pid_format").line()
    assert vi.exit_code == 2 and vi.stderr.splitlines()[0] == expected

    missing = tmp_path / "catchments.xlsx"
    missing.write_bytes(xlsx("catchments", ["school_code"], [["TH-DICHVONG"]]))
    result = runner.invoke(args=["admissions", "import-catchments", str(missing)])
    assert result.exit_code == 2
    assert "the first row has no column district [Quận/Huyện]" in result.stderr

    actions = db.session.scalars(sa.select(AuditLog.action).order_by(AuditLog.id)).all()
    assert actions.count("admissions.import.done") == 2 and "admissions.import.rejected" in actions


def test_cli_allocate_file_still_registered(runner):
    result = runner.invoke(args=["admissions", "--help"])
    for name in ("allocate-file", "import-schools", "import-catchments", "import-roster"):
        assert name in result.output
