"""Forms of the one-time code pages: entering a code, forgot password, changing a phone."""

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import EmailField, HiddenField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, Length

from ..forms import VietnameseMobile
from .forms import NewPasswordForm


def _code_field():
    return StringField(
        _l("Code"),
        validators=[DataRequired(_l("Enter the 6-digit code from the SMS.")), Length(max=12)],
        render_kw={"autocomplete": "one-time-code", "inputmode": "numeric", "maxlength": "12"},
    )


class CodeForm(FlaskForm):
    code = _code_field()


class SendCodeForm(FlaskForm):
    """A button that sends (or sends again) a code: CSRF only."""


class ForgotForm(FlaskForm):
    login = StringField(
        _l("Phone number or email"),
        validators=[DataRequired(_l("Enter your phone number or email.")), Length(max=254)],
        render_kw={"autocomplete": "username", "inputmode": "email"},
    )


class ResetForm(NewPasswordForm):
    code = _code_field()


class PhoneForm(FlaskForm):
    phone = StringField(
        _l("New mobile phone number"),
        validators=[DataRequired(_l("Enter your mobile phone number.")), VietnameseMobile()],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password.")), Length(max=128)],
        render_kw={"autocomplete": "current-password"},
    )


class EmailForm(FlaskForm):
    email = EmailField(
        _l("Email"),
        validators=[
            DataRequired(_l("Enter an email address.")),
            Email(_l("Enter a valid email address.")),
            Length(max=254),
        ],
        render_kw={"autocomplete": "email", "inputmode": "email"},
    )
    password = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password.")), Length(max=128)],
        render_kw={"autocomplete": "current-password"},
    )


class LoginCodeStartForm(FlaskForm):
    """After many failed logins: send a code to the account's phone (the login rides along)."""

    login = HiddenField(validators=[DataRequired(), Length(max=254)])


class LoginCodeForm(FlaskForm):
    code = _code_field()
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=128)],
        render_kw={"autocomplete": "current-password"},
    )
