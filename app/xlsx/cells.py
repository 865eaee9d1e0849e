"""Cell checks: each takes a cell's value (and the openpyxl `data_type` where it matters) and
returns the clean value or raises `CellError(code, **params)`."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime

from email_validator import EmailNotValidError, validate_email

from ..security import normalize_phone
from .problems import CellError
from .strings import FORMULA_PREFIXES, clean_text, enum_key

# `value` is the cell's value, `data_type` openpyxl's type letter: 's' text, 'n' number (also
# empty), 'd' date, 'b' boolean, 'f' formula, 'e' error. Checks that do not need it take it as an
# optional second argument, so that every check can be called as `check(value, data_type)`.


def check_cell(value, data_type: str) -> None:
    """Refuse formulas and error values wherever they appear."""
    if data_type == "f":
        raise CellError("formula")
    if data_type == "e":
        raise CellError("error_value")


def is_blank(value) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def text(
    value, data_type: str | None = None, *, max_len: int = 200, min_len: int = 1, formula_safe: bool = True
) -> str:
    """Free text (school names, addresses, place names, subjects); a number cell is read as text."""
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


def person_name(value, data_type: str | None = None) -> str:
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


def text_cell(value, data_type: str | None) -> str:
    """The value of a cell that must have been typed as text: a number cell (or a number read from
    one) has lost its leading zeros. Returned stripped."""
    if isinstance(value, bool):
        raise CellError("not_text")
    if data_type == "n" or isinstance(value, (int, float)):
        raise CellError("number_cell")
    if not isinstance(value, str):
        raise CellError("not_text")
    return value.strip()


_CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._/\-]*$")


def code(value, data_type: str | None = None, *, max_len: int = 40) -> str:
    """An identifier (school or pupil code) typed as text."""
    result = text_cell(value, data_type)
    if result.startswith(FORMULA_PREFIXES):
        raise CellError("formula_text")
    if len(result) > max_len:
        raise CellError("too_long", max=max_len)
    if not _CODE.match(result):
        raise CellError("bad_code")
    return result


def phone(value, data_type: str | None = None) -> str:
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


def email(value, data_type: str | None = None) -> str:
    """An email address, normalized and lower-cased (deliverability is not checked)."""
    if not isinstance(value, str):
        raise CellError("email")
    raw = value.strip()
    if raw.startswith(FORMULA_PREFIXES) or len(raw) > 254:
        raise CellError("email")
    try:
        return validate_email(raw, check_deliverability=False).normalized.lower()
    except EmailNotValidError:
        raise CellError("email") from None


_DMY = re.compile(r"^(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})$")
_YMD = re.compile(r"^(\d{4})-(\d{1,2})-(\d{1,2})$")


def a_date(value, data_type: str | None = None, *, today: date | None = None) -> date:
    """A date cell, or dd/mm/yyyy text (also dd-mm-yyyy, dd.mm.yyyy and ISO yyyy-mm-dd); from
    1900 to `today`."""
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


def enum(value, table: Mapping[str, str], error_code: str):
    """One of a table's values, the key typed in either language (compared by `enum_key`)."""
    if not isinstance(value, str):
        raise CellError(error_code)
    result = table.get(value)
    if result is None:
        result = table.get(enum_key(value))
    if result is None:
        raise CellError(error_code)
    return result


GENDERS = {"male": "male", "nam": "male", "female": "female", "nu": "female"}
GENDERS_WITH_LETTERS = {**GENDERS, "m": "male", "f": "female"}
YES_NO = {
    "yes": True,
    "y": True,
    "co": True,
    "x": True,
    "true": True,
    "1": True,
    "no": False,
    "n": False,
    "khong": False,
    "false": False,
    "0": False,
}


def gender(value, data_type: str | None = None, *, letters: bool = False) -> str:
    """'male' or 'female' from male/female/Nam/Nữ (any case, with or without diacritics);
    `letters` also accepts M/F."""
    return enum(value, GENDERS_WITH_LETTERS if letters else GENDERS, "gender")


def yes_no(value, data_type: str | None = None) -> bool:
    """yes/no, có/không, x, true/false, 1/0 or a boolean cell; blank is no."""
    if is_blank(value):
        return False
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    return enum(value, YES_NO, "yes_no")


_GROUPED = re.compile(r"\d{1,3}([.,]\d{3})+")


def integer(value, data_type: str | None = None, *, minimum: int = 0, maximum: int = 100_000) -> int:
    """A whole number (also '1.200' / '1,200' as thousands)."""
    if isinstance(value, bool):
        raise CellError("integer")
    if isinstance(value, float):
        if not value.is_integer():
            raise CellError("integer")
        value = int(value)
    elif isinstance(value, str):
        s = value.strip()
        if _GROUPED.fullmatch(s):
            s = s.replace(".", "").replace(",", "")
        if not re.fullmatch(r"[0-9]+", s):
            raise CellError("integer")
        value = int(s)
    elif not isinstance(value, int):
        raise CellError("integer")
    if not minimum <= value <= maximum:
        raise CellError("integer_range", min=minimum, max=maximum)
    return value


def number(value, data_type: str | None = None, *, minimum: float, maximum: float) -> float:
    """A number (a decimal comma is accepted) from `minimum` to `maximum`."""
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
