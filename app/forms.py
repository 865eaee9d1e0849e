"""Shared form pieces: validators with localized messages used by every area."""

from __future__ import annotations

import re

import wtforms.widgets
import wtforms.widgets.core
from flask_babel import lazy_gettext as _l
from markupsafe import Markup, escape
from wtforms import ValidationError

from . import xlsx
from .security import MAX_PASSWORD, normalize_phone, password_problem
from .xlsx import FORMULA_PREFIXES

_NAME = re.compile(r"^[^\W\d_]+(?:[ .'\-][^\W\d_]+)*\.?$")


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


# ---------------------------------------------------------------- rendering

WTFORMS_HTML_PARAMS = wtforms.widgets.core.html_params  # WTForms' own, kept for the tests


def html_params(**kwargs) -> Markup:
    """WTForms' attribute writer with the same output (sorted keys, `class_` → class, `data_`
    and `aria_` → hyphens, True → a bare attribute, False → none, values escaped, a quote
    inside Markup as &quot;), without its generic Markup.format per attribute: every input,
    label and select of every form goes through it, and it was a fifth of a form page's CPU."""
    params = []
    for key, value in sorted(kwargs.items()):
        key = wtforms.widgets.core.clean_key(key)
        if value is True:
            params.append(str(escape(key)))
        elif value is not False:
            quoted = str(escape(value)).replace('"', "&quot;")
            params.append(f'{escape(key)}="{quoted}"')
    return Markup(" ".join(params))  # noqa: S704 - every part escaped above


def install_html_params() -> None:
    """Make WTForms' widgets and labels write attributes with `html_params` (create_app)."""
    wtforms.widgets.core.html_params = html_params  # Select, TextArea, Option, lists
    wtforms.widgets.html_params = html_params  # Label (fields.core reads it from the package)
    for widget in (wtforms.widgets.core.Input, wtforms.widgets.core.Button):
        widget.html_params = staticmethod(html_params)
