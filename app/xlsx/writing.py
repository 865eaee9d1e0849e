"""Writing workbooks for exports: every string people typed escaped (formula injection), text
columns formatted as Text, and the download response."""

from __future__ import annotations

import io
import tempfile
from typing import IO

import openpyxl
from flask import send_file
from openpyxl.styles import Font

from .strings import escape_formula

XLSX_MIMETYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
SPOOL_BYTES = 1 << 20


def download(data: bytes | IO[bytes], filename: str):
    """An .xlsx file (its bytes, or a file open at its start, streamed in chunks and closed after
    the response) as an attachment response. ``send_file`` encodes a non-ASCII or odd file name
    safely (RFC 6266); pages of signed-in users are never cached (see the app's after_request)."""
    body = io.BytesIO(data) if isinstance(data, bytes) else data
    return send_file(body, mimetype=XLSX_MIMETYPE, as_attachment=True, download_name=filename)


def new_workbook():
    return openpyxl.Workbook()


def write_row(ws, values) -> None:
    """Append a row with every string escaped (use for all data that people typed)."""
    ws.append([escape_formula(v) for v in values])


def write_sheet(ws, header: list[str], rows: list[list], *, text_columns: tuple[int, ...] = ()) -> None:
    """Header in bold, then rows (escaped); text columns are formatted as Text ('@') so that codes
    keep their leading zeros when someone types into them."""
    ws.append(header)
    for cell in ws[1]:
        cell.font = Font(bold=True)
    for row in rows:
        write_row(ws, row)
    for col in text_columns:
        for cells in ws.iter_rows(min_row=2, min_col=col + 1, max_col=col + 1):
            for cell in cells:
                cell.number_format = "@"
    for i, title in enumerate(header, start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = max(
            10, min(40, len(str(title)) + 4)
        )


def workbook_file(wb) -> IO[bytes]:
    """The saved workbook in a temporary file (on disk past 1 MB), open at its start: a big
    export is streamed from it instead of being held in memory whole."""
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 - the response closes it
    wb.save(out)
    out.seek(0)
    return out


def workbook_bytes(wb) -> bytes:
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()
