"""The fast attribute writer the app installs in WTForms writes exactly what WTForms writes."""

from __future__ import annotations

import pytest
import wtforms.widgets
import wtforms.widgets.core
from markupsafe import Markup
from wtforms import Form, PasswordField, SelectField, StringField, TextAreaField
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, Length

from app.forms import WTFORMS_HTML_PARAMS, html_params, install_html_params

CASES = [
    {},
    {"name": "phone", "id": "phone", "type": "text", "value": ""},
    {"class_": "a b", "for_": "x", "value": "<script>\"&'</script>"},
    {"checked": True, "readonly": False, "disabled": True, "name": "box"},
    {"data_role_name": "x", "aria_described_by": "hint err", "data_n": 3},
    {"value": Markup('<b title="q">safe</b>')},  # a quote inside Markup becomes &quot;
    {"value": None, "maxlength": 254, "minlength": 0, "autofocus": True},
    {"placeholder": "Số điện thoại", "z": "last", "a": "first"},
]


@pytest.mark.parametrize("kwargs", CASES)
def test_same_attributes_as_wtforms(kwargs):
    ours, theirs = html_params(**kwargs), WTFORMS_HTML_PARAMS(**kwargs)
    assert ours == theirs
    assert isinstance(ours, Markup)


class _Sample(Form):
    name = StringField(
        "Họ <tên>", validators=[DataRequired(), Length(max=20)], render_kw={"inputmode": "text"}
    )
    secret = PasswordField("Password", validators=[DataRequired()])
    note = TextAreaField("Note", default='a "quoted" <note>')
    pick = SelectField(
        "Pick", choices=[SelectChoice(1, "One & <1>"), SelectChoice(2, 'Two "2"')], default=2, coerce=int
    )


def _rendered() -> list[str]:
    form = _Sample(data={"name": 'Trần "Mẹ" <x>'})
    out = []
    for f in form:
        out += [str(f.label()), str(f(**{"aria-describedby": "h", "class_": "c", "autofocus": True}))]
    return out


def test_widgets_and_labels_render_the_same_once_installed(monkeypatch):
    for module in (wtforms.widgets.core, wtforms.widgets):
        monkeypatch.setattr(module, "html_params", WTFORMS_HTML_PARAMS)
    for widget in (wtforms.widgets.core.Input, wtforms.widgets.core.Button):
        monkeypatch.setattr(widget, "html_params", staticmethod(WTFORMS_HTML_PARAMS))
    theirs = _rendered()
    install_html_params()
    assert wtforms.widgets.core.Input.html_params is html_params
    assert wtforms.widgets.html_params is html_params
    assert _rendered() == theirs
    assert 'value="Trần &#34;Mẹ&#34; &lt;x&gt;"' in "".join(theirs)
