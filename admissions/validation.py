"""Pure checks for spreadsheet cells (DESIGN §4b): personal IDs, phones, dates, enumerations,
names, headers and formula injection.

No Flask, no database: each check takes a cell value (and the openpyxl `data_type` of the cell
where it matters) and returns the clean value or raises `CellError(code, **params)`. The codes
map to English msgids in `MESSAGES`, translated when the report is shown (so a report stored by a
background job is shown in the reader's language).
"""
from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

from flask_babel import lazy_gettext as _l

from app.security import normalize_phone

# Province / centrally-run city codes: the first 3 digits of a personal ID (place of birth
# registration). Circular 07/2016/TT-BCA, appendix 1 (63 provinces; kept after the 2025 merger
# because IDs already issued never change).
PROVINCE_CODES: dict[str, str] = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn", "008": "Tuyên Quang",
    "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu", "014": "Sơn La", "015": "Yên Bái",
    "017": "Hòa Bình", "019": "Thái Nguyên", "020": "Lạng Sơn", "022": "Quảng Ninh",
    "024": "Bắc Giang", "025": "Phú Thọ", "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương",
    "031": "Hải Phòng", "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định",
    "037": "Ninh Bình", "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh", "044": "Quảng Bình",
    "045": "Quảng Trị", "046": "Thừa Thiên Huế", "048": "Đà Nẵng", "049": "Quảng Nam",
    "051": "Quảng Ngãi", "052": "Bình Định", "054": "Phú Yên", "056": "Khánh Hòa",
    "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum", "064": "Gia Lai", "066": "Đắk Lắk",
    "067": "Đắk Nông", "068": "Lâm Đồng", "070": "Bình Phước", "072": "Tây Ninh",
    "074": "Bình Dương", "075": "Đồng Nai", "077": "Bà Rịa - Vũng Tàu", "079": "Hồ Chí Minh",
    "080": "Long An", "082": "Tiền Giang", "083": "Bến Tre", "084": "Trà Vinh", "086": "Vĩnh Long",
    "087": "Đồng Tháp", "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ", "093": "Hậu Giang",
    "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}

FORMULA_PREFIXES = ("=", "+", "-", "@")
# OWASP CSV/formula injection: also tab and carriage return at the start of a cell.
_EXPORT_ESCAPE_PREFIXES = ("=", "+", "-", "@", "\t", "\r")

MESSAGES = {
    "formula": _l("contains a spreadsheet formula; paste the values only"),
    "error_value": _l("contains a spreadsheet error value (such as #REF!)"),
    "required": _l("is required"),
    "number_cell": _l("must be a text cell; leading zeros lost (format the column as Text and re-enter it)"),
    "not_text": _l("must be text"),
    "formula_text": _l("must not start with =, +, - or @"),
    "too_long": _l("is longer than %(max)d characters"),
    "too_short": _l("is shorter than %(min)d characters"),
    "bad_name": _l("may contain only letters, spaces, dots, apostrophes and hyphens"),
    "bad_code": _l("may contain only letters, digits, dots, hyphens, underscores and slashes"),
    "pid_format": _l("must be exactly 12 digits"),
    "pid_province": _l("starts with %(code)s, which is not a province code"),
    "pid_century_gender": _l(
        "the 4th digit of the personal ID (%(digit)s) does not match the gender and year of birth "
        "(expected %(expected)s)"),
    "pid_year": _l("digits 5–6 of the personal ID do not match the year of birth (expected %(expected)s)"),
    "phone": _l("is not a Vietnamese mobile number (10 digits starting with 03, 05, 07, 08 or 09)"),
    "date_format": _l("is not a date: use a date cell or dd/mm/yyyy"),
    "date_number": _l("is a number, not a date: format the cell as a date or type dd/mm/yyyy"),
    "date_invalid": _l("is not a real calendar date"),
    "date_future": _l("is in the future"),
    "date_too_old": _l("is before 1900"),
    "level": _l("must be kindergarten, grade1 or grade6 (Mầm non 5 tuổi, Lớp 1, Lớp 6)"),
    "gender": _l("must be male or female (Nam, Nữ)"),
    "residence_type": _l("must be permanent or temporary (Thường trú, Tạm trú)"),
    "integer": _l("must be a whole number"),
    "integer_range": _l("must be between %(min)d and %(max)d"),
    "number": _l("must be a number"),
    "number_range": _l("must be between %(min)s and %(max)s"),
    # Whole-file problems.
    "not_xlsx": _l("the file is not an Excel workbook (.xlsx) or cannot be read"),
    "missing_sheet": _l("the workbook has no sheet named %(sheet)s"),
    "missing_column": _l("the first row has no column %(column)s [%(label)s]"),
    "duplicate_column": _l("the first row names column %(column)s twice"),
    "no_rows": _l("the sheet has no data rows below the header row"),
    "too_many_rows": _l("the sheet has more than %(max)d data rows; split the file"),
    # Row-level problems raised by the importer.
    "duplicate": _l("repeats the value of row %(first)d (each row must have its own key)"),
    "unknown_school": _l("no school with code %(code)s"),
    "other_district": _l("you may import only rows of your own district"),
    "roster_other_district": _l("this child is in the roster of another district; ask the city office"),
    "school_other_district": _l("school %(code)s belongs to another district"),
    "group_without_ward": _l("a residential group needs a ward"),
}


class CellError(Exception):
    """A cell's value is refused: `code` is a key of MESSAGES, `params` fill its placeholders."""

    def __init__(self, code: str, /, **params):
        super().__init__(code)
        self.code = code
        self.params = params

    def message(self) -> str:
        return render_message(self.code, self.params)


def localize(lazy) -> str:
    """A lazy string in the current language; English outside a request (jobs, scripts)."""
    try:
        return str(lazy)
    except RuntimeError:  # no request: the app's locale selector reads the session
        from flask_babel import force_locale

        with force_locale("en"):
            return str(lazy)


def render_message(code: str, params: dict | None = None) -> str:
    text = localize(MESSAGES[code])
    return text % params if params else text


# --------------------------------------------------------------------------- text and keys

_BAD_CHARS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u200b-\u200f\u202a-\u202e\u2060-\u2064\ufeff]")


def clean_text(value: str) -> str:
    """NFC, control/format characters dropped, runs of whitespace collapsed to one space."""
    if not value.isascii() and not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    if _BAD_CHARS.search(value):
        value = _BAD_CHARS.sub("", value)
    return " ".join(value.split())


def strip_diacritics(text: str) -> str:
    """'Mã định danh' → 'Ma dinh danh' (đ/Đ → d/D)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    decomposed = unicodedata.normalize("NFD", text)
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


_HEADER_SEP = re.compile(r"[\s_]+")


def header_key(text: str) -> str:
    """Compare headers ignoring case, whitespace/underscores and diacritics."""
    return _HEADER_SEP.sub(" ", strip_diacritics(clean_text(text)).casefold()).strip()


# Vietnamese tone marks (grave, acute, hook above, tilde, dot below). Writers place them on
# different vowels ("Hòa" / "Hoà"); moving them to the end of each word makes both spellings equal
# while keeping every other letter and diacritic (so "Hà" and "Hạ" stay different).
_TONES = {"\u0300", "\u0301", "\u0309", "\u0303", "\u0323"}


def place_key(name: str) -> str:
    """A matching key for a place name: case-insensitive, tone-placement-insensitive."""
    words = []
    for word in clean_text(name).casefold().split(" "):
        decomposed = unicodedata.normalize("NFD", word)
        tones = "".join(ch for ch in decomposed if ch in _TONES)
        base = "".join(ch for ch in decomposed if ch not in _TONES)
        words.append(base + tones)
    return " ".join(words)


_PLACE_PREFIXES = {
    "district": ("quận", "huyện", "thị xã", "thành phố", "tp.", "tp", "q.", "h."),
    "ward": ("phường", "xã", "thị trấn", "p.", "x.", "tt."),
    "group": ("tổ dân phố", "tổ", "cụm dân cư", "thôn", "tdp"),
}
_PLACE_PREFIX_KEYS = {kind: tuple(place_key(p) + " " for p in prefixes)
                      for kind, prefixes in _PLACE_PREFIXES.items()}


def place_short_key(name: str, kind: str) -> str:
    """`place_key` without the administrative prefix ('Quận Cầu Giấy' → 'cầu giấy')."""
    key = place_key(name)
    for prefix in _PLACE_PREFIX_KEYS[kind]:
        if key.startswith(prefix):
            return key[len(prefix):].strip()
    return key


def slugify(text: str, max_len: int = 20) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", strip_diacritics(text).lower()).strip("-")
    return slug[:max_len].strip("-") or "x"


def escape_formula(value):
    """For exports: text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(_EXPORT_ESCAPE_PREFIXES):
        return "'" + value
    return value


# --------------------------------------------------------------------------- cell checks
# `value` is the cell's value, `data_type` openpyxl's type letter: 's' text, 'n' number (also
# empty), 'd' date, 'b' boolean, 'f' formula, 'e' error.


def check_cell(value, data_type: str) -> None:
    """Refuse formulas and error values wherever they appear."""
    if data_type == "f":
        raise CellError("formula")
    if data_type == "e":
        raise CellError("error_value")


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text(value, *, max_len: int = 200, min_len: int = 1, formula_safe: bool = True) -> str:
    """Free text (school names, addresses, place names)."""
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise CellError("not_text")
    result = clean_text(str(value))
    if not result:
        raise CellError("required")
    if formula_safe and result.startswith(FORMULA_PREFIXES):
        raise CellError("formula_text")
    if len(result) > max_len:
        raise CellError("too_long", max=max_len)
    if len(result) < min_len:
        raise CellError("too_short", min=min_len)
    return result


_PERSON_NAME = re.compile(r"^[^\W\d_]+(?:[ .'\-][^\W\d_]+)*\.?$")


def person_name(value) -> str:
    """A person's name, as app.forms.PersonName: letters, spaces, . ' - ; 2–120 characters."""
    if not isinstance(value, str):
        raise CellError("not_text")
    result = clean_text(value)
    if not result:
        raise CellError("required")
    if result.startswith(FORMULA_PREFIXES):
        raise CellError("formula_text")
    if len(result) > 120:
        raise CellError("too_long", max=120)
    if len(result) < 2:
        raise CellError("too_short", min=2)
    if not _PERSON_NAME.match(result):
        raise CellError("bad_name")
    return result


_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]*$")


def code(value, data_type: str, *, max_len: int = 40) -> str:
    """An identifier that must have been typed as text (a number cell lost its leading zeros)."""
    if data_type == "n" or isinstance(value, (int, float)):
        raise CellError("number_cell")
    if not isinstance(value, str):
        raise CellError("not_text")
    result = value.strip()
    if result.startswith(FORMULA_PREFIXES):
        raise CellError("formula_text")
    if len(result) > max_len:
        raise CellError("too_long", max=max_len)
    if not _CODE.match(result):
        raise CellError("bad_code")
    return result


_DIGITS12 = re.compile(r"^[0-9]{12}$")


def personal_id(value, data_type: str) -> str:
    """12 digits typed as text, starting with a province code (consistency: `personal_id_problem`)."""
    if data_type == "n" or isinstance(value, (int, float)):
        raise CellError("number_cell")
    if not isinstance(value, str):
        raise CellError("not_text")
    result = value.strip()
    if not _DIGITS12.match(result):
        result = "".join(result.split())  # "001 2 20 123456" as some registers print it
        if not _DIGITS12.match(result):
            raise CellError("pid_format")
    if result[:3] not in PROVINCE_CODES:
        raise CellError("pid_province", code=result[:3])
    return result


def century_gender_digit(year: int, gender: str) -> int:
    """1900s male 0 / female 1, 2000s male 2 / female 3, 2100s 4 / 5, … (Decree 137/2015)."""
    return (year // 100 - 19) * 2 + (1 if gender == "female" else 0)


def personal_id_problem(pid: str, gender: str, born: date) -> CellError | None:
    """The century/gender digit and the two year digits must agree with gender and birth date."""
    expected = century_gender_digit(born.year, gender)
    if not 0 <= expected <= 9 or int(pid[3]) != expected:
        return CellError("pid_century_gender", digit=pid[3], expected=str(expected))
    if pid[4:6] != f"{born.year % 100:02d}":
        return CellError("pid_year", expected=f"{born.year % 100:02d}")
    return None


def phone(value, data_type: str) -> str:
    """A Vietnamese mobile, normalized to 0xxxxxxxxx. A number cell of 9 digits lost its 0."""
    if isinstance(value, bool):
        raise CellError("phone")
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, int):
        value = f"0{value}" if 100_000_000 <= value <= 999_999_999 else str(value)
    if not isinstance(value, str):
        raise CellError("phone")
    result = normalize_phone(value.strip())
    if result is None:
        raise CellError("phone")
    return result


_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def a_date(value, data_type: str, *, today: date | None = None) -> date:
    """A date cell, or dd/mm/yyyy text (also dd-mm-yyyy, dd.mm.yyyy and ISO yyyy-mm-dd)."""
    if isinstance(value, datetime):
        result = value.date()
    elif isinstance(value, date):
        result = value
    elif isinstance(value, bool):
        raise CellError("date_format")
    elif isinstance(value, (int, float)):
        raise CellError("date_number")
    elif isinstance(value, str):
        s = value.strip()
        m = _DMY.match(s)
        if m:
            day, month, year = int(m.group(1)), int(m.group(2)), int(m.group(3))
        else:
            m = _YMD.match(s)
            if not m:
                raise CellError("date_format")
            year, month, day = int(m.group(1)), int(m.group(2)), int(m.group(3))
        try:
            result = date(year, month, day)
        except ValueError:
            raise CellError("date_invalid") from None
    else:
        raise CellError("date_format")
    if result.year < 1900:
        raise CellError("date_too_old")
    if result > (today or date.today()):
        raise CellError("date_future")
    return result


def _enum_key(value) -> str:
    return re.sub(r"[\s_\-]+", "", strip_diacritics(value).casefold())


LEVELS = {
    "kindergarten": "kindergarten", "kindergarten5": "kindergarten", "mamnon5tuoi": "kindergarten",
    "mamnon": "kindergarten", "maugiao5tuoi": "kindergarten", "maugiao": "kindergarten",
    "grade1": "grade1", "lop1": "grade1",
    "grade6": "grade6", "lop6": "grade6",
}
GENDERS = {"male": "male", "nam": "male", "female": "female", "nu": "female"}
RESIDENCE_TYPES = {"permanent": "permanent", "thuongtru": "permanent",
                   "temporary": "temporary", "tamtru": "temporary"}


def enum(value, table: dict[str, str], error_code: str) -> str:
    if not isinstance(value, str):
        raise CellError(error_code)
    result = table.get(value) or table.get(_enum_key(value))
    if result is None:
        raise CellError(error_code)
    return result


def level(value) -> str:
    return enum(value, LEVELS, "level")


def gender(value) -> str:
    return enum(value, GENDERS, "gender")


def residence_type(value) -> str:
    return enum(value, RESIDENCE_TYPES, "residence_type")


def integer(value, *, minimum: int = 0, maximum: int = 100_000) -> int:
    if isinstance(value, bool):
        raise CellError("integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise CellError("integer")
        value = int(value)
    elif isinstance(value, str):
        s = value.strip().replace(".", "").replace(",", "") if re.fullmatch(r"\d{1,3}([.,]\d{3})+", value.strip()) else value.strip()
        if not re.fullmatch(r"[0-9]+", s):
            raise CellError("integer")
        value = int(s)
    elif not isinstance(value, int):
        raise CellError("integer")
    if not minimum <= value <= maximum:
        raise CellError("integer_range", min=minimum, max=maximum)
    return value


def number(value, *, minimum: float, maximum: float) -> float:
    if isinstance(value, bool):
        raise CellError("number")
    if isinstance(value, str):
        try:
            value = float(value.strip().replace(",", "."))
        except ValueError:
            raise CellError("number") from None
    if not isinstance(value, (int, float)) or value != value:  # NaN
        raise CellError("number")
    if not minimum <= value <= maximum:
        raise CellError("number_range", min=minimum, max=maximum)
    return float(value)
