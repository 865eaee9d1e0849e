"""Admissions' checks for spreadsheet cells (docs/excel-formats.md): personal IDs and province
codes, levels, residence types and place names.

The generic checks (text, names, codes, phones, dates, gender, numbers, formulas, headers) live in
`app.xlsx` and are re-exported here, so that `cells.<check>` names every check an admissions
import uses. No Flask, no database: each check takes a cell value (and the openpyxl `data_type` of
the cell where it matters) and returns the clean value or raises `CellError(code, **params)`. The
codes map to English msgids in `MESSAGES` (app.xlsx's and the ones below), translated when the
report is shown (so a report stored by a background job is shown in the reader's language).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date

from flask_babel import lazy_gettext as _l

from app import xlsx
from app.xlsx import (
    FORMULA_PREFIXES,
    GENDERS,
    CellError,
    a_date,
    check_cell,
    clean_text,
    code,
    enum,
    escape_formula,
    gender,
    header_key,
    integer,
    is_blank,
    localize,
    number,
    person_name,
    phone,
    strip_diacritics,
    text,
    text_cell,
)

# The generic checks are re-exported: `cells.<check>` names every check admissions uses.
__all__ = [
    "FORMULA_PREFIXES",
    "GENDERS",
    "LEVELS",
    "MESSAGES",
    "PROVINCE_CODES",
    "RESIDENCE_TYPES",
    "CellError",
    "a_date",
    "century_gender_digit",
    "check_cell",
    "clean_text",
    "code",
    "enum",
    "escape_formula",
    "gender",
    "header_key",
    "integer",
    "is_blank",
    "level",
    "localize",
    "number",
    "person_name",
    "personal_id",
    "personal_id_problem",
    "phone",
    "place_key",
    "place_short_key",
    "render_message",
    "residence_type",
    "slugify",
    "strip_diacritics",
    "text",
    "text_cell",
]

# Province / centrally-run city codes: the first 3 digits of a personal ID (place of birth
# registration). Circular 07/2016/TT-BCA, appendix 1 (63 provinces; kept after the 2025 merger
# because IDs already issued never change).
PROVINCE_CODES: dict[str, str] = {
    "001": "Hà Nội",
    "002": "Hà Giang",
    "004": "Cao Bằng",
    "006": "Bắc Kạn",
    "008": "Tuyên Quang",
    "010": "Lào Cai",
    "011": "Điện Biên",
    "012": "Lai Châu",
    "014": "Sơn La",
    "015": "Yên Bái",
    "017": "Hòa Bình",
    "019": "Thái Nguyên",
    "020": "Lạng Sơn",
    "022": "Quảng Ninh",
    "024": "Bắc Giang",
    "025": "Phú Thọ",
    "026": "Vĩnh Phúc",
    "027": "Bắc Ninh",
    "030": "Hải Dương",
    "031": "Hải Phòng",
    "033": "Hưng Yên",
    "034": "Thái Bình",
    "035": "Hà Nam",
    "036": "Nam Định",
    "037": "Ninh Bình",
    "038": "Thanh Hóa",
    "040": "Nghệ An",
    "042": "Hà Tĩnh",
    "044": "Quảng Bình",
    "045": "Quảng Trị",
    "046": "Thừa Thiên Huế",
    "048": "Đà Nẵng",
    "049": "Quảng Nam",
    "051": "Quảng Ngãi",
    "052": "Bình Định",
    "054": "Phú Yên",
    "056": "Khánh Hòa",
    "058": "Ninh Thuận",
    "060": "Bình Thuận",
    "062": "Kon Tum",
    "064": "Gia Lai",
    "066": "Đắk Lắk",
    "067": "Đắk Nông",
    "068": "Lâm Đồng",
    "070": "Bình Phước",
    "072": "Tây Ninh",
    "074": "Bình Dương",
    "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu",
    "079": "Hồ Chí Minh",
    "080": "Long An",
    "082": "Tiền Giang",
    "083": "Bến Tre",
    "084": "Trà Vinh",
    "086": "Vĩnh Long",
    "087": "Đồng Tháp",
    "089": "An Giang",
    "091": "Kiên Giang",
    "092": "Cần Thơ",
    "093": "Hậu Giang",
    "094": "Sóc Trăng",
    "095": "Bạc Liêu",
    "096": "Cà Mau",
}

MESSAGES = {
    **xlsx.MESSAGES,
    "pid_format": _l("must be exactly 12 digits"),
    "pid_province": _l("starts with %(code)s, which is not a province code"),
    "pid_century_gender": _l(
        "the 4th digit of the personal ID (%(digit)s) does not match the gender and year of birth "
        "(expected %(expected)s)"
    ),
    "pid_year": _l("digits 5–6 of the personal ID do not match the year of birth (expected %(expected)s)"),
    "level": _l("must be kindergarten, grade1 or grade6 (Mầm non 5 tuổi, Lớp 1, Lớp 6)"),
    "residence_type": _l("must be permanent or temporary (Thường trú, Tạm trú)"),
    # Row-level problems raised by the importer.
    "other_district": _l("you may import only rows of your own district"),
    "roster_other_district": _l("this child is in the roster of another district; ask the city office"),
    "school_other_district": _l("school %(code)s belongs to another district"),
    "group_without_ward": _l("a residential group needs a ward"),
}


def render_message(code: str, params: dict | None = None) -> str:
    return xlsx.render_message(code, params, MESSAGES)


# --------------------------------------------------------------------------- place names

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
_PLACE_PREFIX_KEYS = {
    kind: tuple(place_key(p) + " " for p in prefixes) for kind, prefixes in _PLACE_PREFIXES.items()
}


def place_short_key(name: str, kind: str) -> str:
    """`place_key` without the administrative prefix ('Quận Cầu Giấy' → 'cầu giấy')."""
    key = place_key(name)
    for prefix in _PLACE_PREFIX_KEYS[kind]:
        if key.startswith(prefix):
            return key[len(prefix) :].strip()
    return key


def slugify(text: str, max_len: int = 20) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", strip_diacritics(text).lower()).strip("-")
    return slug[:max_len].strip("-") or "x"


# --------------------------------------------------------------------------- personal IDs

_DIGITS12 = re.compile(r"^[0-9]{12}$")


def personal_id(value, data_type: str) -> str:
    """12 digits typed as text, starting with a province code (consistency: `personal_id_problem`)."""
    result = text_cell(value, data_type)
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


# --------------------------------------------------------------------------- enumerations

LEVELS = {
    "kindergarten": "kindergarten",
    "kindergarten5": "kindergarten",
    "mamnon5tuoi": "kindergarten",
    "mamnon": "kindergarten",
    "maugiao5tuoi": "kindergarten",
    "maugiao": "kindergarten",
    "grade1": "grade1",
    "lop1": "grade1",
    "grade6": "grade6",
    "lop6": "grade6",
}
RESIDENCE_TYPES = {
    "permanent": "permanent",
    "thuongtru": "permanent",
    "temporary": "temporary",
    "tamtru": "temporary",
}


def level(value) -> str:
    return enum(value, LEVELS, "level")


def residence_type(value) -> str:
    return enum(value, RESIDENCE_TYPES, "residence_type")
