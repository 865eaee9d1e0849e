"""Forms of the admissions import pages (the season/application forms are in season_forms.py)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired, FileSize

MAX_UPLOAD_MB = 25  # a 150,000-row roster is about 9 MB


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
