"""app.xlsx beyond the single cell: messages and problem reports in both languages, reading
workbooks (headers in either language, rows, whole-file rejections) and writing them (formulas
escaped, text columns kept as text). The cells' own checks are in test_xlsx.py."""

from __future__ import annotations

import io

import openpyxl
import pytest
from flask import Flask
from flask_babel import Babel

from app import xlsx
from app.xlsx import CellError, Column, FileRejected, Problem


@pytest.fixture
def english():
    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        yield


# --------------------------------------------------------------------------- messages and reports


def test_every_message_renders_in_english(english):
    params = {
        "max": 3,
        "min": 1,
        "code": "X",
        "first": 2,
        "sheet": "roster",
        "column": "personal_id",
        "label": "Mã định danh",
    }
    for code in xlsx.MESSAGES:
        text = xlsx.render_message(code, params)
        assert text and "%(" not in text, code


def test_messages_outside_a_request_are_english():
    app = Flask(__name__)
    Babel(app)
    with app.app_context():
        assert xlsx.render_message("too_long", {"max": 5}) == "is longer than 5 characters"
        assert CellError("required").message() == "is required"


def test_an_area_adds_its_own_codes(english):
    table = {**xlsx.MESSAGES, "area_code": "area problem %(n)d"}

    class AreaProblem(Problem):
        messages = table

    assert xlsx.render_message("area_code", {"n": 2}, table) == "area problem 2"
    assert CellError("area_code", n=3).message(table) == "area problem 3"
    assert AreaProblem(4, "x", "area_code", {"n": 1}).line() == "row 4, column x: area problem 1"
    assert AreaProblem(4, "x", "required").line() == "row 4, column x: is required"  # shared codes too
    with pytest.raises(KeyError):
        Problem(4, "x", "area_code", {"n": 1}).message()


def test_problem_lines(english):
    assert Problem(3, "personal_id", "required").line() == "row 3, column personal_id: is required"
    written = Problem(3, "personal_id", "required", header="Mã định danh")
    assert written.line() == "row 3, column personal_id: is required"
    assert written.line(as_written=True) == "row 3, column Mã định danh: is required"
    assert Problem(3, None, "duplicate", {"first": 2}).line().startswith("row 3: repeats the value of row 2")
    assert (
        Problem(None, None, "not_xlsx").line()
        == "the file is not an Excel workbook (.xlsx) or cannot be read"
    )
    assert (
        Problem(2, "gender", "gender", sheet="pupils").line()
        == "row 2, column gender: must be male or female (Nam, Nữ) (sheet pupils)"
    )
    assert (
        Problem(None, None, "no_rows", sheet="teachers").line()
        == "sheet teachers: the sheet has no data rows below the header row"
    )
    assert Problem(None, "GK", "required").line() == "column GK: is required"


def test_problem_json_round_trip():
    for p in (
        Problem(3, "personal_id", "too_long", {"max": 12}, header="Mã định danh"),
        Problem(None, None, "no_rows", sheet="pupils"),
    ):
        data = p.to_json()
        assert Problem.from_json(data) == p
    assert Problem(1, "a", "required").to_json() == {
        "row": 1,
        "column": "a",
        "code": "required",
        "params": {},
        "header": None,
    }


# --------------------------------------------------------------------------- reading workbooks

COLUMNS = (
    Column("school_code", "Mã trường"),
    Column("class_name", "Lớp"),
    Column("teacher_email", "Email", aliases=("Email giáo viên",)),
    Column("homeroom", "Chủ nhiệm", required=False),
)


def test_match_headers_either_language_aliases_extra_columns():
    index, written = xlsx.match_headers(
        COLUMNS, ["Ghi chú", "LỚP", "email giao vien", None, 42, "school_code"]
    )
    assert index == {"class_name": 1, "teacher_email": 2, "school_code": 5}
    assert written["class_name"] == "LỚP" and written["teacher_email"] == "email giao vien"


def test_match_headers_missing_and_duplicate_columns():
    with pytest.raises(FileRejected) as err:
        xlsx.match_headers(COLUMNS, ["school_code", "Mã trường", "Lớp"], sheet="teachers")
    problems = err.value.problems
    assert [(p.code, p.params.get("column")) for p in problems] == [
        ("duplicate_column", "Mã trường"),
        ("missing_column", "teacher_email"),
    ]
    assert all(p.sheet == "teachers" for p in problems)


def _workbook(sheets: dict[str, list[list]]) -> bytes:
    wb = openpyxl.Workbook()
    wb.remove(wb.active)
    for title, rows in sheets.items():
        ws = wb.create_sheet(title)
        for row in rows:
            ws.append(row)
    return xlsx.workbook_bytes(wb)


def test_read_sheet_rows_types_and_blank_rows():
    data = _workbook(
        {
            " Teachers ": [
                ["school_code", "class_name", "teacher_email", "extra"],
                ["TH-A", "1A", "lan@example.edu.vn", "x"],
                [None, "  ", None, "only an extra column"],  # blank in the known columns: skipped
                ["TH-A", "=1+1", "binh@example.edu.vn"],
            ]
        }
    )
    wb = xlsx.open_workbook(data)
    try:
        rows = xlsx.read_sheet(wb, "teachers", COLUMNS)
    finally:
        wb.close()
    assert [r.number for r in rows] == [2, 4]
    assert rows[0].get("school_code") == ("TH-A", "s")
    assert rows[0].get("homeroom") == (None, "n")  # column not in the file
    assert rows[1].get("class_name") == ("=1+1", "f")  # formulas are kept, to be refused


@pytest.mark.parametrize(
    "sheets, code",
    [
        (
            {"pupils": [["school_code", "class_name", "teacher_email"], ["TH-A", "1A", "a@b.vn"]]},
            "missing_sheet",
        ),
        ({"teachers": [["school_code", "teacher_email"], ["TH-A", "a@b.vn"]]}, "missing_column"),
        ({"teachers": [["school_code", "class_name", "teacher_email"]]}, "no_rows"),
        (
            {"teachers": [["school_code", "class_name", "teacher_email"]] + [["TH-A", "1A", "a@b.vn"]] * 3},
            "too_many_rows",
        ),
    ],
)
def test_read_sheet_rejects_the_whole_file(sheets, code):
    wb = xlsx.open_workbook(io.BytesIO(_workbook(sheets)))
    with pytest.raises(FileRejected) as err:
        xlsx.read_sheet(wb, "teachers", COLUMNS, max_rows=2)
    wb.close()
    assert err.value.problems[0].code == code


@pytest.mark.parametrize("source", [b"school_code,class_name\n", b"", io.BytesIO(b"PK\x03\x04broken")])
def test_unreadable_files(source):
    with pytest.raises(FileRejected) as err:
        xlsx.open_workbook(source)
    assert [p.code for p in err.value.problems] == ["not_xlsx"]


def test_find_and_get_sheet():
    wb = xlsx.open_workbook(_workbook({"Info ": [["k", "v"]]}))
    assert xlsx.find_sheet(wb, "info").title == "Info "
    assert xlsx.find_sheet(wb, "grades") is None
    with pytest.raises(FileRejected) as err:
        xlsx.get_sheet(wb, "grades")
    assert err.value.problems[0].params == {"sheet": "grades"}
    wb.close()


# --------------------------------------------------------------------------- writing workbooks


def test_written_sheets_escape_formulas_and_keep_text_columns_as_text():
    wb = xlsx.new_workbook()
    xlsx.write_sheet(
        wb.active,
        ["Mã học sinh", "Họ và tên", "Điểm"],
        [["0123", "=cmd|' /C calc'!A0", 8], ["0456", "+1", None]],
        text_columns=(0,),
    )
    xlsx.write_row(wb.active, ["@x", "Nguyễn An", 5])
    back = openpyxl.load_workbook(io.BytesIO(xlsx.workbook_bytes(wb))).active
    assert [[c.value for c in row] for row in back.iter_rows()] == [
        ["Mã học sinh", "Họ và tên", "Điểm"],
        ["0123", "'=cmd|' /C calc'!A0", 8],
        ["0456", "'+1", None],
        ["'@x", "Nguyễn An", 5],
    ]
    assert all(c.data_type != "f" for row in back.iter_rows() for c in row)
    assert back.cell(row=1, column=1).font.bold
    assert back.cell(row=2, column=1).number_format == "@"


@pytest.mark.parametrize(
    ("raw", "safe"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-2", "'-2"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("Nguyễn Văn An", "Nguyễn Văn An"),
        (None, ""),
    ],
)
def test_excel_text_escapes_formula_like_text(raw, safe):
    assert xlsx.excel_text(raw) == safe
