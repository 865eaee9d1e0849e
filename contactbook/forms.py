"""Contact book forms (labels and messages in English, translated through the catalog)."""

from __future__ import annotations

from flask_babel import format_date, gettext
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired, MultipleFileField
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    SelectMultipleField,
    StringField,
    TextAreaField,
    ValidationError,
)
from wtforms.fields.choices import SelectChoice
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional
from wtforms.widgets import CheckboxInput, ListWidget

from app.forms import clean_text

from .models import Assessment, RequestStatus
from .rules import MAX_ATTACHMENT_BYTES, MAX_ATTACHMENTS

XLSX_MAX_BYTES = 10 * 1024 * 1024


class MaxBytes:
    def __init__(self, limit: int):
        self.limit = limit

    def __call__(self, form, field):
        f = field.data
        if f is None:
            return
        f.stream.seek(0, 2)
        size = f.stream.tell()
        f.stream.seek(0)
        if size > self.limit:
            raise ValidationError(_l("The file is larger than %(mb)d MB.", mb=self.limit // (1024 * 1024)))


def xlsx_field(label):
    return FileField(
        label,
        validators=[
            FileRequired(_l("Choose an Excel file (.xlsx).")),
            FileAllowed(["xlsx"], _l("Choose an Excel file (.xlsx).")),
            MaxBytes(XLSX_MAX_BYTES),
        ],
    )


class CleanText:
    """Normalize free text and refuse leading formula characters (it may be exported later)."""

    def __call__(self, form, field):
        field.data = clean_text(field.data) if field.data is not None else field.data


class ImportForm(FlaskForm):
    file = xlsx_field(_l("Workbook classes.xlsx"))


class ActivationForm(FlaskForm):
    login = StringField(
        _l("Phone number or email"),
        validators=[DataRequired(_l("Enter your phone number or email.")), Length(max=254)],
        render_kw={"autocomplete": "username", "inputmode": "email"},
    )
    code = StringField(
        _l("Activation code"),
        validators=[DataRequired(_l("Enter the code printed on your sheet.")), Length(max=20)],
        render_kw={"autocomplete": "one-time-code", "autocapitalize": "characters", "spellcheck": "false"},
        description=_l("8 letters and digits, such as ABCD-2345."),
    )
    password = PasswordField(
        _l("Choose a password"),
        validators=[DataRequired(_l("Choose a password."))],
        render_kw={"autocomplete": "new-password"},
        description=_l(
            "At least 8 characters (12 for school staff). A short sentence is easy to remember and hard to guess."
        ),
    )
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[
            DataRequired(_l("Repeat the password.")),
            EqualTo("password", _l("The two passwords differ.")),
        ],
        render_kw={"autocomplete": "new-password"},
    )


class TermsForm(FlaskForm):
    term1_start = DateField(_l("Term I starts"), validators=[InputRequired(_l("Enter a date."))])
    term1_end = DateField(_l("Term I ends"), validators=[InputRequired(_l("Enter a date."))])
    term2_start = DateField(_l("Term II starts"), validators=[InputRequired(_l("Enter a date."))])
    term2_end = DateField(_l("Term II ends"), validators=[InputRequired(_l("Enter a date."))])

    def __init__(self, *args, year=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.year = year

    def validate_term1_end(self, field):
        if self.term1_start.data and field.data and field.data < self.term1_start.data:
            raise ValidationError(_l("A term cannot end before it starts."))

    def validate_term2_start(self, field):
        if self.term1_end.data and field.data and field.data <= self.term1_end.data:
            raise ValidationError(_l("Term II starts after term I ends."))

    def validate_term2_end(self, field):
        if self.term2_start.data and field.data and field.data < self.term2_start.data:
            raise ValidationError(_l("A term cannot end before it starts."))
        if self.year and field.data and field.data > self.year.ends_on:
            raise ValidationError(
                _l("The school year ends on %(day)s.", day=format_date(self.year.ends_on, "dd/MM/yyyy"))
            )

    def validate_term1_start(self, field):
        if self.year and field.data and field.data < self.year.starts_on:
            raise ValidationError(
                _l("The school year starts on %(day)s.", day=format_date(self.year.starts_on, "dd/MM/yyyy"))
            )


ASSESSMENT_CHOICES = [
    SelectChoice(Assessment.SCORED, _l("Scores 0–10 (Circular 22)")),
    SelectChoice(Assessment.COMMENT, _l("Đạt / Chưa đạt (Circular 22)")),
    SelectChoice(Assessment.PRIMARY, _l("Primary levels (Circular 27)")),
]


class SubjectForm(FlaskForm):
    grade = IntegerField(
        _l("Grade"),
        validators=[
            InputRequired(_l("Enter the grade.")),
            NumberRange(1, 12, _l("Enter a grade from 1 to 12.")),
        ],
    )
    name = StringField(
        _l("Subject"), validators=[DataRequired(_l("Enter the subject name.")), Length(max=80), CleanText()]
    )
    assessment = SelectField(_l("Assessment"), choices=ASSESSMENT_CHOICES)
    regular_count = IntegerField(
        _l("Regular assessments per term"),
        default=3,
        validators=[
            InputRequired(_l("Enter a number.")),
            NumberRange(1, 9, _l("Enter a number from 1 to 9.")),
        ],
    )
    has_test = BooleanField(_l("Periodic test scored 0–10 (primary)"))

    def validate_name(self, field):
        if field.data and field.data.startswith(("=", "+", "-", "@")):
            raise ValidationError(_l("A name cannot start with =, +, - or @."))

    def validate_assessment(self, field):
        grade = self.grade.data
        if grade is None:
            return
        if grade <= 5 and field.data != Assessment.PRIMARY:
            raise ValidationError(_l("Primary grades use the Circular 27 levels."))
        if grade >= 6 and field.data == Assessment.PRIMARY:
            raise ValidationError(_l("Secondary grades use scores or Đạt / Chưa đạt."))


class SubjectEditForm(FlaskForm):
    """Change a subject of one grade (the grade itself stays: a subject belongs to it)."""

    name = StringField(
        _l("Subject"), validators=[DataRequired(_l("Enter the subject name.")), Length(max=80), CleanText()]
    )
    assessment = SelectField(_l("Assessment"), choices=ASSESSMENT_CHOICES)
    regular_count = IntegerField(
        _l("Regular assessments per term"),
        validators=[
            InputRequired(_l("Enter a number.")),
            NumberRange(1, 9, _l("Enter a number from 1 to 9.")),
        ],
    )
    has_test = BooleanField(_l("Periodic test scored 0–10 (primary)"))

    def __init__(self, *args, grade: int, **kwargs):
        super().__init__(*args, **kwargs)
        self.grade = grade

    def validate_name(self, field):
        if field.data and field.data.startswith(("=", "+", "-", "@")):
            raise ValidationError(_l("A name cannot start with =, +, - or @."))

    def validate_assessment(self, field):
        if self.grade <= 5 and field.data != Assessment.PRIMARY:
            raise ValidationError(_l("Primary grades use the Circular 27 levels."))
        if self.grade >= 6 and field.data == Assessment.PRIMARY:
            raise ValidationError(_l("Secondary grades use scores or Đạt / Chưa đạt."))


class GradeSheetUploadForm(FlaskForm):
    file = xlsx_field(_l("Grade sheet (.xlsx)"))
    reason = StringField(
        _l("Reason for changing published grades"), validators=[Optional(), Length(max=300), CleanText()]
    )


class CommentForm(FlaskForm):
    body = TextAreaField(
        _l("Note"),
        validators=[
            DataRequired(_l("Write the note.")),
            Length(max=2000, message=_l("Write at most %(max)d characters.")),
            CleanText(),
        ],
    )


class AbsenceRequestForm(FlaskForm):
    from_date = DateField(_l("First day of absence"), validators=[InputRequired(_l("Enter a date."))])
    to_date = DateField(_l("Last day of absence"), validators=[InputRequired(_l("Enter a date."))])
    reason = TextAreaField(
        _l("Reason"),
        validators=[
            DataRequired(_l("Give the reason.")),
            Length(max=500, message=_l("Write at most %(max)d characters.")),
            CleanText(),
        ],
    )

    def validate_to_date(self, field):
        if self.from_date.data and field.data and field.data < self.from_date.data:
            raise ValidationError(_l("The last day cannot be before the first day."))
        if self.from_date.data and field.data and (field.data - self.from_date.data).days > 60:
            raise ValidationError(_l("A request covers at most 60 days; ask the school for longer absences."))


class DecisionForm(FlaskForm):
    decision = SelectField(
        _l("Decision"),
        choices=[
            SelectChoice(RequestStatus.APPROVED, _l("Approve")),
            SelectChoice(RequestStatus.DECLINED, _l("Decline")),
        ],
    )
    note = StringField(_l("Note to the family"), validators=[Optional(), Length(max=300), CleanText()])


class TermCommentsForm(FlaskForm):
    """CSRF only: the comment fields are named c-<pupil id> and read by the view."""


class MessageForm(FlaskForm):
    recipient = SelectField(_l("To"), coerce=int, choices=[], validate_choice=True)
    body = TextAreaField(
        _l("Message"),
        validators=[
            DataRequired(_l("Write your message.")),
            Length(max=4000, message=_l("Write at most %(max)d characters.")),
            CleanText(),
        ],
    )
    files = MultipleFileField(
        _l("Attach photos or PDF (optional)"),
        description=_l("Up to 3 files: JPEG, PNG, GIF, WebP or PDF, 5 MB each."),
        # Checked in the page before anything is sent (static/js/app.js): the typed text stays.
        render_kw={
            "data-max-bytes": MAX_ATTACHMENT_BYTES,
            "data-max-files": MAX_ATTACHMENTS,
            "data-too-big": _l("{name} is larger than 5 MB: choose a smaller file. Your text is kept."),
            "data-too-many": _l("Attach at most 3 files. Your text is kept."),
            "accept": "image/jpeg,image/png,image/gif,image/webp,application/pdf",
        },
    )


def teacher_choices(teachers) -> list[SelectChoice]:
    """A family's recipients in MessageForm: each of the child's teachers, with the subjects they
    teach and whether they are the homeroom teacher ((user, subject names, homeroom) tuples)."""
    return [
        SelectChoice(
            t.id,
            t.full_name
            + (" · " + ", ".join(subjects) if subjects else "")
            + (" · " + gettext("homeroom") if homeroom else ""),
        )
        for t, subjects, homeroom in teachers
    ]


class ReportForm(FlaskForm):
    reason = TextAreaField(
        _l("What is wrong?"),
        validators=[
            DataRequired(_l("Tell the school what is wrong.")),
            Length(max=500, message=_l("Write at most %(max)d characters.")),
            CleanText(),
        ],
    )


class CloseReportForm(FlaskForm):
    resolution = TextAreaField(
        _l("What the school did"),
        validators=[
            DataRequired(_l("Write what the school did; the person who reported it is told.")),
            Length(max=300, message=_l("Write at most %(max)d characters.")),
            CleanText(),
        ],
    )


class OfficeHoursForm(FlaskForm):
    text = StringField(
        _l("When you answer messages"),
        validators=[Optional(), Length(max=200), CleanText()],
        description=_l("For example: Monday to Friday, 16:30–17:30. Leave empty to remove."),
    )


class AnnouncementForm(FlaskForm):
    title = StringField(
        _l("Title"), validators=[DataRequired(_l("Give a title.")), Length(max=200), CleanText()]
    )
    body = TextAreaField(
        _l("Announcement"),
        validators=[
            DataRequired(_l("Write the announcement.")),
            Length(max=4000, message=_l("Write at most %(max)d characters.")),
            CleanText(),
        ],
    )
    requires_ack = BooleanField(_l("Ask families to confirm they have read it"))


class ResultsForm(FlaskForm):
    """CSRF only: the conduct of each pupil is named k-<pupil id> and read by the view."""


class UrgentNoticeForm(FlaskForm):
    """An urgent notice (contactbook.urgent): the text, who gets it, then a confirmation step."""

    title = StringField(
        _l("Title"),
        description=_l("Short: it is the text of the SMS."),
        validators=[
            DataRequired(_l("Give a title.")),
            Length(max=120, message=_l("Write at most %(max)d characters.")),
            CleanText(),
        ],
    )
    body = TextAreaField(
        _l("What families must know and do"),
        validators=[
            DataRequired(_l("Write the notice.")),
            Length(max=1000, message=_l("Write at most %(max)d characters.")),
            CleanText(),
        ],
    )
    # The choices are checked against the sender's scope by contactbook.urgent (a refusal worded
    # in Vietnamese there), not by WTForms (whose own messages have no Vietnamese).
    audience = RadioField(
        _l("Send to"), validators=[InputRequired(_l("Choose who receives it."))], validate_choice=False
    )
    classes = SelectMultipleField(
        _l("Classes"),
        coerce=str,
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    schools = SelectMultipleField(
        _l("Schools"),
        coerce=str,
        validate_choice=False,
        widget=ListWidget(prefix_label=False),
        option_widget=CheckboxInput(),
    )
    requires_ack = BooleanField(_l("Ask families to confirm they have read it"), default=True)
