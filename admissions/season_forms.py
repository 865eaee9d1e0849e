"""Forms of the admissions season: office setup, adding a child, the application."""

from __future__ import annotations

import re

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FormField,
    HiddenField,
    SelectField,
    StringField,
)
from wtforms import Form as PlainForm
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from app.forms import clean_text

from . import rules
from .models import LevelState

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"]


def level_labels() -> dict[str, str]:
    return {"kindergarten": _l("Kindergarten (age 5)"), "grade1": _l("Grade 1"), "grade6": _l("Grade 6")}


def state_labels() -> dict[str, str]:
    return {
        LevelState.DRAFT: _l("Draft (parents cannot apply yet)"),
        LevelState.SCHEDULED: _l("Published (parents apply inside the window)"),
        LevelState.ALLOCATING: _l("Allocation running"),
        LevelState.ALLOCATED: _l("Allocated"),
        LevelState.PUBLISHED: _l("Results published"),
        LevelState.CLOSED: _l("Closed"),
    }


# ---- office ---------------------------------------------------------------------------------


class SeasonForm(FlaskForm):
    academic_year_id = SelectField(_l("Academic year"), coerce=int, choices=[], validate_choice=True)
    trial = BooleanField(_l("Start with a trial phase (its data is wiped before the official window)"))


class LevelScheduleForm(PlainForm):
    """One level's window, in local time (Asia/Ho_Chi_Minh). A sub-form: no CSRF of its own."""

    opens_at = DateTimeLocalField(_l("Registration opens"), format=DATETIME_FORMATS, validators=[Optional()])
    closes_at = DateTimeLocalField(
        _l("Registration closes"), format=DATETIME_FORMATS, validators=[Optional()]
    )
    confirm_by = DateTimeLocalField(
        _l("Families confirm their place by"), format=DATETIME_FORMATS, validators=[Optional()]
    )
    state = SelectField(_l("State"), choices=[])


class ScheduleForm(FlaskForm):
    trial_opens_at = DateTimeLocalField(_l("Trial opens"), format=DATETIME_FORMATS, validators=[Optional()])
    trial_closes_at = DateTimeLocalField(_l("Trial closes"), format=DATETIME_FORMATS, validators=[Optional()])
    grade1 = FormField(LevelScheduleForm)
    kindergarten = FormField(LevelScheduleForm)
    grade6 = FormField(LevelScheduleForm)

    def level_forms(self):
        return [(lvl, getattr(self, lvl)) for lvl in rules.LEVELS]


class ConfirmForm(FlaskForm):
    """A bare form for POST buttons (CSRF only)."""


class WipeTrialForm(FlaskForm):
    confirm = BooleanField(
        _l("I understand that every trial child, application and code will be deleted."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


# ---- parents --------------------------------------------------------------------------------


class AdmissionCodeField:
    def __call__(self, form, field):
        canonical = rules.normalize_code(field.data)
        if canonical is None:
            raise ValidationError(_l("An admission code has 9 letters and digits, e.g. K7M-2QX-9PA."))
        if not rules.code_is_well_formed(canonical):
            raise ValidationError(
                _l("This code has a typing mistake: compare it with the paper from the school.")
            )
        field.data = canonical


class PersonalIdField:
    def __call__(self, form, field):
        digits = re.sub(r"[\s.\-]", "", field.data or "")
        if not (digits.isdigit() and len(digits) == 12):
            raise ValidationError(_l("The personal ID (mã định danh) has 12 digits."))
        field.data = digits


class AddChildForm(FlaskForm):
    code = StringField(
        _l("Admission code"),
        validators=[InputRequired(_l("Enter the admission code.")), Length(max=20), AdmissionCodeField()],
        description=_l("On the paper the school gave you, e.g. K7M-2QX-9PA."),
        render_kw={"autocomplete": "off", "autocapitalize": "characters", "spellcheck": "false"},
    )
    personal_id = StringField(
        _l("Child's personal ID"),
        validators=[InputRequired(_l("Enter the child's personal ID.")), Length(max=20), PersonalIdField()],
        description=_l("12 digits, on the birth certificate or the residence record."),
        render_kw={"inputmode": "numeric", "autocomplete": "off"},
    )
    date_of_birth = DateField(
        _l("Date of birth"),
        format=["%Y-%m-%d", "%d/%m/%Y"],
        validators=[InputRequired(_l("Enter the date of birth."))],
    )


class ApplicationForm(FlaskForm):
    choice_1 = SelectField(_l("1st choice"), coerce=int, choices=[], validate_choice=False)
    choice_2 = SelectField(_l("2nd choice"), coerce=int, choices=[], validate_choice=False)
    choice_3 = SelectField(_l("3rd choice"), coerce=int, choices=[], validate_choice=False)
    sibling_school = SelectField(
        _l("A brother or sister already studies at"),
        coerce=int,
        choices=[],
        validate_choice=False,
        description=_l("Optional. Gives priority at that school; bring proof to the school."),
    )
    token = HiddenField()
    application_id = HiddenField()

    def validate_token(self, field):
        field.data = clean_text(field.data)
        if not re.fullmatch(r"[A-Za-z0-9_\-]{16,64}", field.data or ""):
            raise ValidationError(_l("The form expired. Reload the page and try again."))

    def ranked(self) -> list[int]:
        """The chosen schools in order, blanks skipped (a family may fill 1st and 3rd only)."""
        return [c for c in (self.choice_1.data, self.choice_2.data, self.choice_3.data) if c]

    def set_options(self, schools, siblings) -> None:
        none = [SelectChoice(0, _l("— none —"))]
        for f in (self.choice_1, self.choice_2, self.choice_3):
            f.choices = none + [SelectChoice(s.id, s.name) for s in schools]
        self.sibling_school.choices = none + [SelectChoice(s.id, s.name) for s in siblings]

    def expected_id(self) -> int | None:
        return int(self.application_id.data) if (self.application_id.data or "").isdigit() else None
