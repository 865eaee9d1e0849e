"""Shared form pieces: validators with localized messages used by every area."""

from __future__ import annotations

import re

from flask import request
from flask_babel import lazy_gettext as _l
from wtforms import ValidationError

from . import xlsx
from .security import MAX_PASSWORD, normalize_phone, password_problem
from .xlsx import FORMULA_PREFIXES

_NAME = re.compile(r"^[^\W\d_]+(?:[ .'\-][^\W\d_]+)*\.?$")


# The largest page number a list accepts: beyond every list's end, and small enough that
# OFFSET = (page - 1) × page size stays far inside a 64-bit integer (page=10**25 was a 500).
MAX_PAGE = 100_000


def page_number(value) -> int:
    """A page number from a query string or a form: 1 … MAX_PAGE; anything else is page 1
    (or the last page allowed)."""
    try:
        page = int(str(value).strip()) if value is not None else 1
    except ValueError:
        return 1
    return min(max(page, 1), MAX_PAGE)


def page_arg(source=None) -> int:
    """The `page` of the current request's query string (or of `source`, e.g. request.form)."""
    return page_number((request.args if source is None else source).get("page"))


def clean_text(value: str | None) -> str:
    """Form filter: `app.xlsx.clean_text` keeping line breaks (text areas); None → ''."""
    return xlsx.clean_text(value, multiline=True)


class PersonName:
    """A person's name: letters (any script), spaces, dots, apostrophes, hyphens; 2–120 chars."""

    def __call__(self, form, field):
        value = clean_text(field.data)
        field.data = value
        if value.startswith(FORMULA_PREFIXES):
            raise ValidationError(_l("A name cannot start with =, +, - or @."))
        if not 2 <= len(value) <= 120:
            raise ValidationError(_l("Enter a name of 2 to 120 characters."))
        if not _NAME.match(value):
            raise ValidationError(
                _l("A name may contain only letters, spaces, dots, apostrophes and hyphens.")
            )


class VietnameseMobile:
    def __call__(self, form, field):
        phone = normalize_phone(field.data)
        if phone is None:
            raise ValidationError(
                _l("Enter a Vietnamese mobile number of 10 digits starting with 03, 05, 07, 08 or 09.")
            )
        field.data = phone


PASSWORD_MESSAGES = {
    "too_short": _l("Use at least %(n)d characters."),
    "too_long": _l("Use at most %(n)d characters."),
    "common": _l("This password is too common; choose a longer phrase that is hard to guess."),
    "personal": _l("Do not use your name, phone number or email in your password."),
}


class PasswordPolicy:
    """NIST-style policy: length 8 (parents) / 12 (staff) to 128, no common or personal passwords."""

    def __init__(self, staff: bool = False, context_fields: tuple[str, ...] = ()):
        self.staff = staff
        self.context_fields = context_fields

    def __call__(self, form, field):
        staff = self.staff(form) if callable(self.staff) else self.staff
        context = tuple(str(getattr(form, f).data or "") for f in self.context_fields if hasattr(form, f))
        problem = password_problem(field.data or "", staff=staff, context=context)
        if problem:
            n = MAX_PASSWORD if problem == "too_long" else (12 if staff else 8)
            raise ValidationError(PASSWORD_MESSAGES[problem] % {"n": n})
