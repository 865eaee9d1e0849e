"""The shared spreadsheet pieces (app/xlsx/, docs/excel-formats.md): text and cell checks; the
messages, reports and workbooks are in test_xlsx_files.py.

The areas' own rules are tested beside them: personal IDs, levels, residence types and places in
test_admissions_validation.py; classes.xlsx and grade sheets in the contact book's tests.
"""

from __future__ import annotations

import unicodedata
from datetime import date, datetime

import pytest

from app import forms, xlsx
from app.xlsx import CellError


def code_of(fn, *args, **kw) -> str:
    with pytest.raises(CellError) as err:
        fn(*args, **kw)
    return err.value.code


# --------------------------------------------------------------------------- text


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Nguyễn   Thị  An ", "Nguyễn Thị An"),
        ("Nguyễn Thị An", "Nguyễn Thị An"),  # NFD → NFC
        ("An\u200b\u200dBình", "AnBình"),  # zero-width space and joiner
        ("\ufeffAn", "An"),  # BOM
        ("Hoa\u00adHồng", "HoaHồng"),  # soft hyphen
        ("An\u202eBình\u202c", "AnBình"),  # bidi override
        ("An\u2066Bình\u2069", "AnBình"),  # bidi isolate
        ("An\x00\x07Bình", "AnBình"),  # control characters
        ("An\tBình\nCường\r\nDung\rEm", "An Bình Cường Dung Em"),  # whitespace controls are spaces
        ("An\u00a0Bình", "An Bình"),  # no-break space
        ("An\ue000", "An"),  # private use
        ("An 😀\U000e0041", "An 😀"),  # beyond the BMP: emoji kept, tag characters dropped
        ("", ""),
        (None, ""),
    ],
)
def test_clean_text(raw, expected):
    assert xlsx.clean_text(raw) == expected


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Xin   chào\r\n\r\nCô  giáo \t\n", "Xin chào\n\nCô giáo"),
        ("a\rb", "a\nb"),
        ("Dòng 1\u200b\nDòng\u00a0 2", "Dòng 1\nDòng 2"),
        (None, ""),
    ],
)
def test_clean_text_multiline_keeps_line_breaks(raw, expected):
    assert xlsx.clean_text(raw, multiline=True) == expected


def test_form_clean_text_is_the_multiline_one():

    assert forms.clean_text("  Xin  chào\r\n\u202eem ") == "Xin chào\nem"
    assert forms.clean_text(None) == ""
    assert forms.FORMULA_PREFIXES is xlsx.FORMULA_PREFIXES


def test_dropped_characters_are_every_control_and_format_character():
    """The character class is spelled out (fast); it must match `unicodedata` (Cc, Cf)."""
    for cp in range(0x110000):
        ch = chr(cp)
        if unicodedata.category(ch) in ("Cc", "Cf") and ch not in "\t\n\r":
            assert xlsx.strings._DROPPED.match(ch), f"U+{cp:04X} ({unicodedata.category(ch)}) is not dropped"
    for ch in "\t\n\r aAđ1\u00a0\u0301":
        assert not xlsx.strings._DROPPED.match(ch)


def test_strip_diacritics():
    assert xlsx.strip_diacritics("Mã định danh") == "Ma dinh danh"
    assert xlsx.strip_diacritics("ĐỒNG") == "DONG"


@pytest.mark.parametrize(
    "header, key",
    [
        ("Mã định danh", "ma dinh danh"),
        ("  MÃ ĐỊNH  DANH ", "ma dinh danh"),
        ("personal_id", "personal id"),
        ("Personal ID", "personal id"),
        ("Họ tên cha/mẹ/người giám hộ", "ho ten cha/me/nguoi giam ho"),
    ],
)
def test_header_key(header, key):
    assert xlsx.header_key(header) == key


@pytest.mark.parametrize(
    "raw, escaped",
    [
        ("=cmd", "'=cmd"),
        ("+1", "'+1"),
        ("-1", "'-1"),
        ("@x", "'@x"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("An", "An"),
        (5, 5),
        (None, None),
    ],
)
def test_escape_formula(raw, escaped):
    assert xlsx.escape_formula(raw) == escaped


# --------------------------------------------------------------------------- cell checks


def test_formula_and_error_cells():
    assert code_of(xlsx.check_cell, "=1+1", "f") == "formula"
    assert code_of(xlsx.check_cell, "#REF!", "e") == "error_value"
    xlsx.check_cell("text", "s")


@pytest.mark.parametrize("value, blank", [(None, True), ("", True), ("  \t", True), (0, False), ("x", False)])
def test_is_blank(value, blank):
    assert xlsx.is_blank(value) is blank


def test_text():
    assert xlsx.text("  Số 1  phố Dịch Vọng ") == "Số 1 phố Dịch Vọng"
    assert xlsx.text(105, "n") == "105"
    assert xlsx.text("-5 độ", formula_safe=False) == "-5 độ"
    assert code_of(xlsx.text, "-5 độ") == "formula_text"
    assert code_of(xlsx.text, "A", min_len=2) == "too_short"
    assert code_of(xlsx.text, "x" * 21, max_len=20) == "too_long"
    assert code_of(xlsx.text, True) == "not_text"
    assert code_of(xlsx.text, 1.5) == "not_text"
    assert code_of(xlsx.text, " \u200b ") == "required"


@pytest.mark.parametrize("raw", ["=cmd|' /C calc'!A0", "+SUM(A1)", "-2+3", "@SUM(1)"])
def test_names_refuse_formula_prefixes(raw):
    assert code_of(xlsx.person_name, raw) == "formula_text"
    assert code_of(xlsx.text, raw) == "formula_text"
    assert code_of(xlsx.code, raw, "s") == "formula_text"
    assert code_of(xlsx.email, raw) == "email"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("  Nguyễn   Thị  An ", "Nguyễn Thị An"),
        ("Nguyễn Thị An", "Nguyễn Thị An"),
        ("H'Hen Niê", "H'Hen Niê"),
        ("Lê-Anh", "Lê-Anh"),
        ("Nguyễn\u200b Thị An", "Nguyễn Thị An"),
    ],
)
def test_person_names_cleaned(raw, expected):
    assert xlsx.person_name(raw) == expected
    assert xlsx.person_name(raw, "s") == expected


@pytest.mark.parametrize(
    "raw, code",
    [
        ("A", "too_short"),
        ("x" * 121, "too_long"),
        ("Nguyễn 2", "bad_name"),
        ("<b>An</b>", "bad_name"),
        (123, "not_text"),
        ("   ", "required"),
    ],
)
def test_person_names_refused(raw, code):
    assert code_of(xlsx.person_name, raw) == code


def test_codes_must_be_text():
    assert xlsx.code(" TH-DICHVONG ", "s") == "TH-DICHVONG"
    assert xlsx.code("01001234", "s") == "01001234"
    assert xlsx.code("HS/2020.1_a") == "HS/2020.1_a"  # data_type is optional
    assert code_of(xlsx.code, 1001234, "n") == "number_cell"
    assert code_of(xlsx.code, 1001234.0) == "number_cell"
    assert code_of(xlsx.code, "01001234", "n") == "number_cell"
    assert code_of(xlsx.code, True, "b") == "not_text"
    assert code_of(xlsx.code, date(2020, 1, 1), "d") == "not_text"
    assert code_of(xlsx.code, "TH DICH VONG", "s") == "bad_code"
    assert code_of(xlsx.code, "A" * 41, "s") == "too_long"
    assert xlsx.code("A" * 50, "s", max_len=50) == "A" * 50


@pytest.mark.parametrize(
    "raw, data_type, expected",
    [
        ("0912345678", "s", "0912345678"),
        ("+84 912 345 678", "s", "0912345678"),
        ("091.234.5678", "s", "0912345678"),
        ("0387654321", "s", "0387654321"),
        (912345678, "n", "0912345678"),
        (912345678.0, "n", "0912345678"),
    ],
)
def test_phones(raw, data_type, expected):
    assert xlsx.phone(raw, data_type) == expected
    assert xlsx.phone(raw) == expected  # data_type is optional


@pytest.mark.parametrize(
    "raw", ["0241234567", "091234567", "09123456789", "abc", "0112345678", 12345, True, None]
)
def test_bad_phones(raw):
    assert code_of(xlsx.phone, raw, "s") == "phone"


def test_emails():
    assert xlsx.email(" Lan@Example.EDU.vn ") == "lan@example.edu.vn"
    for bad in ("not-an-email", "a@", 5, None, "x" * 250 + "@a.vn"):
        assert code_of(xlsx.email, bad) == "email"


TODAY = date(2026, 6, 1)


@pytest.mark.parametrize(
    "value, expected",
    [
        (datetime(2020, 3, 15, 0, 0), date(2020, 3, 15)),
        (date(2020, 3, 15), date(2020, 3, 15)),
        ("15/03/2020", date(2020, 3, 15)),
        ("5/3/2020", date(2020, 3, 5)),
        (" 15-03-2020 ", date(2020, 3, 15)),
        ("15.03.2020", date(2020, 3, 15)),
        ("2020-03-15", date(2020, 3, 15)),
        ("29/02/2020", date(2020, 2, 29)),
    ],
)
def test_dates_accepted(value, expected):
    assert xlsx.a_date(value, "s", today=TODAY) == expected
    assert xlsx.a_date(value, today=TODAY) == expected  # data_type is optional


@pytest.mark.parametrize(
    "value, code",
    [
        ("03/15/2020", "date_invalid"),  # mm/dd: month 15
        ("29/02/2021", "date_invalid"),
        ("31/04/2020", "date_invalid"),
        ("15/03/20", "date_format"),
        ("2020/03/15", "date_format"),
        ("ngày 15 tháng 3", "date_format"),
        (43905, "date_number"),  # an Excel serial without a date format
        (43905.0, "date_number"),
        (True, "date_format"),
        (None, "date_format"),
        ("01/01/1899", "date_too_old"),
        ("02/06/2026", "date_future"),
    ],
)
def test_dates_refused(value, code):
    assert code_of(xlsx.a_date, value, "s", today=TODAY) == code


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("male", "male"),
        ("Nam", "male"),
        ("NAM", "male"),
        ("female", "female"),
        ("Nữ", "female"),
        ("nu", "female"),
        ("Nữ", "female"),  # decomposed Unicode (NFD), as some Mac exports write it
    ],
)
def test_genders(raw, expected):
    assert xlsx.gender(raw) == expected
    assert xlsx.gender(raw, "s", letters=True) == expected


@pytest.mark.parametrize("raw", ["M", "F", "khác", "", 0, None])
def test_unknown_genders(raw):
    assert code_of(xlsx.gender, raw) == "gender"


def test_gender_letters_when_asked():
    assert xlsx.gender("M", letters=True) == "male" and xlsx.gender("f", letters=True) == "female"
    assert code_of(xlsx.gender, "khác", letters=True) == "gender"


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("yes", True),
        ("Có", True),
        ("x", True),
        ("TRUE", True),
        (True, True),
        (1, True),
        ("1", True),
        ("no", False),
        ("Không", False),
        ("false", False),
        (False, False),
        (0, False),
        (None, False),
        ("  ", False),
    ],
)
def test_yes_no(raw, expected):
    assert xlsx.yes_no(raw) is expected


@pytest.mark.parametrize("raw", ["maybe", 2, 0.5, date(2020, 1, 1)])
def test_bad_yes_no(raw):
    assert code_of(xlsx.yes_no, raw) == "yes_no"


def test_enum_uses_the_folded_key():
    table = {"permanent": "P", "thuongtru": "P"}
    assert xlsx.enum("Thường trú", table, "x") == "P"
    assert xlsx.enum_key(" Thường_trú-x ") == "thuongtrux"
    assert code_of(xlsx.enum, "tạm trú", table, "x") == "x"


@pytest.mark.parametrize(
    "raw, expected", [(90, 90), (90.0, 90), ("1.200", 1200), ("1,200", 1200), (" 105 ", 105), (0, 0)]
)
def test_integers(raw, expected):
    assert xlsx.integer(raw) == expected


@pytest.mark.parametrize(
    "raw, code",
    [
        (90.5, "integer"),
        ("ten", "integer"),
        (-1, "integer_range"),
        (True, "integer"),
        ("1.20", "integer"),
        (None, "integer"),
    ],
)
def test_bad_integers(raw, code):
    assert code_of(xlsx.integer, raw) == code


def test_numbers():
    assert xlsx.number("21,036", minimum=8, maximum=24) == 21.036
    assert xlsx.number(21, "n", minimum=8, maximum=24) == 21.0
    assert code_of(xlsx.number, 105.8, minimum=8, maximum=24) == "number_range"
    assert code_of(xlsx.number, "north", minimum=8, maximum=24) == "number"
    assert code_of(xlsx.number, float("nan"), minimum=8, maximum=24) == "number"
    assert code_of(xlsx.number, True, minimum=0, maximum=1) == "number"
