"""Forms of the personal-data pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import SelectField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from ..forms import clean_text


class CorrectionForm(FlaskForm):
    subject = SelectField(_l("About"), choices=[], validators=[DataRequired(_l("Choose the child."))])
    details = TextAreaField(
        _l("What is wrong, and what it should be"),
        validators=[DataRequired(_l("Say what is wrong and what it should be.")), Length(max=2000)],
        filters=[clean_text],
    )


class AnswerForm(FlaskForm):
    outcome = SelectField(
        _l("Outcome"),
        choices=[SelectChoice("done", _l("Corrected")), SelectChoice("refused", _l("Not corrected"))],
        validators=[DataRequired()],
    )
    answer = TextAreaField(
        _l("Answer to the family"),
        validators=[DataRequired(_l("Write the answer the family will read.")), Length(max=500)],
        filters=[clean_text],
    )
