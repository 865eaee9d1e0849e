"""Spreadsheet plumbing shared by the areas' Excel imports and exports (docs/excel-formats.md).

One home for what `admissions` and `contactbook` both need (the areas use `app` and never each
other), one module per concern:

- `strings`: `clean_text`, `strip_diacritics`, `header_key`, `enum_key`, `escape_formula` (exports);
- `cells`: the cell checks; each takes a cell's value (and the openpyxl `data_type` where it
  matters) and returns the clean value or raises `CellError(code, **params)`;
- `problems`: `Problem` (`row R, column C: problem`), `FileRejected`, the generic `MESSAGES` and
  `render_message` / `localize`;
- `reading`: `open_workbook` (with the limits that refuse decompression bombs), `match_headers`,
  `read_sheet`; `writing`: `write_sheet`, `workbook_bytes`, `workbook_file`, `download`.

Everything is importable from `app.xlsx` itself. Area rules stay in the areas: personal IDs,
provinces, levels, residence types and place names in admissions; classes and grades in the
contact book.
"""

from .cells import (
    GENDERS,
    GENDERS_WITH_LETTERS,
    YES_NO,
    a_date,
    check_cell,
    code,
    email,
    enum,
    gender,
    integer,
    is_blank,
    number,
    person_name,
    phone,
    text,
    text_cell,
    yes_no,
)
from .problems import MESSAGES, CellError, FileRejected, Problem, localize, render_message
from .reading import (
    READ_ERRORS,
    Column,
    Row,
    check_archive,
    find_sheet,
    get_sheet,
    guard_rows,
    match_headers,
    open_workbook,
    read_sheet,
)
from .strings import (
    EXPORT_ESCAPE_PREFIXES,
    FORMULA_PREFIXES,
    clean_text,
    enum_key,
    escape_formula,
    excel_text,
    header_key,
    strip_diacritics,
)
from .writing import (
    XLSX_MIMETYPE,
    download,
    new_workbook,
    workbook_bytes,
    workbook_file,
    write_row,
    write_sheet,
)

__all__ = [
    "EXPORT_ESCAPE_PREFIXES",
    "FORMULA_PREFIXES",
    "GENDERS",
    "GENDERS_WITH_LETTERS",
    "MESSAGES",
    "READ_ERRORS",
    "XLSX_MIMETYPE",
    "YES_NO",
    "CellError",
    "Column",
    "FileRejected",
    "Problem",
    "Row",
    "a_date",
    "check_archive",
    "check_cell",
    "clean_text",
    "code",
    "download",
    "email",
    "enum",
    "enum_key",
    "escape_formula",
    "excel_text",
    "find_sheet",
    "gender",
    "get_sheet",
    "guard_rows",
    "header_key",
    "integer",
    "is_blank",
    "localize",
    "match_headers",
    "new_workbook",
    "number",
    "open_workbook",
    "person_name",
    "phone",
    "read_sheet",
    "render_message",
    "strip_diacritics",
    "text",
    "text_cell",
    "workbook_bytes",
    "workbook_file",
    "write_row",
    "write_sheet",
    "yes_no",
]
