"""Excel imports of schools, catchments and the roster (docs/excel-formats.md):
importer, CLI, web upload with progress, templates, scope, audit, query counts."""

from __future__ import annotations

import io
import re
from datetime import date, datetime

import openpyxl
import pytest
import sqlalchemy as sa

from admissions.imports import COLUMNS, import_workbook
from admissions.models import Catchment, RosterEntry
from app import jobs
from app.models import AuditLog, District, ImportJob, ResidentialGroup, School, Ward
from tests.factories import create_district, create_school, create_user

EN = {kind: [c.name for c in cols] for kind, cols in COLUMNS.items()}
VI = {kind: [c.label for c in cols] for kind, cols in COLUMNS.items()}

SCHOOL_ROWS = [
    [
        "TH-DICHVONG",
        "Trường Tiểu học Dịch Vọng",
        "grade1",
        "Quận Cầu Giấy",
        "Dịch Vọng",
        "Số 1 Dịch Vọng",
        105,
        21.036,
        105.791,
    ],
    [
        "MN-HOASEN",
        "Trường Mầm non Hoa Sen",
        "Mầm non 5 tuổi",
        "Quận Cầu Giấy",
        "Quan Hoa",
        "",
        90,
        None,
        None,
    ],
    ["THCS-CAUGIAY", "Trường THCS Cầu Giấy", "Lớp 6", "Quận Cầu Giấy", None, None, 80, "21.034", "105.799"],
]


def roster_row(
    pid="001320012345",
    name="Nguyễn Thị An",
    born=date(2020, 3, 15),
    gender="Nữ",
    district="Quận Cầu Giấy",
    ward="Dịch Vọng",
    group="Tổ 1",
    residence="Thường trú",
    guardian="Nguyễn Văn Bình",
    phone="0912345678",
):
    return [pid, name, born, gender, district, ward, group, residence, guardian, phone]


GIVEN = ["A", "B", "C", "D", "E", "F", "Giang", "Hà", "Khoa", "Lan", "Minh", "Ngọc", "Phúc"]


def good_roster(n=5):
    rows = []
    for i in range(n):
        female = i % 2 == 0
        given = GIVEN[i % len(GIVEN)]
        rows.append(
            roster_row(
                pid=f"001{3 if female else 2}20{i:06d}",
                name=f"Trần {'Thị' if female else 'Văn'} {given}",
                gender="Nữ" if female else "Nam",
                born=date(2020, 1 + i % 12, 1 + i % 28),
                group=f"Tổ {1 + i % 3}",
                residence="Tạm trú" if i % 4 == 3 else "Thường trú",
                phone=f"09{i:08d}",
            )
        )
    return rows


def xlsx(sheet: str, header: list, rows: list, *, text_cells: dict | None = None, other_sheets=()) -> bytes:
    """An in-memory workbook. Strings starting with '=' become formulas unless listed in
    `text_cells` {(row, col): value} (1-based), which are stored as text whatever they start with."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(header)
    for row in rows:
        ws.append(row)
    for (r, c), value in (text_cells or {}).items():
        cell = ws.cell(row=r, column=c)
        cell.value = value
        cell.data_type = "s"
    for name in other_sheets:
        wb.create_sheet(name)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def run(kind, data: bytes, **kw):
    report = import_workbook(kind, io.BytesIO(data), **kw)
    if report.ok:
        jobs.commit()
    else:
        jobs.rollback()
    return report


def problems(report):
    return [(p.row, p.column, p.code) for p in report.problems]


def count(db, model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def caugiay(db):
    d = District(code="CG", name="Quận Cầu Giấy")
    db.session.add(d)
    db.session.flush()
    jobs.commit()
    return d


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
    from admissions.imports import reading

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
    from admissions.imports import reading

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
    reading = [f for p, f in calls if p == "reading"]
    assert len(reading) == 2 and 0 < reading[0] < reading[1] <= 1
    assert calls[-1] == ("saving", 1.0)
    jobs.rollback()


# --------------------------------------------------------------------------- templates


def test_templates_have_vietnamese_headers_text_cells_and_import_back(app, db, caugiay):
    from admissions.exports import template_workbook

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
    from app.xlsx import write_row

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
    from flask_babel import force_locale

    from admissions.imports import Problem

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


# --------------------------------------------------------------------------- web


def english(client):
    client.post_form("/lang", {"lang": "en"}, token_from="/home")


def upload(client, kind, data, filename="file.xlsx"):
    token = client.csrf("/admissions/imports")
    return client.post(
        f"/admissions/imports?kind={kind}",
        data={"csrf_token": token, f"{kind}-file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def test_web_upload_as_district_officer(app, db, client, run_jobs, caugiay):
    other = create_district(name="Quận Ba Đình")
    officer = create_user("district_officer", district=caugiay)
    jobs.commit()
    district_id, officer_id, other_name = (
        caugiay.id,
        officer.id,
        other.name,
    )  # a worker's run detaches objects
    client.login_as(officer)
    english(client)
    page = client.get("/admissions/imports")
    assert page.status_code == 200
    assert "/admissions/imports/template?kind=roster" in page.get_data(as_text=True)

    resp = upload(client, "roster", xlsx("roster", VI["roster"], good_roster(4)), "danh sách.xlsx")
    assert resp.status_code == 302
    run_jobs()
    job = db.session.scalar(sa.select(ImportJob))
    assert (job.status, job.progress, job.created_count, job.district_id, job.user_id) == (
        "done",
        100,
        4,
        district_id,
        officer_id,
    )
    assert job.filename == "danh sách.xlsx"
    status = client.get(resp.headers["Location"])
    assert status.status_code == 200
    assert "created 4, updated 0, unchanged 0" in status.get_data(as_text=True)
    data = client.get(f"/admissions/imports/{job.id}/status").get_json()
    assert data["status"] == "done" and data["final"] and data["progress"] == 100
    assert count(db, RosterEntry) == 4

    # Rows of another district are refused; nothing stored; the report is shown row by row.
    rows = good_roster(3)
    rows[1][4] = other_name
    resp = upload(client, "roster", xlsx("roster", VI["roster"], rows))
    run_jobs()
    job2 = db.session.scalar(sa.select(ImportJob).order_by(ImportJob.id.desc()))
    assert job2.status == "rejected" and job2.problem_count == 1
    html = client.get(f"/admissions/imports/{job2.id}").get_data(as_text=True)
    assert "row 3, column Quận/Huyện: you may import only rows of your own district" in html
    assert count(db, RosterEntry) == 4
    assert "(1 problem)" in client.get("/admissions/imports").get_data(as_text=True)  # singular in English

    # Uploaded files are removed once processed.
    import os

    from app.imports import upload_dir

    assert os.listdir(upload_dir()) == []

    audits = db.session.execute(
        sa.select(AuditLog.action, AuditLog.details)
        .where(AuditLog.action.like("admissions.import.%"))
        .order_by(AuditLog.id)
    ).all()
    assert [a for a, _ in audits] == [
        "admissions.import.upload",
        "admissions.import.done",
        "admissions.import.upload",
        "admissions.import.rejected",
    ]
    assert audits[1][1]["created"] == 4 and "001320000000" not in str(audits)


def test_web_report_is_capped(app, db, client, run_jobs, caugiay):
    officer = create_user("city_admin")
    jobs.commit()
    client.login_as(officer)
    english(client)
    rows = [roster_row(pid=f"00132{i:07d}", phone="12") for i in range(260)]
    resp = upload(client, "roster", xlsx("roster", EN["roster"], rows))
    assert resp.status_code == 302
    run_jobs()
    html = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert html.count("<li>row ") == 200
    assert "and 60 more problems" in html


def test_web_form_errors_are_422(app, db, client, caugiay):
    client.login_as(create_user("city_admin"))
    english(client)
    resp = upload(client, "schools", b"hello", "schools.csv")
    assert resp.status_code == 422
    assert "Upload an .xlsx file" in resp.get_data(as_text=True)
    resp = upload(client, "schools", b"hello, not a zip", "schools.xlsx")
    assert resp.status_code == 422
    assert "This is not an Excel .xlsx file." in resp.get_data(as_text=True)
    assert upload(client, "nonsense", b"x").status_code == 404
    assert count(db, ImportJob) == 0


def test_web_teacher_and_parent_are_refused(app, db, make_client, caugiay):
    school = create_school(caugiay)
    for user in (
        create_user("teacher", school=school),
        create_user("school_staff", school=school),
        create_user("parent"),
    ):
        jobs.commit()
        client = make_client()
        client.login_as(user)
        assert client.get("/admissions/imports").status_code == 403
        assert client.get("/admissions/imports/template?kind=roster").status_code == 403
        assert upload(client, "roster", xlsx("roster", EN["roster"], [roster_row()])).status_code in (
            400,
            403,
        )
    assert count(db, ImportJob) == 0 and count(db, RosterEntry) == 0


def test_status_is_scoped_to_the_importers_district(app, db, make_client, caugiay):
    other = create_district(name="Quận Ba Đình")
    mine = create_user("district_officer", district=caugiay)
    colleague = create_user("district_officer", district=caugiay)
    foreign = create_user("district_officer", district=other)
    admin = create_user("city_admin")
    jobs.commit()
    c = make_client()
    c.login_as(mine)
    resp = upload(c, "schools", xlsx("schools", EN["schools"], SCHOOL_ROWS[:1]))
    job_url = resp.headers["Location"]
    for user, expected in ((mine, 200), (colleague, 200), (admin, 200), (foreign, 404)):
        client = make_client()
        client.login_as(user)
        assert client.get(job_url).status_code == expected, user.role
        assert client.get(job_url + "/status").status_code == expected
    # The city's own imports are not shown to district officers.
    ca = make_client()
    ca.login_as(admin)
    city_job = upload(ca, "schools", xlsx("schools", EN["schools"], SCHOOL_ROWS[1:2])).headers["Location"]
    c2 = make_client()
    c2.login_as(mine)
    assert c2.get(city_job).status_code == 404
    listing = c2.get("/admissions/imports").get_data(as_text=True)
    assert job_url in listing and city_job not in listing


def test_template_download(app, db, client):
    client.login_as(create_user("city_admin"))
    resp = client.get("/admissions/imports/template?kind=catchments")
    assert resp.status_code == 200
    assert resp.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "catchments.xlsx" in resp.headers["Content-Disposition"]
    wb = openpyxl.load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames == ["catchments"]
    assert client.get("/admissions/imports/template?kind=other").status_code == 404


def test_status_page_polls_with_external_script(app, db, client):
    admin = create_user("city_admin")
    job = ImportJob(kind="roster", status="running", progress=40, file_token="a" * 32, user_id=admin.id)
    db.session.add(job)
    jobs.commit()
    client.login_as(admin)
    html = client.get(f"/admissions/imports/{job.id}").get_data(as_text=True)
    assert f'data-status-url="/admissions/imports/{job.id}/status"' in html
    assert '<progress id="import-progress-bar" max="100" value="40">' in html
    assert "/static/js/progress.js" in html and "onclick" not in html
    data = client.get(f"/admissions/imports/{job.id}/status").get_json()
    assert (data["status"], data["progress"], data["final"]) == ("running", 40, False)


def import_foreign_ids(world) -> dict[str, int]:
    """For the route × role test: an import job of district B's officer (outside district A)."""
    from app.extensions import db

    officer = world["foreign"]["district_officer"]
    job = ImportJob(
        kind="roster",
        status="done",
        progress=100,
        file_token="b" * 32,
        user_id=officer.id,
        district_id=officer.district_id,
    )
    db.session.add(job)
    db.session.flush()
    return {"job_id": job.id}


def test_job_records_progress_on_its_own_connection(app, db, caugiay, monkeypatch, run_jobs):
    """run_import moves status/progress while reading (visible to pollers before the job commits),
    then stores counts and report; the uploaded file is removed after the commit."""
    import os
    import uuid

    from admissions.imports import reading
    from app.imports import runner as tasks

    seen = []
    real_set_status = tasks._set_status

    def spy(job_id, **values):
        real_set_status(job_id, **values)
        with db.engine.connect() as conn:  # what a poller on another connection sees now
            seen.append(
                tuple(
                    conn.execute(
                        sa.select(ImportJob.status, ImportJob.progress).where(ImportJob.id == job_id)
                    ).one()
                )
            )

    monkeypatch.setattr(tasks, "_set_status", spy)
    monkeypatch.setattr(
        reading.Progress, "tick", lambda self, done: self.fn("reading", self.sheet.fraction_read())
    )
    token = uuid.uuid4().hex
    os.makedirs(tasks.upload_dir(), exist_ok=True)
    with open(tasks.upload_path(token), "wb") as fh:
        fh.write(xlsx("roster", EN["roster"], good_roster(3000)))
    job = ImportJob(kind="roster", file_token=token, district_id=caugiay.id)
    db.session.add(job)
    jobs.commit()
    job_id = job.id

    jobs.run_job("app.imports.runner:run_import", [job_id], {})

    assert seen[0] == ("running", 1)
    reading = [p for s, p in seen if s == "running"]
    assert len(reading) >= 3 and reading == sorted(reading) and 1 < reading[-1] <= 90
    assert ("saving", 95) in seen
    job = db.session.get(ImportJob, job_id)
    assert (job.status, job.progress, job.rows, job.created_count) == ("done", 100, 3000, 3000)
    assert job.started_at is not None and job.finished_at >= job.started_at
    run_jobs()  # with Redis, the file removal is a job of its own
    assert not os.path.exists(tasks.upload_path(token))
    # Running the job again (e.g. an RQ retry, or a job queued under the path it had before the
    # runner moved to the platform) changes nothing.
    jobs.run_job("admissions.tasks:run_import", [job_id], {})
    assert count(db, RosterEntry) == 3000


def test_entity_expansion_bomb_is_rejected_quickly(db, caugiay):
    """A workbook whose sheet XML hides a 'billion laughs' entity bomb is refused as unreadable."""
    import time
    import zipfile

    plain = xlsx("roster", EN["roster"], [roster_row(name="BOMB")])
    entities = '<!ENTITY lol "lol">' + "".join(
        f'<!ENTITY lol{i} "{("&lol" + (str(i - 1) if i > 1 else "") + ";") * 10}">' for i in range(1, 10)
    )
    src = zipfile.ZipFile(io.BytesIO(plain))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.startswith("xl/worksheets/sheet"):
                text = re.sub(r"^<\?xml[^>]*\?>", "", data.decode())
                text = f'<?xml version="1.0"?><!DOCTYPE worksheet [{entities}]>' + text
                data = text.replace("BOMB", "&lol9;").encode()
            dst.writestr(item, data)
    started = time.monotonic()
    report = run("roster", out.getvalue())
    assert problems(report) == [(None, None, "not_xlsx")]
    assert time.monotonic() - started < 20
    assert count(db, RosterEntry) == 0


def test_district_officer_scope_for_schools_and_catchments(db, caugiay):
    other = create_district(name="Quận Ba Đình")
    theirs = create_school(other, code="TH-BADINH")
    jobs.commit()
    other_id, other_name = other.id, other.name
    # A school of another district cannot be moved into mine, nor imported into theirs.
    rows = [
        ["TH-BADINH", "Trường Ba Đình", "grade1", "Quận Cầu Giấy", None, None, 10, None, None],
        ["TH-NEW", "Trường Mới", "grade1", other_name, None, None, 10, None, None],
        ["TH-MINE", "Trường Của Tôi", "grade1", "Cầu Giấy", None, None, 10, None, None],
    ]
    report = run("schools", xlsx("schools", EN["schools"], rows), scope=caugiay.id)
    assert problems(report) == [
        (2, "school_code", "school_other_district"),
        (3, "district", "other_district"),
    ]
    assert db.session.get(School, theirs.id).district_id == other_id
    # Catchment lines of another district's school, or in another district's wards, are refused.
    create_school(caugiay, code="TH-MINE")
    jobs.commit()
    lines = [
        ["TH-BADINH", "Quận Cầu Giấy", "Dịch Vọng", None],
        ["TH-MINE", other_name, "Phúc Xá", None],
        ["TH-MINE", "Quận Cầu Giấy", "Dịch Vọng", None],
    ]
    report = run("catchments", xlsx("catchments", EN["catchments"], lines), scope=caugiay.id)
    assert problems(report) == [
        (2, "school_code", "school_other_district"),
        (3, "district", "other_district"),
    ]
    assert run("catchments", xlsx("catchments", EN["catchments"], lines[2:]), scope=caugiay.id).created == 1


def test_imports_page_queries_do_not_grow_with_jobs(app, db, client, caugiay):
    officer = create_user("district_officer", district=caugiay)
    jobs.commit()
    client.login_as(officer)

    def queries_for_page():
        n = {"q": 0}

        def counter(*args):
            n["q"] += 1

        sa.event.listen(db.engine, "before_cursor_execute", counter)
        try:
            assert client.get("/admissions/imports").status_code == 200
        finally:
            sa.event.remove(db.engine, "before_cursor_execute", counter)
        return n["q"]

    def add_jobs(k, start):
        for i in range(k):
            db.session.add(
                ImportJob(
                    kind="roster",
                    status="done",
                    file_token=f"{start + i:032x}",
                    user_id=officer.id,
                    district_id=caugiay.id,
                )
            )
        jobs.commit()

    add_jobs(1, 0)
    few = queries_for_page()
    add_jobs(15, 100)
    many = queries_for_page()
    assert many == few, (few, many)


def test_stale_uploads_are_removed(app):
    import os
    import time

    from app.imports import runner as tasks

    os.makedirs(tasks.upload_dir(), exist_ok=True)
    old, fresh = tasks.upload_path("c" * 32), tasks.upload_path("d" * 32)
    for path in (old, fresh):
        with open(path, "wb") as fh:
            fh.write(b"x")
    two_days_ago = time.time() - 48 * 3600
    os.utime(old, (two_days_ago, two_days_ago))
    assert tasks.remove_stale_uploads() == 1
    assert not os.path.exists(old) and os.path.exists(fresh)
    os.remove(fresh)
