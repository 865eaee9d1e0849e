"""Pure cell checks of the Excel imports (admissions/validation.py, DESIGN §4b)."""
from __future__ import annotations

from datetime import date, datetime

import pytest

from admissions import validation as v
from admissions.importers import COLUMNS, FileRejected, match_headers
from admissions.validation import CellError


def code_of(fn, *args, **kw) -> str:
    with pytest.raises(CellError) as err:
        fn(*args, **kw)
    return err.value.code


# --------------------------------------------------------------------------- personal IDs


@pytest.mark.parametrize("pid", [
    "001320012345",   # Hà Nội, girl born 20xx
    "001220012345",   # Hà Nội, boy born 20xx
    "079015123456",   # Hồ Chí Minh, man born 19xx
    "096199000001",   # Cà Mau, woman born 19xx
    "048400000000",   # Đà Nẵng, 21xx male
])
def test_personal_id_accepts_well_formed(pid):
    assert v.personal_id(pid, "s") == pid


@pytest.mark.parametrize("raw, expected", [
    (" 001320012345 ", "001320012345"),
    ("001 3 20 012345", "001320012345"),
])
def test_personal_id_strips_spaces(raw, expected):
    assert v.personal_id(raw, "s") == expected


@pytest.mark.parametrize("raw, code", [
    ("00132001234", "pid_format"),       # 11 digits
    ("0013200123456", "pid_format"),     # 13 digits
    ("00132001234A", "pid_format"),
    ("００１３２００１２３４５", "pid_format"),  # full-width digits are not ASCII digits
    ("", "pid_format"),
    ("003320012345", "pid_province"),    # 003 is not a province code
    ("000320012345", "pid_province"),
    ("097320012345", "pid_province"),    # after Cà Mau (096)
    ("999320012345", "pid_province"),
    ("013320012345", "pid_province"),
])
def test_personal_id_refuses(raw, code):
    assert code_of(v.personal_id, raw, "s") == code


@pytest.mark.parametrize("value, data_type", [(1320012345, "n"), (1.32e9, "n"), ("001320012345", "n")])
def test_personal_id_number_cell_lost_leading_zeros(value, data_type):
    assert code_of(v.personal_id, value, data_type) == "number_cell"


def test_every_province_code_is_three_digits_and_63_of_them():
    assert len(v.PROVINCE_CODES) == 63
    assert all(len(c) == 3 and c.isdigit() for c in v.PROVINCE_CODES)
    assert v.PROVINCE_CODES["001"] == "Hà Nội" and v.PROVINCE_CODES["096"] == "Cà Mau"
    assert v.PROVINCE_CODES["079"] == "Hồ Chí Minh"


@pytest.mark.parametrize("year, gender, digit", [
    (1900, "male", 0), (1999, "female", 1), (2000, "male", 2), (2020, "female", 3),
    (2099, "male", 2), (2100, "male", 4), (2101, "female", 5),
])
def test_century_gender_digit(year, gender, digit):
    assert v.century_gender_digit(year, gender) == digit


@pytest.mark.parametrize("pid, gender, born", [
    ("001320012345", "female", date(2020, 3, 15)),
    ("001220012345", "male", date(2020, 12, 31)),
    ("001215000001", "male", date(2015, 1, 1)),
    ("001099000001", "male", date(1999, 6, 1)),
    ("001199000001", "female", date(1999, 6, 1)),
    ("001300000001", "female", date(2000, 1, 1)),
])
def test_personal_id_consistent(pid, gender, born):
    assert v.personal_id_problem(pid, gender, born) is None


@pytest.mark.parametrize("pid, gender, born, code", [
    ("001320012345", "male", date(2020, 3, 15), "pid_century_gender"),    # girl's digit, boy
    ("001220012345", "female", date(2020, 3, 15), "pid_century_gender"),  # boy's digit, girl
    ("001020012345", "male", date(2020, 3, 15), "pid_century_gender"),    # 1900s digit, born 2020
    ("001120012345", "female", date(2020, 3, 15), "pid_century_gender"),
    ("001399012345", "female", date(1999, 3, 15), "pid_century_gender"),  # 2000s digit, born 1999
    ("001321012345", "female", date(2020, 3, 15), "pid_year"),            # year digits 21 ≠ 20
    ("001319012345", "female", date(2020, 3, 15), "pid_year"),
    ("001300012345", "female", date(2020, 3, 15), "pid_year"),
])
def test_personal_id_inconsistent(pid, gender, born, code):
    problem = v.personal_id_problem(pid, gender, born)
    assert problem is not None and problem.code == code
    assert v.render_message(problem.code, problem.params)  # renders with its parameters


# --------------------------------------------------------------------------- dates


TODAY = date(2026, 6, 1)


@pytest.mark.parametrize("value, expected", [
    (datetime(2020, 3, 15, 0, 0), date(2020, 3, 15)),
    (date(2020, 3, 15), date(2020, 3, 15)),
    ("15/03/2020", date(2020, 3, 15)),
    ("5/3/2020", date(2020, 3, 5)),
    (" 15-03-2020 ", date(2020, 3, 15)),
    ("15.03.2020", date(2020, 3, 15)),
    ("2020-03-15", date(2020, 3, 15)),
    ("29/02/2020", date(2020, 2, 29)),
])
def test_dates_accepted(value, expected):
    assert v.a_date(value, "s", today=TODAY) == expected


@pytest.mark.parametrize("value, code", [
    ("03/15/2020", "date_invalid"),     # mm/dd: month 15
    ("29/02/2021", "date_invalid"),
    ("31/04/2020", "date_invalid"),
    ("15/03/20", "date_format"),
    ("2020/03/15", "date_format"),
    ("ngày 15 tháng 3", "date_format"),
    (43905, "date_number"),              # an Excel serial without a date format
    (43905.0, "date_number"),
    (True, "date_format"),
    ("01/01/1899", "date_too_old"),
    ("02/06/2026", "date_future"),
])
def test_dates_refused(value, code):
    assert code_of(v.a_date, value, "s", today=TODAY) == code


# --------------------------------------------------------------------------- enumerations


@pytest.mark.parametrize("raw, expected", [
    ("kindergarten", "kindergarten"), ("Mầm non 5 tuổi", "kindergarten"), ("mam non 5 tuoi", "kindergarten"),
    ("MẦM NON 5 TUỔI", "kindergarten"), ("grade1", "grade1"), ("Grade 1", "grade1"), ("Lớp 1", "grade1"),
    ("lop 1", "grade1"), ("grade6", "grade6"), ("Lớp 6", "grade6"), ("grade_6", "grade6"),
])
def test_levels(raw, expected):
    assert v.level(raw) == expected


@pytest.mark.parametrize("raw", ["grade 2", "Lớp 10", "THCS", "", 1, None])
def test_unknown_levels(raw):
    assert code_of(v.level, raw) == "level"


@pytest.mark.parametrize("raw, expected", [
    ("male", "male"), ("Nam", "male"), ("NAM", "male"), ("female", "female"), ("Nữ", "female"), ("nu", "female"),
    ("Nữ", "female"),  # decomposed Unicode (NFD), as some Mac exports write it
])
def test_genders(raw, expected):
    assert v.gender(raw) == expected


@pytest.mark.parametrize("raw", ["M", "F", "khác", "", 0])
def test_unknown_genders(raw):
    assert code_of(v.gender, raw) == "gender"


@pytest.mark.parametrize("raw, expected", [
    ("permanent", "permanent"), ("Thường trú", "permanent"), ("thuong tru", "permanent"),
    ("temporary", "temporary"), ("Tạm trú", "temporary"), ("TẠM TRÚ", "temporary"),
])
def test_residence_types(raw, expected):
    assert v.residence_type(raw) == expected


def test_unknown_residence_type():
    assert code_of(v.residence_type, "vãng lai") == "residence_type"


# --------------------------------------------------------------------------- phones, names, codes


@pytest.mark.parametrize("raw, data_type, expected", [
    ("0912345678", "s", "0912345678"), ("+84 912 345 678", "s", "0912345678"), ("091.234.5678", "s", "0912345678"),
    ("0387654321", "s", "0387654321"), (912345678, "n", "0912345678"), (912345678.0, "n", "0912345678"),
])
def test_phones(raw, data_type, expected):
    assert v.phone(raw, data_type) == expected


@pytest.mark.parametrize("raw", ["0241234567", "091234567", "09123456789", "abc", "0112345678", 12345, True])
def test_bad_phones(raw):
    assert code_of(v.phone, raw, "s") == "phone"


@pytest.mark.parametrize("raw", ["=cmd|' /C calc'!A0", "+SUM(A1)", "-2+3", "@SUM(1)"])
def test_names_refuse_formula_prefixes(raw):
    assert code_of(v.person_name, raw) == "formula_text"
    assert code_of(v.text, raw) == "formula_text"


@pytest.mark.parametrize("raw, expected", [
    ("  Nguyễn   Thị  An ", "Nguyễn Thị An"), ("Nguyễn\u200bThị An".replace("\u200b", " "), "Nguyễn Thị An"),
    ("Nguyễn Thị An", "Nguyễn Thị An"),  # NFD → NFC
    ("H'Hen Niê", "H'Hen Niê"), ("Lê-Anh", "Lê-Anh"),
])
def test_person_names_cleaned(raw, expected):
    assert v.person_name(raw) == expected


@pytest.mark.parametrize("raw, code", [
    ("A", "too_short"), ("x" * 121, "too_long"), ("Nguyễn 2", "bad_name"), ("<b>An</b>", "bad_name"),
    (123, "not_text"), ("   ", "required"),
])
def test_person_names_refused(raw, code):
    assert code_of(v.person_name, raw) == code


def test_codes_must_be_text():
    assert v.code(" TH-DICHVONG ", "s") == "TH-DICHVONG"
    assert v.code("01001234", "s") == "01001234"
    assert code_of(v.code, 1001234, "n") == "number_cell"
    assert code_of(v.code, "=A1", "s") == "formula_text"
    assert code_of(v.code, "TH DICH VONG", "s") == "bad_code"


def test_formula_and_error_cells():
    assert code_of(v.check_cell, "=1+1", "f") == "formula"
    assert code_of(v.check_cell, "#REF!", "e") == "error_value"
    v.check_cell("text", "s")


@pytest.mark.parametrize("raw, expected", [(90, 90), (90.0, 90), ("1.200", 1200), (" 105 ", 105), (0, 0)])
def test_integers(raw, expected):
    assert v.integer(raw) == expected


@pytest.mark.parametrize("raw, code", [(90.5, "integer"), ("ten", "integer"), (-1, "integer_range"), (True, "integer")])
def test_bad_integers(raw, code):
    assert code_of(v.integer, raw) == code


def test_numbers():
    assert v.number("21,036", minimum=8, maximum=24) == 21.036
    assert code_of(v.number, 105.8, minimum=8, maximum=24) == "number_range"
    assert code_of(v.number, "north", minimum=8, maximum=24) == "number"


# --------------------------------------------------------------------------- headers and places


@pytest.mark.parametrize("header, key", [
    ("Mã định danh", "ma dinh danh"), ("  MÃ ĐỊNH  DANH ", "ma dinh danh"), ("personal_id", "personal id"),
    ("Personal ID", "personal id"), ("Họ tên cha/mẹ/người giám hộ", "ho ten cha/me/nguoi giam ho"),
])
def test_header_key(header, key):
    assert v.header_key(header) == key


def test_match_headers_any_order_either_language_extra_columns():
    header = ["Ghi chú", "Số điện thoại", "full_name", "MÃ ĐỊNH DANH", "ngay sinh", "Giới tính", "district",
              "Phường/Xã", "Loại cư trú", "guardian_name", None, 42]
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


@pytest.mark.parametrize("raw, escaped", [
    ("=cmd", "'=cmd"), ("+1", "'+1"), ("-1", "'-1"), ("@x", "'@x"), ("\tx", "'\tx"), ("An", "An"), (5, 5),
    (None, None),
])
def test_escape_formula(raw, escaped):
    assert v.escape_formula(raw) == escaped


def test_every_message_renders_in_english():
    params = {"max": 3, "min": 1, "code": "X", "digit": "3", "expected": "2", "first": 2, "sheet": "roster",
              "column": "personal_id", "label": "Mã định danh"}
    from flask import Flask
    from flask_babel import Babel

    app = Flask(__name__)
    Babel(app)
    with app.test_request_context():
        for code in v.MESSAGES:
            assert "%(" not in v.render_message(code, params), code
