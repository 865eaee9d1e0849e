"""Text of cells and exports: `clean_text`, `strip_diacritics`, `header_key`, `enum_key`, and
`escape_formula` for what exports write."""

from __future__ import annotations

import re
import unicodedata

# Text starting with one of these is refused in names and codes (formula injection).
FORMULA_PREFIXES = ("=", "+", "-", "@")
# OWASP CSV/formula injection: exports also escape a leading tab or carriage return.
EXPORT_ESCAPE_PREFIXES = (*FORMULA_PREFIXES, "\t", "\r")


# Control characters (Cc) other than the whitespace ones (tab, LF, CR), format characters (Cf:
# soft hyphen, zero-width and joiners, bidi overrides and isolates, BOM, tags, …), surrogates (Cs)
# and private use (Co). tests/unit/test_xlsx.py checks the list against `unicodedata`.
_DROPPED_BMP = (
    "\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f"
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890-\u0891\u08e2\u180e\u200b-\u200f\u202a-\u202e"
    "\u2060-\u2064\u2066-\u206f\ufeff\ufff9-\ufffb\ud800-\udfff\ue000-\uf8ff"
)
_DROPPED_ASTRAL = (
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f\U000f0000-\U0010ffff"
)
_DROPPED = re.compile(f"[{_DROPPED_BMP}{_DROPPED_ASTRAL}]")
# The quick test (a cell is checked many times): a BMP character to drop, or any character
# beyond the BMP (emoji, rare) — then `_DROPPED` decides.
_MAYBE_DROPPED = re.compile(f"[{_DROPPED_BMP}\U00010000-\U0010ffff]")
_NEWLINES = re.compile(r"\r\n?")
_SPACES_IN_LINE = re.compile(r"[^\S\n]+")


def clean_text(value: str | None, *, multiline: bool = False) -> str:
    """NFC; control, format and private-use characters dropped; each run of whitespace one space,
    none at either end. `multiline` keeps line breaks (as `\\n`); None → ''."""
    if value is None:
        return ""
    if not value.isascii() and not unicodedata.is_normalized("NFC", value):
        value = unicodedata.normalize("NFC", value)
    if _MAYBE_DROPPED.search(value):
        value = _DROPPED.sub("", value)
    if not multiline:
        return " ".join(value.split())
    return _SPACES_IN_LINE.sub(" ", _NEWLINES.sub("\n", value)).strip()


def strip_diacritics(text: str) -> str:
    """'Mã định danh' → 'Ma dinh danh' (đ/Đ → d/D)."""
    text = text.replace("đ", "d").replace("Đ", "D")
    return "".join(ch for ch in unicodedata.normalize("NFD", text) if not unicodedata.combining(ch))


_HEADER_SEP = re.compile(r"[\s_]+")


def header_key(text: str) -> str:
    """Compare headers ignoring case, whitespace/underscores and diacritics."""
    return _HEADER_SEP.sub(" ", strip_diacritics(clean_text(text)).casefold()).strip()


def enum_key(value: str) -> str:
    """A key for a choice typed in either language: 'Thường trú' → 'thuongtru'."""
    return re.sub(r"[\s_\-]+", "", strip_diacritics(value).casefold())


def escape_formula(value):
    """Exports: text that a spreadsheet would run as a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(EXPORT_ESCAPE_PREFIXES):
        return "'" + value
    return value


def excel_text(value) -> str:
    """A text cell's value that no spreadsheet will evaluate: `escape_formula` of the value as
    text (None → '')."""
    return escape_formula("" if value is None else str(value))
