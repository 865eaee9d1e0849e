"""Crafted workbooks ("decompression bombs" and broken files) are refused quickly, with little
memory, and nothing stored, by every import: admissions' three kinds, classes.xlsx, grade sheets,
the web uploads and the command lines (app.xlsx.reading, docs/excel-formats.md "Limits").

Each file is small (under 1 MB) and would, parsed, hold a worker for minutes or take gigabytes.
"""

from __future__ import annotations

import gc
import io
import time
import tracemalloc
import zipfile

import openpyxl
import pytest
import sqlalchemy as sa

from admissions.imports import COLUMNS, import_workbook
from admissions.models import RosterEntry
from app import jobs, xlsx
from app.extensions import db
from app.models import ImportJob
from contactbook.imports import import_classes
from contactbook.models import Pupil
from tests.contactbook_factories import PUPIL_HEADERS, TEACHER_HEADERS, create_year
from tests.factories import create_district, create_school, create_user

ROSTER = [c.name for c in COLUMNS["roster"]]
ROW = [
    "001020000001",
    "Nguyễn Văn An",
    "01/02/2020",
    "Nam",
    "Cầu Giấy",
    "Dịch Vọng",
    "",
    "Thường trú",
    "Nguyễn Bình",
    "",
]


def _base(kind: str) -> bytes:
    wb = openpyxl.Workbook()
    ws = wb.active
    if kind == "classes":
        ws.title = "pupils"
        ws.append(PUPIL_HEADERS)
        ws.append(["TH-A", "1A", "HS1", "Trần An", "01/02/2019", "Nam", "Trần Bình", "0912345678", None])
        ws2 = wb.create_sheet("teachers")
        ws2.append(TEACHER_HEADERS)
    else:
        ws.title = "roster"
        ws.append(ROSTER)
        ws.append(ROW)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _rewrite(data: bytes, change) -> bytes:
    """The workbook with each member passed through change(name, bytes) -> bytes | None (drop),
    plus the extra members change('', b'') returns as a dict."""
    src = zipfile.ZipFile(io.BytesIO(data))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as dst:
        for item in src.infolist():
            new = change(item.filename, src.read(item.filename))
            if new is not None:
                dst.writestr(item.filename, new)
        for name, extra in (change("", b"") or {}).items():
            dst.writestr(name, extra)
    return out.getvalue()


def _sheet_name(kind: str) -> str:
    return "xl/worksheets/sheet1.xml"


def _core_bomb(kind):
    big = (
        b'<?xml version="1.0"?><cp:coreProperties xmlns:cp="x"><dc:title xmlns:dc="y">'
        + b"A" * (60 * 1024 * 1024)
        + b"</dc:title></cp:coreProperties>"
    )
    return _rewrite(_base(kind), lambda n, d: big if n == "docProps/core.xml" else (d if n else None))


def _shared_strings_bomb(kind):
    strings = b"<si><t>a</t></si>" * 12_000_000  # 200 MB of XML, twelve million strings
    xml = (
        b'<?xml version="1.0"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">'
        + strings
        + b"</sst>"
    )

    def change(name, data):
        if not name:
            return {"xl/sharedStrings.xml": xml}
        if name == "[Content_Types].xml":
            return data.replace(
                b"</Types>",
                b'<Override PartName="/xl/sharedStrings.xml" ContentType="application/vnd.openxmlformats-'
                b'officedocument.spreadsheetml.sharedStrings+xml"/></Types>',
            )
        if name == "xl/_rels/workbook.xml.rels":
            return data.replace(
                b"</Relationships>",
                b'<Relationship Id="rIdS" Type="http://schemas.openxmlformats.org/officeDocument/2006/'
                b'relationships/sharedStrings" Target="sharedStrings.xml"/></Relationships>',
            )
        return data

    return _rewrite(_base(kind), change)


def _sheet_padding_bomb(kind):
    """Whitespace inside the sheet XML: 120 MB expanded from a few hundred KB."""

    def change(name, data):
        if name == _sheet_name(kind):
            return data.replace(b"<sheetData>", b"<sheetData>" + b" " * (120 * 1024 * 1024))
        return data if name else None

    return _rewrite(_base(kind), change)


def _blank_rows(kind):
    """A data row after 30,000 empty rows (each one written, as some tools do for formatting)."""
    rows = b"".join(b'<row r="%d" spans="1:1"/>' % n for n in range(3, 30_003))
    last = b'<row r="30003"><c r="A30003" t="inlineStr"><is><t>x</t></is></c></row>'

    def change(name, data):
        if name == _sheet_name(kind):
            return data.replace(b"</sheetData>", rows + last + b"</sheetData>")
        return data if name else None

    return _rewrite(_base(kind), change)


def _far_columns(kind):
    """A stored dimension of the whole grid and rows with a cell in the last column (XFD)."""
    rows = b"".join(
        b'<row r="%d"><c r="XFD%d" t="inlineStr"><is><t>x</t></is></c></row>' % (n, n) for n in range(3, 2003)
    )

    def change(name, data):
        if name == _sheet_name(kind):
            data = data.replace(b'<dimension ref="A1:J2"/>', b'<dimension ref="A1:XFD1048576"/>')
            return data.replace(b"</sheetData>", rows + b"</sheetData>")
        return data if name else None

    return _rewrite(_base(kind), change)


def _truncated(kind):
    def change(name, data):
        if name == _sheet_name(kind):
            return data[: len(data) // 2]
        return data if name else None

    return _rewrite(_base(kind), change)


def _many_members(kind):
    def change(name, data):
        if not name:
            return {f"xl/media/pad{i}.bin": b"" for i in range(2_000)}
        return data

    return _rewrite(_base(kind), change)


CORPUS = {
    "core.xml": (_core_bomb, "too_big"),
    "shared strings": (_shared_strings_bomb, "too_big"),
    "padded sheet": (_sheet_padding_bomb, "too_big"),
    "many members": (_many_members, "too_big"),
    "blank rows": (_blank_rows, "blank_rows"),
    "far columns": (_far_columns, "too_many_columns"),
    "truncated sheet": (_truncated, "not_xlsx"),
}


def _measured(fn):
    """fn()'s result, the CPU seconds it took, and its peak Python memory (MB).

    Time and memory come from two runs: tracemalloc slows Python code several times over, so the
    timed run goes without it; and the time is the thread's CPU time, which is what the check
    costs on an idle machine, whatever else the shared machine is running meanwhile. The test
    session's own heap is frozen first: the garbage collector would otherwise walk every object
    the earlier tests left (seen: 0.33 s alone, over 1 s late in the full suite)."""
    gc.collect()
    gc.freeze()
    try:
        started = time.thread_time()
        result = fn()
        seconds = time.thread_time() - started
    finally:
        gc.unfreeze()
    jobs.rollback()
    tracemalloc.start()
    try:
        fn()
        peak = tracemalloc.get_traced_memory()[1] / 1e6
    finally:
        tracemalloc.stop()
    return result, seconds, peak


@pytest.fixture
def school_world(db):
    d = create_district(name="Quận Cầu Giấy")
    create_school(d, level="grade1", code="TH-A")
    create_year()
    staff = create_user("city_admin")
    jobs.commit()
    return {"district": d, "actor": staff}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_roster_import_refuses_the_corpus_quickly_and_small(school_world, name):
    build, code = CORPUS[name]
    data = build("roster")
    assert len(data) < 1024 * 1024
    report, seconds, peak = _measured(lambda: import_workbook("roster", io.BytesIO(data)))
    jobs.rollback()
    assert [p.code for p in report.problems] == [code], [p.line() for p in report.problems]
    assert seconds < 1.0, f"{name}: {seconds:.2f} s"
    assert peak < 100, f"{name}: {peak:.0f} MB"
    assert db.session.scalar(sa.select(sa.func.count(RosterEntry.id))) == 0


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_classes_import_refuses_the_corpus_quickly_and_small(school_world, name):
    build, code = CORPUS[name]
    data = build("classes")
    report, seconds, peak = _measured(lambda: import_classes(data, school_world["actor"]))
    jobs.rollback()
    assert code in [p.code for p in report.problems], [p.line() for p in report.problems]
    assert seconds < 1.0, f"{name}: {seconds:.2f} s"
    assert peak < 100, f"{name}: {peak:.0f} MB"
    assert db.session.scalar(sa.select(sa.func.count(Pupil.id))) == 0


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_shared_reader_refuses_the_corpus(name):
    """What grade sheets and every other import read through: app.xlsx.open_workbook/read_sheet."""
    build, code = CORPUS[name]
    data = build("roster")

    def read():
        wb = xlsx.open_workbook(data)
        try:
            return xlsx.read_sheet(wb, "roster", tuple(xlsx.Column(c, c, required=False) for c in ROSTER))
        finally:
            wb.close()

    started = time.thread_time()  # CPU time: what it costs on an idle machine
    with pytest.raises(xlsx.FileRejected) as err:
        read()
    assert [p.code for p in err.value.problems] == [code]
    assert time.thread_time() - started < 1.0


def test_a_real_roster_workbook_passes_the_archive_check():
    """The limits leave room for real files: a roster sheet compresses ~17:1 (12 MB here; the
    ratio is the same at 150,000 rows, 93 MB)."""
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("roster")
    ws.append(ROSTER)
    for i in range(20_000):
        ws.append([f"{i:012d}", *ROW[1:]])
    buf = io.BytesIO()
    wb.save(buf)
    xlsx.check_archive(io.BytesIO(buf.getvalue()))  # no FileRejected


def test_command_lines_refuse_a_bomb(school_world, runner, tmp_path):
    path = tmp_path / "roster.xlsx"
    path.write_bytes(_shared_strings_bomb("roster"))
    started = time.perf_counter()
    result = runner.invoke(args=["admissions", "import-roster", str(path)])
    assert result.exit_code == 2, result.output
    assert "expands to far more data" in result.output
    path = tmp_path / "classes.xlsx"
    path.write_bytes(_core_bomb("classes"))
    result = runner.invoke(args=["contactbook", "import-classes", str(path)])
    assert result.exit_code == 2, result.output
    assert "expands to far more data" in result.output
    assert time.perf_counter() - started < 5


def test_web_uploads_refuse_a_bomb(school_world, make_client, run_jobs):
    client = make_client()
    client.login_as(school_world["actor"])
    client.post_form("/lang", {"lang": "en"}, token_from="/home")
    for url, field, data in (
        ("/admissions/imports?kind=roster", "roster-file", _sheet_padding_bomb("roster")),
        ("/contactbook/import", "file", _blank_rows("classes")),
    ):
        token = client.csrf(url.split("?")[0])
        resp = client.post(
            url,
            data={"csrf_token": token, field: (io.BytesIO(data), "bomb.xlsx")},
            content_type="multipart/form-data",
        )
        assert resp.status_code == 302, resp.get_data(as_text=True)[-500:]
        run_jobs()
        page = client.get(resp.headers["Location"]).get_data(as_text=True)
        assert "Nothing was imported" in page
    statuses = db.session.scalars(sa.select(ImportJob.status)).all()
    assert statuses == ["rejected", "rejected"]
