"""Forms of the notification pages: preferences and the test notification."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField, TimeField
from wtforms.validators import DataRequired, InputRequired, Length

from ..forms import clean_text


def _time_field(label, example, **kwargs) -> TimeField:
    """A time of day, HH:MM (a browser may add seconds); a missing or malformed value gets the
    same localized hint (WTForms' own "Not a valid time value." is English only)."""
    return TimeField(
        label,
        validators=[InputRequired(example)],
        format=["%H:%M", "%H:%M:%S"],
        invalid_value_message=example,
        **kwargs,
    )


class PreferencesForm(FlaskForm):
    """Quiet hours and digest time; the per-kind checkboxes are read by name (email_<kind>, …)."""

    quiet_enabled = BooleanField(_l("Quiet hours: hold email and SMS at night (urgent messages still come)"))
    quiet_start = _time_field(_l("Quiet hours start"), _l("Enter a time such as 21:00."))
    quiet_end = _time_field(_l("Quiet hours end"), _l("Enter a time such as 06:30."))
    digest_at = _time_field(
        _l("Daily summary time"),
        _l("Enter a time such as 18:00."),
        description=_l("Kinds you receive as a daily summary arrive in one email at this time."),
    )


class TestNotificationForm(FlaskForm):
    title = StringField(
        _l("Title"),
        filters=[clean_text],
        validators=[
            DataRequired(_l("Enter a title.")),
            Length(max=150, message=_l("At most 150 characters.")),
        ],
    )
    body = TextAreaField(
        _l("Message"),
        filters=[clean_text],
        validators=[Length(max=2000, message=_l("At most 2,000 characters."))],
    )
