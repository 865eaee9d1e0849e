"""Excel files the admissions area hands out: import templates (and helpers for later exports).

Every string written through `write_row` (app.xlsx, re-exported here) is escaped against formula
injection (a cell starting with =, +, -, @, tab or CR gets a leading apostrophe), so data typed by
families can never run as a spreadsheet formula in an officer's Excel.
"""

from __future__ import annotations

from datetime import date

from openpyxl import Workbook
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from app.xlsx import XLSX_MIMETYPE, escape_formula, workbook_bytes, write_row

from .importers import COLUMNS, SHEETS

__all__ = ["XLSX_MIMETYPE", "escape_formula", "template_filename", "template_workbook", "write_row"]

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
