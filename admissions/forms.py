"""The area's forms: imports, the season's setup, rounds and placement, adding a child, the
application, the admission council's documents and messages."""

from __future__ import annotations

import re
import secrets

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired, FileSize
from markupsafe import Markup, escape
from wtforms import (
    BooleanField,
    DateField,
    DateTimeLocalField,
    FormField,
    HiddenField,
    IntegerField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms import Form as PlainForm
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional, ValidationError
from wtforms.widgets import Select

from app.forms import clean_text, html_params
from app.models import School

from . import notify, rules
from .models import MESSAGE_MAX, NOTE_MAX, DocumentKind, DocumentStatus, LevelState

DATETIME_FORMATS = ["%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M", "%d/%m/%Y %H:%M"]
MAX_UPLOAD_MB = 25  # a 150,000-row roster is about 9 MB


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

    def offer_states(self, levels) -> None:
        """Draft and scheduled, plus the state a level is in if it is another one."""
        by_level = {lv.level: lv for lv in levels}
        labels = state_labels()
        for lvl, sub in self.level_forms():
            allowed = [LevelState.DRAFT, LevelState.SCHEDULED]
            if by_level[lvl].state not in allowed:
                allowed.append(by_level[lvl].state)
            sub.form.state.choices = [SelectChoice(s, labels[s]) for s in allowed]

    def fill(self, season, tz: str) -> None:
        """Show the stored calendar (naive UTC) in local time."""
        self.trial_opens_at.data = rules.utc_to_local(season.trial_opens_at, tz)
        self.trial_closes_at.data = rules.utc_to_local(season.trial_closes_at, tz)
        by_level = {lv.level: lv for lv in season.levels}
        for lvl, sub in self.level_forms():
            lv = by_level[lvl]
            sub.form.opens_at.data = rules.utc_to_local(lv.opens_at, tz)
            sub.form.closes_at.data = rules.utc_to_local(lv.closes_at, tz)
            sub.form.confirm_by.data = rules.utc_to_local(lv.confirm_by, tz)
            sub.form.state.data = lv.state

    def settings(self, tz: str) -> tuple[dict[str, rules.LevelSetting], rules.Window]:
        """What was entered, in naive UTC: each level's setting and the trial window."""
        utc = rules.local_to_utc
        levels = {
            lvl: rules.LevelSetting(
                utc(sub.form.opens_at.data, tz),
                utc(sub.form.closes_at.data, tz),
                utc(sub.form.confirm_by.data, tz),
                sub.form.state.data,
            )
            for lvl, sub in self.level_forms()
        }
        return levels, rules.Window(utc(self.trial_opens_at.data, tz), utc(self.trial_closes_at.data, tz))

    def show_problems(self, problems, messages: dict[str, str]) -> None:
        """Put each ("<level>.<field>" or "trial.<field>", problem code) on its field."""
        for where, problem in problems:
            scope, _dot, name = where.partition(".")
            target = getattr(self, f"trial_{name}") if scope == "trial" else getattr(self, scope).form[name]
            target.errors = [*target.errors, messages[problem]]


class ConfirmForm(FlaskForm):
    """A bare form for POST buttons (CSRF only)."""


class WipeTrialForm(FlaskForm):
    confirm = BooleanField(
        _l("I understand that every trial child, application and code will be deleted."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class PublishForm(FlaskForm):
    confirm_by = DateTimeLocalField(
        _l("Families confirm their place by"),
        format=DATETIME_FORMATS,
        validators=[Optional()],
        description=_l("Vietnam time. Left empty: the level's confirmation deadline."),
    )
    confirm = BooleanField(
        _l("I have checked the results: publish them and tell the families."),
        validators=[DataRequired(_l("Tick the box to confirm."))],
    )


class AssignForm(FlaskForm):
    school_id = SelectField(_l("School"), coerce=int, choices=[], validate_choice=True)

    def offer(self, schools) -> AssignForm:
        self.school_id.choices = [SelectChoice(s.id, s.name) for s in schools]
        return self


def what_if_form(schools: list[School], formdata=None):
    """A form with one capacity field per school (defaults: the schools' capacities)."""
    fields = {
        f"cap_{s.id}": IntegerField(
            s.name,
            default=s.capacity,
            validators=[
                InputRequired(_l("Enter a number of seats.")),
                NumberRange(min=0, max=100000, message=_l("Capacities are whole numbers, 0 or more.")),
            ],
        )
        for s in schools
    }
    cls = type("WhatIfForm", (FlaskForm,), fields)
    return cls(formdata=formdata) if formdata is not None else cls()


class ImportForm(FlaskForm):
    """One upload form per file type; `prefix` is the kind so that the three forms can share a page."""

    file = FileField(
        _l("Excel file (.xlsx)"),
        validators=[
            FileRequired(_l("Choose an Excel file to upload.")),
            FileAllowed(["xlsx"], _l("Upload an .xlsx file (Excel 2007 or later).")),
            FileSize(
                MAX_UPLOAD_MB * 1024 * 1024,
                message=_l("The file is larger than 25 MB; split it into smaller files."),
            ),
        ],
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


def _plain(choice) -> bool:
    """A choice SchoolSelect writes itself: no group, no attributes, not a boolean value."""
    return (
        isinstance(choice, SelectChoice)
        and choice.optgroup is None
        and not choice.render_kw
        and not isinstance(choice.value, bool)
    )


_TAILS: dict[tuple, str] = {}  # (value, label) → the option's escaped value and label
_MAX_TAILS = 20_000  # a city's schools, many times over


def _option_tail(value, label) -> str:
    """`value="…">label</option>`, escaped once per process for a plain text label (a school's
    name: the same few dozen on every form of a district); a lazy label (— none —) every time."""
    if type(label) is not str:
        return f'value="{escape(value)}">{escape(label or value)}</option>'
    key = (value, label)
    tail = _TAILS.get(key)
    if tail is None:
        if len(_TAILS) >= _MAX_TAILS:
            _TAILS.clear()
        tail = _TAILS[key] = f'value="{escape(value)}">{escape(label or value)}</option>'
    return tail


class SchoolSelect(Select):
    """WTForms' select, its plain options written directly (the same HTML): the application form
    lists every school of the district in each of its selects, and the generic attribute writer
    was a quarter of the page's CPU."""

    def __call__(self, field, **kwargs):
        """The select with its options written in one loop over the field's choices when they
        are plain (no groups, no attributes): WTForms normalises the choices twice and makes a
        Choice of each before writing it, four selects of the whole district on the form."""
        choices = field.choices
        if self.multiple or not isinstance(choices, list) or not all(map(_plain, choices)):
            return super().__call__(field, **kwargs)
        kwargs.setdefault("id", field.id)
        flags = getattr(field, "flags", {})
        for k in dir(flags):
            if k in self.validation_attrs and k not in kwargs:
                kwargs[k] = getattr(flags, k)
        coerce, data = field.coerce, field.data
        html = [f"<select {html_params(name=field.name, **kwargs)}>"]
        for c in choices:
            start = "<option selected " if coerce(c.value) == data else "<option "
            html.append(start + _option_tail(c.value, c.label))
        html.append("</select>")
        return Markup("".join(html))  # noqa: S704 - escaped

    @classmethod
    def render_option(cls, choice, **kwargs):
        if kwargs or choice.render_kw or isinstance(choice.value, bool):
            return super().render_option(choice, **kwargs)
        selected = "selected " if choice.selected else ""
        label = escape(choice.label or choice.value)
        return Markup(f'<option {selected}value="{escape(choice.value)}">{label}</option>')  # noqa: S704 - escaped


class ApplicationForm(FlaskForm):
    """choice_1 … choice_10: the level's limit (AdmissionLevel.max_other_choices) says how many are
    shown and read; set_options() sets it."""

    limit = rules.MAX_OTHER_CHOICES
    sibling_school = SelectField(
        _l("A brother or sister already studies at"),
        coerce=int,
        choices=[],
        validate_choice=False,
        description=_l("Optional. Gives priority at that school; bring proof to the school."),
        widget=SchoolSelect(),
    )
    token = HiddenField()
    application_id = HiddenField()

    def validate_token(self, field):
        field.data = clean_text(field.data)
        if not re.fullmatch(r"[A-Za-z0-9_\-]{16,64}", field.data or ""):
            raise ValidationError(_l("The form expired. Reload the page and try again."))

    def choice_fields(self) -> list:
        return [self[f"choice_{k}"] for k in range(1, self.limit + 1)]

    def ranked(self) -> list[int]:
        """The chosen schools in order, blanks skipped (a family may fill 1st and 3rd only)."""
        return [f.data for f in self.choice_fields() if f.data]

    def set_options(self, schools, siblings, limit: int = rules.MAX_OTHER_CHOICES) -> None:
        self.limit = max(0, min(limit, rules.MAX_CHOICE_LIMIT))
        none = [SelectChoice(0, _l("— none —"))]
        options = none + [SelectChoice(s.id, s.name) for s in schools]
        for f in self.choice_fields():
            f.choices = options  # one list for every choice (none of them changes it)
        self.sibling_school.choices = none + [SelectChoice(s.id, s.name) for s in siblings]

    def start(self, existing) -> None:
        """A fresh form: a new token; the existing application's choices, if there is one."""
        self.token.data = secrets.token_urlsafe(24)
        if existing is not None:
            self.application_id.data = str(existing.id)
            others = [c.school_id for c in existing.choices if not c.is_catchment]
            for f, sid in zip(self.choice_fields(), others, strict=False):
                f.data = sid
            self.sibling_school.data = (existing.sibling_school_ids or [0])[0]

    def expected_id(self) -> int | None:
        return int(self.application_id.data) if (self.application_id.data or "").isdigit() else None


for _k in range(1, rules.MAX_CHOICE_LIMIT + 1):
    setattr(
        ApplicationForm,
        f"choice_{_k}",
        SelectField(
            notify.ORDINALS.get(_k) or _l("Choice no. %(n)d", n=_k),
            coerce=int,
            choices=[],
            validate_choice=False,
            widget=SchoolSelect(),
        ),
    )


class ChoiceLimitForm(FlaskForm):
    max_other_choices = IntegerField(
        _l("Schools a family may rank besides the catchment school"),
        validators=[InputRequired(), NumberRange(min=0, max=rules.MAX_CHOICE_LIMIT)],
    )


# ---- the school's admission council ---------------------------------------------------------


def _strip(value):
    return clean_text(value) if isinstance(value, str) else value


def _note():
    return TextAreaField(
        _l("Note to the family (required for a problem)"), filters=[_strip], validators=[Length(max=NOTE_MAX)]
    )


class DocumentsForm(FlaskForm):
    """One status and one note per document kind (fields named status_<kind>, note_<kind>)."""

    status_birth_certificate = SelectField(_l("Birth certificate"), choices=[])
    note_birth_certificate = _note()
    status_residence_proof = SelectField(_l("Proof of residence"), choices=[])
    note_residence_proof = _note()
    status_priority_proof = SelectField(_l("Proof of priority"), choices=[])
    note_priority_proof = _note()

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        labels = notify.document_status_labels()
        for kind in DocumentKind:
            self[f"status_{kind}"].choices = [SelectChoice(s.value, labels[s]) for s in DocumentStatus]

    def pairs(self):
        return [(kind.value, self[f"status_{kind}"], self[f"note_{kind}"]) for kind in DocumentKind]

    def fill(self, docs) -> DocumentsForm:
        for d in docs:
            self[f"status_{d.kind}"].data = d.status
            self[f"note_{d.kind}"].data = d.note
        return self


class MessageForm(FlaskForm):
    body = TextAreaField(
        _l("Message"),
        filters=[_strip],
        validators=[
            InputRequired(_l("Write a message.")),
            Length(max=MESSAGE_MAX, message=_l("Write at most %(max)d characters.")),
        ],
    )


class RunForm(FlaskForm):
    """Run an official round: a second run on the same entries needs a reason (shown to the public)."""

    reason = StringField(
        _l("Reason (public; required to run again)"),
        filters=[_strip],
        validators=[Length(max=500, message=_l("Write at most %(max)d characters."))],
    )


class BeaconForm(FlaskForm):
    """The beacon value typed by an officer, with where it was read (both public)."""

    randomness = StringField(
        _l("Beacon randomness (hexadecimal)"),
        filters=[_strip],
        validators=[InputRequired(_l("Type the randomness of the beacon round.")), Length(max=128)],
    )
    source = StringField(
        _l("Where it was read (address of the page)"),
        filters=[_strip],
        validators=[InputRequired(_l("Say where the value was read.")), Length(max=300)],
    )
