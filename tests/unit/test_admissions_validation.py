"""Admissions' own cell checks (admissions/imports/cells.py, docs/excel-formats.md): personal IDs, levels,
residence types, place names. The generic checks are tested in test_xlsx.py."""

from __future__ import annotations

from datetime import date

import pytest
from flask import Flask
from flask_babel import Babel

from admissions.imports import COLUMNS, match_headers
from admissions.imports import cells as v
from admissions.imports.cells import CellError
from app import xlsx
from app.xlsx import FileRejected


def code_of(fn, *args, **kw) -> str:
    with pytest.raises(CellError) as err:
        fn(*args, **kw)
    return err.value.code


# --------------------------------------------------------------------------- personal IDs


@pytest.mark.parametrize(
    "pid",
    [
        "001320012345",  # Hà Nội, girl born 20xx
        "001220012345",  # Hà Nội, boy born 20xx
        "079015123456",  # Hồ Chí Minh, man born 19xx
        "096199000001",  # Cà Mau, woman born 19xx
        "048400000000",  # Đà Nẵng, 21xx male
    ],
)
def test_personal_id_accepts_well_formed(pid):
    assert v.personal_id(pid, "s") == pid


@pytest.mark.parametrize(
    "raw, expected",
    [
        (" 001320012345 ", "001320012345"),
        ("001 3 20 012345", "001320012345"),
    ],
)
def test_personal_id_strips_spaces(raw, expected):
    assert v.personal_id(raw, "s") == expected


@pytest.mark.parametrize(
    "raw, code",
    [
        ("00132001234", "pid_format"),  # 11 digits
        ("0013200123456", "pid_format"),  # 13 digits
        ("00132001234A", "pid_format"),
        ("００１３２００１２３４５", "pid_format"),  # full-width digits are not ASCII digits
        ("", "pid_format"),
        ("003320012345", "pid_province"),  # 003 is not a province code
        ("000320012345", "pid_province"),
        ("097320012345", "pid_province"),  # after Cà Mau (096)
        ("999320012345", "pid_province"),
        ("013320012345", "pid_province"),
    ],
)
def test_personal_id_refuses(raw, code):
    assert code_of(v.personal_id, raw, "s") == code


@pytest.mark.parametrize("value, data_type", [(1320012345, "n"), (1.32e9, "n"), ("001320012345", "n")])
def test_personal_id_number_cell_lost_leading_zeros(value, data_type):
    assert code_of(v.personal_id, value, data_type) == "number_cell"


@pytest.mark.parametrize("value, data_type", [(True, "b"), (date(2020, 1, 1), "d")])
def test_personal_id_not_text(value, data_type):
    assert code_of(v.personal_id, value, data_type) == "not_text"


def test_every_province_code_is_three_digits_and_63_of_them():
    assert len(v.PROVINCE_CODES) == 63
    assert all(len(c) == 3 and c.isdigit() for c in v.PROVINCE_CODES)
    assert v.PROVINCE_CODES["001"] == "Hà Nội" and v.PROVINCE_CODES["096"] == "Cà Mau"
    assert v.PROVINCE_CODES["079"] == "Hồ Chí Minh"


@pytest.mark.parametrize(
    "year, gender, digit",
    [
        (1900, "male", 0),
        (1999, "female", 1),
        (2000, "male", 2),
        (2020, "female", 3),
        (2099, "male", 2),
        (2100, "male", 4),
        (2101, "female", 5),
    ],
)
def test_century_gender_digit(year, gender, digit):
    assert v.century_gender_digit(year, gender) == digit


@pytest.mark.parametrize(
    "pid, gender, born",
    [
        ("001320012345", "female", date(2020, 3, 15)),
        ("001220012345", "male", date(2020, 12, 31)),
        ("001215000001", "male", date(2015, 1, 1)),
        ("001099000001", "male", date(1999, 6, 1)),
        ("001199000001", "female", date(1999, 6, 1)),
        ("001300000001", "female", date(2000, 1, 1)),
    ],
)
def test_personal_id_consistent(pid, gender, born):
    assert v.personal_id_problem(pid, gender, born) is None


@pytest.mark.parametrize(
    "pid, gender, born, code",
    [
        ("001320012345", "male", date(2020, 3, 15), "pid_century_gender"),  # girl's digit, boy
        ("001220012345", "female", date(2020, 3, 15), "pid_century_gender"),  # boy's digit, girl
        ("001020012345", "male", date(2020, 3, 15), "pid_century_gender"),  # 1900s digit, born 2020
        ("001120012345", "female", date(2020, 3, 15), "pid_century_gender"),
        ("001399012345", "female", date(1999, 3, 15), "pid_century_gender"),  # 2000s digit, born 1999
        ("001321012345", "female", date(2020, 3, 15), "pid_year"),  # year digits 21 ≠ 20
        ("001319012345", "female", date(2020, 3, 15), "pid_year"),
        ("001300012345", "female", date(2020, 3, 15), "pid_year"),
    ],
)
def test_personal_id_inconsistent(pid, gender, born, code):
    problem = v.personal_id_problem(pid, gender, born)
    assert problem is not None and problem.code == code
    assert v.render_message(problem.code, problem.params)  # renders with its parameters


# --------------------------------------------------------------------------- enumerations


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("kindergarten", "kindergarten"),
        ("Mầm non 5 tuổi", "kindergarten"),
        ("mam non 5 tuoi", "kindergarten"),
        ("MẦM NON 5 TUỔI", "kindergarten"),
        ("grade1", "grade1"),
        ("Grade 1", "grade1"),
        ("Lớp 1", "grade1"),
        ("lop 1", "grade1"),
        ("grade6", "grade6"),
        ("Lớp 6", "grade6"),
        ("grade_6", "grade6"),
    ],
)
def test_levels(raw, expected):
    assert v.level(raw) == expected


@pytest.mark.parametrize("raw", ["grade 2", "Lớp 10", "THCS", "", 1, None])
def test_unknown_levels(raw):
    assert code_of(v.level, raw) == "level"


@pytest.mark.parametrize("raw", ["M", "F", "khác", "", 0])
def test_roster_genders_are_spelled_out(raw):
    assert code_of(v.gender, raw) == "gender"  # the residency export writes Nam / Nữ, never M / F


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("permanent", "permanent"),
        ("Thường trú", "permanent"),
        ("thuong tru", "permanent"),
        ("temporary", "temporary"),
        ("Tạm trú", "temporary"),
        ("TẠM TRÚ", "temporary"),
    ],
)
def test_residence_types(raw, expected):
    assert v.residence_type(raw) == expected


def test_unknown_residence_type():
    assert code_of(v.residence_type, "vãng lai") == "residence_type"


# --------------------------------------------------------------------------- headers and places


def test_generic_checks_are_the_shared_ones():
    """Text, names, codes, phones, dates, gender, numbers: app/xlsx/ (tests/unit/test_xlsx.py)."""
    for name in (
        "CellError",
        "a_date",
        "check_cell",
        "clean_text",
        "code",
        "escape_formula",
        "gender",
        "header_key",
        "integer",
        "localize",
        "number",
        "person_name",
        "phone",
        "text",
    ):
        assert getattr(v, name) is getattr(xlsx, name), name
    assert set(xlsx.MESSAGES) < set(v.MESSAGES)


def test_match_headers_any_order_either_language_extra_columns():
    header = [
        "Ghi chú",
        "Số điện thoại",
        "full_name",
        "MÃ ĐỊNH DANH",
        "ngay sinh",
        "Giới tính",
        "district",
        "Phường/Xã",
        "Loại cư trú",
        "guardian_name",
        None,
        42,
    ]
    index, written = match_headers("roster", header)
    assert index["personal_id"] == 3 and index["guardian_phone"] == 1 and index["date_of_birth"] == 4
    assert "residential_group" not in index  # optional
    assert written["personal_id"] == "MÃ ĐỊNH DANH"


def test_match_headers_missing_and_duplicate_columns():
    with pytest.raises(FileRejected) as err:
        match_headers("roster", ["personal_id", "Mã định danh", "full_name"])
    codes = [p.code for p in err.value.problems]
    assert codes.count("duplicate_column") == 1
    missing = {p.params["column"] for p in err.value.problems if p.code == "missing_column"}
    assert missing == {c.name for c in COLUMNS["roster"] if c.required} - {"personal_id", "full_name"}


def test_place_keys_ignore_case_and_tone_placement():
    assert v.place_key("Trung Hòa") == v.place_key("trung hoà") == v.place_key("TRUNG HÒA")
    assert v.place_key("Hà Đông") != v.place_key("Hạ Đông")
    assert v.place_short_key("Quận Cầu Giấy", "district") == v.place_key("Cầu Giấy")
    assert v.place_short_key("Tổ dân phố 5", "group") == v.place_short_key("Tổ 5", "group") == "5"


def test_slugify():
    assert v.slugify("Quận Cầu Giấy") == "quan-cau-giay"
    assert len(v.slugify("Huyện " + "Đông Anh " * 5)) <= 20


def test_every_message_renders_in_english():
    params = {
        "max": 3,
        "min": 1,
        "code": "X",
        "digit": "3",
        "expected": "2",
        "first": 2,
        "sheet": "roster",
        "column": "personal_id",
        "label": "Mã định danh",
    }

    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        for code in v.MESSAGES:
            assert "%(" not in v.render_message(code, params), code
