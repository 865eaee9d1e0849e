from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, EqualTo, Length

from ..forms import PasswordPolicy, PersonName, VietnameseMobile


def _confirm_field() -> PasswordField:
    """The new password typed again."""
    return PasswordField(
        _l("Repeat the password"),
        validators=[
            DataRequired(_l("Repeat the password.")),
            EqualTo("password", _l("The two passwords differ.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class LoginForm(FlaskForm):
    login = StringField(
        _l("Phone number or email"),
        validators=[DataRequired(_l("Enter your phone number or email.")), Length(max=254)],
        render_kw={"autocomplete": "username", "inputmode": "email"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[DataRequired(_l("Enter your password.")), Length(max=128)],
        render_kw={"autocomplete": "current-password"},
    )


class RegisterForm(FlaskForm):
    full_name = StringField(
        _l("Full name"),
        validators=[DataRequired(_l("Enter your full name.")), PersonName()],
        render_kw={"autocomplete": "name"},
    )
    phone = StringField(
        _l("Mobile phone number"),
        validators=[DataRequired(_l("Enter your mobile phone number.")), VietnameseMobile()],
        render_kw={"autocomplete": "tel", "inputmode": "tel"},
    )
    password = PasswordField(
        _l("Password"),
        validators=[
            DataRequired(_l("Choose a password.")),
            PasswordPolicy(staff=False, context_fields=("full_name", "phone")),
        ],
        render_kw={"autocomplete": "new-password"},
        description=_l("At least 8 characters. A short sentence is easy to remember and hard to guess."),
    )
    confirm = _confirm_field()


class NewPasswordForm(FlaskForm):
    """A new password typed twice (changed, or reset with a code or a link), checked by the
    password policy on the field: 12 characters for staff (`NewPasswordForm(staff=True)`), 8
    for parents. (The policy is part of the form, never appended to a field's validators: those
    lists are shared by every instance of the form, so an append would pile up across requests.)"""

    password = PasswordField(
        _l("New password"),
        validators=[
            DataRequired(_l("Choose a password.")),
            PasswordPolicy(staff=lambda form: form.for_staff),
        ],
        render_kw={"autocomplete": "new-password"},
    )
    confirm = _confirm_field()

    def __init__(self, *args, staff: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.for_staff = staff


class ChangePasswordForm(NewPasswordForm):
    current = PasswordField(
        _l("Current password"),
        validators=[DataRequired(_l("Enter your current password."))],
        render_kw={"autocomplete": "current-password"},
    )
