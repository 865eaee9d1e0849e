"""The Excel import tests' files and helpers: the column names in both languages, school and
roster rows, a workbook builder, running an import, and the `caugiay` district fixture (a pytest
plugin of tests/conftest.py, so that every test module has it without importing test modules
from each other); the web upload; the route × role test's import job."""

from __future__ import annotations

import io
from datetime import date

import openpyxl
import pytest
import sqlalchemy as sa

from admissions.imports import COLUMNS, import_workbook
from app import jobs
from app.extensions import db
from app.models import District, ImportJob

EN = {kind: [c.name for c in cols] for kind, cols in COLUMNS.items()}
VI = {kind: [c.label for c in cols] for kind, cols in COLUMNS.items()}

SCHOOL_ROWS = [
    [
        "TH-DICHVONG",
        "Trường Tiểu học Dịch Vọng",
        "grade1",
        "Quận Cầu Giấy",
        "Dịch Vọng",
        "Số 1 Dịch Vọng",
        105,
        21.036,
        105.791,
    ],
    [
        "MN-HOASEN",
        "Trường Mầm non Hoa Sen",
        "Mầm non 5 tuổi",
        "Quận Cầu Giấy",
        "Quan Hoa",
        "",
        90,
        None,
        None,
    ],
    ["THCS-CAUGIAY", "Trường THCS Cầu Giấy", "Lớp 6", "Quận Cầu Giấy", None, None, 80, "21.034", "105.799"],
]


def roster_row(
    pid="001320012345",
    name="Nguyễn Thị An",
    born=date(2020, 3, 15),
    gender="Nữ",
    district="Quận Cầu Giấy",
    ward="Dịch Vọng",
    group="Tổ 1",
    residence="Thường trú",
    guardian="Nguyễn Văn Bình",
    phone="0912345678",
):
    return [pid, name, born, gender, district, ward, group, residence, guardian, phone]


GIVEN = ["A", "B", "C", "D", "E", "F", "Giang", "Hà", "Khoa", "Lan", "Minh", "Ngọc", "Phúc"]


def good_roster(n=5):
    rows = []
    for i in range(n):
        female = i % 2 == 0
        given = GIVEN[i % len(GIVEN)]
        rows.append(
            roster_row(
                pid=f"001{3 if female else 2}20{i:06d}",
                name=f"Trần {'Thị' if female else 'Văn'} {given}",
                gender="Nữ" if female else "Nam",
                born=date(2020, 1 + i % 12, 1 + i % 28),
                group=f"Tổ {1 + i % 3}",
                residence="Tạm trú" if i % 4 == 3 else "Thường trú",
                phone=f"09{i:08d}",
            )
        )
    return rows


def xlsx(sheet: str, header: list, rows: list, *, text_cells: dict | None = None, other_sheets=()) -> bytes:
    """An in-memory workbook. Strings starting with '=' become formulas unless listed in
    `text_cells` {(row, col): value} (1-based), which are stored as text whatever they start with."""
    wb = openpyxl.Workbook()
    ws = wb.active
    ws.title = sheet
    ws.append(header)
    for row in rows:
        ws.append(row)
    for (r, c), value in (text_cells or {}).items():
        cell = ws.cell(row=r, column=c)
        cell.value = value
        cell.data_type = "s"
    for name in other_sheets:
        wb.create_sheet(name)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def run(kind, data: bytes, **kw):
    report = import_workbook(kind, io.BytesIO(data), **kw)
    if report.ok:
        jobs.commit()
    else:
        jobs.rollback()
    return report


def problems(report):
    return [(p.row, p.column, p.code) for p in report.problems]


def count(db, model):
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


@pytest.fixture
def caugiay(db):
    d = District(code="CG", name="Quận Cầu Giấy")
    db.session.add(d)
    db.session.flush()
    jobs.commit()
    return d


def english(client):
    client.post_form("/lang", {"lang": "en"}, token_from="/home")


def upload(client, kind, data, filename="file.xlsx"):
    token = client.csrf("/admissions/imports")
    return client.post(
        f"/admissions/imports?kind={kind}",
        data={"csrf_token": token, f"{kind}-file": (io.BytesIO(data), filename)},
        content_type="multipart/form-data",
    )


def import_foreign_ids(world) -> dict[str, int]:
    """For the route × role test: an import job of district B's officer (outside district A)."""
    officer = world["foreign"]["district_officer"]
    job = ImportJob(
        kind="roster",
        status="done",
        progress=100,
        file_token="b" * 32,
        user_id=officer.id,
        district_id=officer.district_id,
    )
    db.session.add(job)
    db.session.flush()
    return {"job_id": job.id}
