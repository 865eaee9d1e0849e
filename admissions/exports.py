"""Excel files the admissions area hands out (formats: docs/excel-formats.md): import templates,
admission codes for distribution, the admitted children of a school, district and city summaries.

Every text cell is a string cell escaped against formula injection (app.xlsx.excel_text: text that
starts with =, +, -, @, tab or CR gets a leading apostrophe), so data typed by families can never
run as a spreadsheet formula in an officer's Excel; dates are dd/mm/yyyy text in Vietnam time.
Headers and values are in the language of the user who downloads the file. The caller audits the
export (ids and counts only).

Codes of a school's catchment (or of children with no single catchment school); a school's
admitted list (offered or confirmed, what enrolling needs, the council's document state; no
personal ID, no phone); district summary (a row per school and totals by status); city summary.
"""

from __future__ import annotations

from datetime import date
from typing import IO

from flask_babel import format_date, format_datetime, gettext
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from app.extensions import db
from app.models import District, School
from app.xlsx import escape_formula, excel_text, workbook_bytes, workbook_file

from . import codes, dashboard, intake, notify, reports, rules, seasons
from .forms import level_labels
from .imports import COLUMNS, SHEETS
from .models import AdmissionLevel, CouncilState

DATE = "dd/MM/yyyy"
CHUNK = 1000  # rows fetched at a time by the exports that stream

TEXT_FORMAT = "@"
DATE_FORMAT = "DD/MM/YYYY"

# Columns typed as text in Excel, so that leading zeros survive (codes, IDs, phone numbers).
TEXT_COLUMNS = {"school_code", "personal_id", "guardian_phone"}
DATE_COLUMNS = {"date_of_birth"}
# Drop-down lists (Vietnamese spellings; English is accepted on import too).
CHOICES = {
    "level": ["Mầm non 5 tuổi", "Lớp 1", "Lớp 6"],
    "gender": ["Nam", "Nữ"],
    "residence_type": ["Thường trú", "Tạm trú"],
}

EXAMPLES = {
    "schools": {
        "school_code": "TH-DICHVONG",
        "name": "Trường Tiểu học Dịch Vọng",
        "level": "Lớp 1",
        "district": "Quận Cầu Giấy",
        "ward": "Dịch Vọng",
        "address": "Số 1 phố Dịch Vọng, Cầu Giấy, Hà Nội",
        "capacity": 105,
        "latitude": 21.036,
        "longitude": 105.791,
    },
    "catchments": {
        "school_code": "TH-DICHVONG",
        "district": "Quận Cầu Giấy",
        "ward": "Dịch Vọng",
        "residential_group": "Tổ 1",
    },
    "roster": {
        # A made-up but well-formed ID: Hà Nội (001), girl born in the 2000s (3), 2020 (20).
        "personal_id": "001320012345",
        "full_name": "Nguyễn Thị An",
        "date_of_birth": date(2020, 3, 15),
        "gender": "Nữ",
        "district": "Quận Cầu Giấy",
        "ward": "Dịch Vọng",
        "residential_group": "Tổ 1",
        "residence_type": "Thường trú",
        "guardian_name": "Nguyễn Văn Bình",
        "guardian_phone": "0912345678",
    },
}


def template_workbook(kind: str) -> bytes:
    """A ready-to-fill workbook: the contract's sheet, Vietnamese header labels, one example row."""
    columns = COLUMNS[kind]
    wb = Workbook()
    ws = wb.active
    ws.title = SHEETS[kind]
    bold = Font(bold=True)
    fill = PatternFill("solid", fgColor="DDEBF7")
    example = EXAMPLES[kind]
    for i, col in enumerate(columns, start=1):
        letter = get_column_letter(i)
        head = ws.cell(row=1, column=i, value=col.label)
        head.font, head.fill = bold, fill
        cell = ws.cell(row=2, column=i, value=escape_formula(example.get(col.name)))
        ws.column_dimensions[letter].width = max(14, len(col.label) + 4)
        if col.name in TEXT_COLUMNS:
            ws.column_dimensions[letter].number_format = TEXT_FORMAT
            cell.number_format = TEXT_FORMAT
        elif col.name in DATE_COLUMNS:
            ws.column_dimensions[letter].number_format = DATE_FORMAT
            cell.number_format = DATE_FORMAT
        if col.name in CHOICES:
            dv = DataValidation(
                type="list", formula1='"' + ",".join(CHOICES[col.name]) + '"', allow_blank=True
            )
            ws.add_data_validation(dv)
            dv.add(f"{letter}2:{letter}200000")
    ws.freeze_panes = "A2"
    return workbook_bytes(wb)


def template_filename(kind: str) -> str:
    return f"{kind}.xlsx"


# ---- admission codes --------------------------------------------------------------------------

CODE_HEADERS = (
    "admission_code",
    "full_name",
    "date_of_birth",
    "gender",
    "ward",
    "residential_group",
    "residence_type",
    "catchment_school",
)


def _code_labels() -> dict:
    return {
        "headers": {
            "admission_code": gettext("Admission code"),
            "full_name": gettext("Full name"),
            "date_of_birth": gettext("Date of birth"),
            "gender": gettext("Gender"),
            "ward": gettext("Ward"),
            "residential_group": gettext("Residential group"),
            "residence_type": gettext("Residence"),
            "catchment_school": gettext("Catchment school"),
        },
        "gender": {"male": gettext("Male"), "female": gettext("Female")},
        "residence": {"permanent": gettext("Permanent"), "temporary": gettext("Temporary")},
        "no_catchment": gettext("No catchment school: the office assigns one"),
    }


def codes_workbook(level: AdmissionLevel, district_id: int, school: School | None) -> tuple[IO[bytes], int]:
    """The codes of the children in a school's catchment (or with no single school) as .xlsx.

    Every cell is a string cell (codes and dates keep their exact form; the header row is also
    formatted as text). Returns (the file, open at its start, streamed by the response; rows).
    """
    labels = _code_labels()
    wb = Workbook(write_only=True)
    ws = wb.create_sheet(title="codes")
    ws.column_dimensions["A"].width = 14
    ws.column_dimensions["B"].width = 30
    bold = Font(bold=True)

    def text(value):
        cell = WriteOnlyCell(ws, value=excel_text(value))
        cell.data_type = "s"
        cell.number_format = "@"
        return cell

    header = []
    for h in CODE_HEADERS:
        c = text(labels["headers"][h])
        c.font = bold
        header.append(c)
    ws.append(header)
    n = 0
    school_name = school.name if school else labels["no_catchment"]
    safe = excel_text
    born: dict[date, str] = {}  # a cohort has at most 366 birth dates: each formatted once
    for r, code, ward_name, group_name in db.session.execute(
        codes.export_query(level, district_id, school).execution_options(yield_per=CHUNK)
    ):
        dob = born.get(r.date_of_birth)
        if dob is None:
            dob = born[r.date_of_birth] = format_date(r.date_of_birth, DATE)
        # Plain str values are written as string cells (escaped text never starts with "="):
        # half the time of styled cells on big catchments.
        ws.append(
            [
                rules.format_code(code),
                safe(r.full_name),
                dob,
                safe(labels["gender"][r.gender]),
                safe(ward_name),
                safe(group_name or ""),
                safe(labels["residence"][r.residence_type]),
                safe(school_name),
            ]
        )
        n += 1
    return workbook_file(wb), n


# ---- results ----------------------------------------------------------------------------------


def _subtitle(level: AdmissionLevel) -> str:
    return gettext(
        "%(level)s · season %(year)s · exported at %(when)s",
        level=level_labels()[level.level],
        year=level.season.academic_year.name,
        when=format_datetime(seasons.now(), "HH:mm dd/MM/yyyy"),
    )


def _admitted_labels(level: AdmissionLevel, school: School) -> dict:
    return {
        "title": gettext("Admitted children: %(school)s", school=school.name),
        "subtitle": _subtitle(level),
        "headers": {
            "no": gettext("No."),
            "reference": gettext("Reference"),
            "full_name": gettext("Full name"),
            "date_of_birth": gettext("Date of birth"),
            "gender": gettext("Gender"),
            "pupil_code": gettext("Pupil code"),
            "guardian_phone": gettext("Guardian phone"),
            "ward": gettext("Ward"),
            "residential_group": gettext("Residential group"),
            "residence": gettext("Residence"),
            "choice": gettext("Choice no."),
            "status": gettext("Status"),
            "answered_on": gettext("Confirmed on"),
            "documents": gettext("Documents"),
        },
        "gender": {"male": gettext("Male"), "female": gettext("Female")},
        "residence": {"permanent": gettext("Permanent"), "temporary": gettext("Temporary")},
        "status": notify.status_labels(),
        "assigned": gettext("Assigned by the office"),
        "documents": {
            CouncilState.INCOMPLETE: gettext("To check"),
            CouncilState.PROBLEM: gettext("Problem flagged"),
            CouncilState.COMPLETE: gettext("Checked"),
        },
    }


def _summary_labels(level: AdmissionLevel, title: str) -> dict:
    return {
        "title": title,
        "subtitle": _subtitle(level),
        "round": gettext("Cutoffs of the latest published round (round %(n)d)."),
        "no_round": gettext("No round published yet: no cutoffs."),
        "headers": {
            "school_code": gettext("School code"),
            "school": gettext("School"),
            "capacity": gettext("Capacity"),
            "first_choice": gettext("1st choice"),
            "catchment": gettext("Catchment applications"),
            "any_choice": gettext("Any choice"),
            "placed": gettext("Placed"),
            "confirmed": gettext("Confirmed"),
            "seats_left": gettext("Seats left"),
            "cutoff": gettext("Admitted down to (priority, lottery number)"),
            "district": gettext("District"),
            "schools": gettext("Schools"),
            "applications": gettext("Applications"),
        },
        "classes": notify.CLASS_LABELS,
        "total": gettext("Total"),
        "status": notify.status_labels(),
        "status_header": gettext("Application status"),
        "count_header": gettext("Applications"),
    }


ADMITTED_HEADERS = (
    "no",
    "reference",
    "full_name",
    "date_of_birth",
    "gender",
    "ward",
    "residential_group",
    "residence",
    "choice",
    "status",
    "answered_on",
    "documents",
    "pupil_code",
    "guardian_phone",
)
SCHOOL_HEADERS = (
    "school_code",
    "school",
    "capacity",
    "first_choice",
    "catchment",
    "any_choice",
    "placed",
    "confirmed",
    "seats_left",
    "cutoff",
)
DISTRICT_HEADERS = ("district", "schools", "capacity", "applications", "placed", "confirmed", "seats_left")


def _new_sheet(wb, title: str):
    ws = wb.create_sheet(title=title)
    bold = Font(bold=True)
    return ws, bold


def _cells(ws, values, font=None):
    """String cells (escaped) for text, numbers as numbers."""
    out = []
    for v in values:
        if isinstance(v, int | float) and not isinstance(v, bool):
            cell = WriteOnlyCell(ws, value=v)
        else:
            cell = WriteOnlyCell(ws, value=excel_text(v))
            cell.data_type = "s"
        if font is not None:
            cell.font = font
        out.append(cell)
    return out


def _title_rows(ws, bold, lines: list[str]) -> None:
    for i, line in enumerate(lines):
        ws.append(_cells(ws, [line], bold if i == 0 else None))
    ws.append([])


def admitted_workbook(level: AdmissionLevel, school: School) -> tuple[IO[bytes], int]:
    """The school's admitted children as .xlsx; returns (the file, open at its start; rows).

    Constant memory whatever the school's size: rows come from a server-side cursor a chunk at a
    time (with their pupil codes and phones), the write-only sheet goes to a temporary file and
    the response streams the saved file from disk."""
    labels = _admitted_labels(level, school)
    wb = Workbook(write_only=True)
    ws, bold = _new_sheet(wb, "admitted")
    widths = (5, 16, 30, 12, 8, 18, 14, 12, 8, 18, 12, 16, 14, 13)
    for col, width in zip("ABCDEFGHIJKLMN", widths, strict=True):
        ws.column_dimensions[col].width = width
    _title_rows(ws, bold, [labels["title"], labels["subtitle"]])
    ws.append(_cells(ws, [labels["headers"][h] for h in ADMITTED_HEADERS], bold))
    result = db.session.execute(reports.admitted_query(level, school).execution_options(yield_per=CHUNK))
    safe, n = excel_text, 0
    born: dict[date, str] = {}  # a cohort has at most 366 birth dates: each formatted once
    for part in result.partitions():
        contacts = intake.codes_and_phones(r.child_id for r in part)
        for r in part:
            code, phone = contacts.get(r.child_id, ("", ""))
            dob = born.get(r.date_of_birth)
            if dob is None:
                dob = born[r.date_of_birth] = format_date(r.date_of_birth, DATE)
            n += 1
            # Plain str values are string cells (escaped text never starts with "="), as in
            # codes_workbook: half the time of one WriteOnlyCell per value.
            ws.append(
                [
                    n,
                    safe(r.reference),
                    safe(r.full_name),
                    dob,
                    safe(labels["gender"].get(r.gender, r.gender)),
                    safe(r.ward),
                    safe(r.group or ""),
                    safe(labels["residence"].get(r.residence_type, r.residence_type)),
                    r.allocated_rank if r.allocated_rank else safe(labels["assigned"]),
                    safe(labels["status"].get(r.status, r.status)),
                    format_date(r.confirmed_at, DATE) if r.confirmed_at else "",
                    safe(labels["documents"].get(r.state or "incomplete")),
                    safe(code),
                    safe(phone),
                ]
            )
    return workbook_file(wb), n


def cutoff_text(cutoff, class_labels: dict) -> str:
    if not cutoff:
        return ""
    cls, lot = cutoff
    return f"{class_labels.get(cls, cls)}, {lot}"


def district_summary_workbook(level: AdmissionLevel, district: District) -> tuple[bytes, int]:
    """One row per school of the district and the district's totals; returns (file bytes, schools)."""
    labels = _summary_labels(level, gettext("Admissions summary: %(district)s", district=district.name))
    rows = dashboard.school_rows(level, district_id=district.id)
    rnd = dashboard.latest_published_rounds(level, district_id=district.id).get(district.id)
    cutoffs = dashboard.round_cutoffs(rnd)
    wb = Workbook(write_only=True)
    ws, bold = _new_sheet(wb, "schools")
    ws.column_dimensions["A"].width = 16
    ws.column_dimensions["B"].width = 34
    ws.column_dimensions["J"].width = 30
    _title_rows(
        ws,
        bold,
        [
            labels["title"],
            labels["subtitle"],
            labels["round"] % {"n": rnd.number} if rnd is not None else labels["no_round"],
        ],
    )
    ws.append(_cells(ws, [labels["headers"][h] for h in SCHOOL_HEADERS], bold))
    for r in rows:
        ws.append(
            _cells(
                ws,
                [
                    r.code,
                    r.name,
                    r.capacity,
                    r.first_choice,
                    r.catchment,
                    r.any_choice,
                    r.placed,
                    r.confirmed,
                    max(r.capacity - r.placed, 0),
                    cutoff_text(cutoffs.get(r.code), labels["classes"]),
                ],
            )
        )
    t = dashboard.totals(rows)
    ws.append(
        _cells(
            ws,
            [
                labels["total"],
                "",
                t["capacity"],
                t["first_choice"],
                t["catchment"],
                t["any_choice"],
                t["placed"],
                t["confirmed"],
                max(t["capacity"] - t["placed"], 0),
                "",
            ],
            bold,
        )
    )

    ws2, _bold = _new_sheet(wb, "statuses")
    ws2.column_dimensions["A"].width = 30
    ws2.append(_cells(ws2, [labels["status_header"], labels["count_header"]], bold))
    for status, n in reports.status_counts(level, district.id):
        ws2.append(_cells(ws2, [labels["status"].get(status, status), n]))
    return workbook_bytes(wb), len(rows)


def city_summary_workbook(level: AdmissionLevel) -> tuple[bytes, int]:
    """One row per district and the city's totals; returns (file bytes, districts)."""
    labels = _summary_labels(level, gettext("Admissions summary: the city"))
    rows = dashboard.district_rows(level)
    wb = Workbook(write_only=True)
    ws, bold = _new_sheet(wb, "districts")
    ws.column_dimensions["A"].width = 30
    _title_rows(ws, bold, [labels["title"], labels["subtitle"]])
    ws.append(_cells(ws, [labels["headers"][h] for h in DISTRICT_HEADERS], bold))
    for r in rows:
        ws.append(
            _cells(
                ws,
                [
                    r.name,
                    r.schools,
                    r.capacity,
                    r.applications,
                    r.placed,
                    r.confirmed,
                    max(r.capacity - r.placed, 0),
                ],
            )
        )
    t = dashboard.totals(rows)
    ws.append(
        _cells(
            ws,
            [
                labels["total"],
                t["schools"],
                t["capacity"],
                t["applications"],
                t["placed"],
                t["confirmed"],
                max(t["capacity"] - t["placed"], 0),
            ],
            bold,
        )
    )
    return workbook_bytes(wb), len(rows)
