#!/usr/bin/env python
"""Benchmark: import a 150,000-row roster.xlsx (target: ≤ 60 s, and ≤ 1.5× openpyxl's own pass).

    .venv/bin/python scripts/bench/roster_import.py [--rows 150000] [--seed 2026] [--keep FILE]

1. Generates a seeded roster.xlsx in the roster.xlsx format of docs/excel-formats.md (Vietnamese headers, date cells,
   text-cell personal IDs and phones).
2. Times openpyxl's own read-only pass over it (every row, every value), again right before each
   import so that the ratio compares runs made under the same machine load.
3. Times `admissions.imports.import_workbook("roster", …)` + commit into a fresh SQLite file
   database, and into a fresh PostgreSQL database when one answers on 127.0.0.1:5432
   (DATABASE_URL names another server), then a second import of the same file (all unchanged).
Prints wall seconds, rows/s, the ratio to the openpyxl pass timed just before (wall and CPU: on a
shared machine the CPU ratio is the steadier one, and the one judged), the load average, and
MET/MISSED per target.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import socket
import sys
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import openpyxl

ROOT = Path(__file__).resolve().parents[2]
RATIO = 1.5  # the import against openpyxl's own pass over the same file, same run
sys.path.insert(0, str(ROOT))

from admissions.imports import import_workbook, roster  # noqa: E402 - after the path set-up
from app import create_app, jobs  # noqa: E402 - after the path set-up
from app.demo import WARDS  # noqa: E402 - the demo district's wards and residential groups
from app.extensions import db  # noqa: E402 - after the path set-up

HEADERS = [
    "Mã định danh",
    "Họ và tên",
    "Ngày sinh",
    "Giới tính",
    "Quận/Huyện",
    "Phường/Xã",
    "Tổ dân phố",
    "Loại cư trú",
    "Họ tên cha/mẹ/người giám hộ",
    "Số điện thoại",
]
FAMILY = ["Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Phan", "Vũ", "Đặng", "Bùi", "Đỗ", "Ngô", "Dương"]
MIDDLE = {"male": ["Văn", "Minh", "Đức", "Quang", "Gia"], "female": ["Thị", "Ngọc", "Thu", "Khánh", "Bảo"]}
GIVEN = {
    "male": ["An", "Bình", "Cường", "Dũng", "Huy", "Khoa", "Long", "Nam", "Phúc", "Quân"],
    "female": ["Anh", "Chi", "Giang", "Hà", "Hương", "Lan", "Linh", "Mai", "My", "Ngân"],
}


def generate_roster(
    path: str | os.PathLike, rows: int, seed: int = 2026, district: str = "Quận Cầu Giấy"
) -> None:
    """Write a valid roster.xlsx with `rows` children (unique, consistent personal IDs)."""
    rng = random.Random(seed)  # noqa: S311 - test data
    wb = openpyxl.Workbook(write_only=True)
    ws = wb.create_sheet("roster")
    ws.append(HEADERS)
    wards = list(WARDS.items())
    serial = rng.randrange(10**5)
    for i in range(rows):
        gender = "female" if rng.random() < 0.49 else "male"
        born = date(2015 + i % 7, 1, 1) + timedelta(days=rng.randrange(365))
        digit = (born.year // 100 - 19) * 2 + (gender == "female")
        serial = (serial + 1 + rng.randrange(7)) % 10**6
        pid = f"001{digit}{born.year % 100:02d}{serial:06d}"
        ward, n_groups = wards[i % len(wards)]
        family = rng.choice(FAMILY)
        ws.append(
            [
                pid,
                f"{family} {rng.choice(MIDDLE[gender])} {rng.choice(GIVEN[gender])}",
                born,
                "Nữ" if gender == "female" else "Nam",
                district,
                ward,
                f"Tổ {rng.randint(1, n_groups)}",
                "Thường trú" if rng.random() < 0.8 else "Tạm trú",
                f"{family} {rng.choice(MIDDLE['male'])} {rng.choice(GIVEN['male'])}",
                f"09{rng.randrange(10**8):08d}",
            ]
        )
    wb.save(path)


def openpyxl_pass(path) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of openpyxl reading every value of the sheet in read-only mode."""
    started, cpu = time.perf_counter(), time.process_time()
    wb = openpyxl.load_workbook(path, read_only=True, data_only=False)
    ws = wb["roster"]
    n = 0
    for row in ws.iter_rows(values_only=True):
        for _value in row:
            n += 1
    wb.close()
    return time.perf_counter() - started, time.process_time() - cpu


@contextlib.contextmanager
def timed_store():
    """[wall, CPU] seconds of the import's writes (admissions.imports.roster.store and its flush)."""

    original, spent = roster.store, [0.0, 0.0]

    def store(*args, **kwargs):
        w, c = time.perf_counter(), time.process_time()
        try:
            done = original(*args, **kwargs)
            db.session.flush()
            return done
        finally:
            spent[0] += time.perf_counter() - w
            spent[1] += time.process_time() - c

    roster.store = store
    try:
        yield spent
    finally:
        roster.store = original


def _pg_server() -> str | None:
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith(("postgres://", "postgresql")):
        return url
    try:
        with socket.create_connection(("127.0.0.1", 5432), timeout=0.5):
            return "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    except OSError:
        return None


def run_import(database_url: str, path, label: str, rows: int) -> bool:
    """Import twice (then all unchanged); each import is compared with an openpyxl pass timed just
    before it, so that load from other processes on the machine affects both alike."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": database_url,
            "SECRET_KEY": "bench",
            "TESTING": False,
            "PUBLIC_URL": "http://127.0.0.1",
        }
    )
    ok = True
    with app.app_context():
        db.create_all()
        for attempt in ("first import", "re-import"):
            baseline, baseline_cpu = openpyxl_pass(path)
            started, cpu = time.perf_counter(), time.process_time()
            with timed_store() as store_times:
                report = import_workbook("roster", str(path))
            if not report.ok:
                print(f"{label}: rejected: " + "; ".join(p.line() for p in report.problems[:5]))
                return False
            before_commit = time.perf_counter(), time.process_time()
            jobs.commit()
            seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
            commit_times = time.perf_counter() - before_commit[0], time.process_time() - before_commit[1]
            ratio, cpu_ratio = seconds / baseline, cpu / baseline_cpu
            met60, met_ratio = (
                seconds <= 60,
                cpu_ratio <= RATIO,
            )  # CPU: steadier than wall on a shared machine
            one, five, _fifteen = os.getloadavg()
            print(
                f"{label:<11} {attempt:<13} wall {seconds:7.2f} s vs openpyxl {baseline:6.2f} s  ratio {ratio:4.2f}x  "
                f"| cpu {cpu:6.1f} s vs {baseline_cpu:5.1f} s  ratio {cpu_ratio:4.2f}x  "
                f"| {rows / seconds:7,.0f} rows/s  [{report.summary()}]  load {one:.1f}/{five:.1f}  "
                f"≤60 s {'MET' if met60 else 'MISSED'}, ≤{RATIO}x {'MET' if met_ratio else 'MISSED'}"
            )
            read = seconds - store_times[0] - commit_times[0], cpu - store_times[1] - commit_times[1]
            print(
                f"{'':<11} {'':<13} phases: read and check {read[0]:.2f} s (cpu {read[1]:.2f}) · "
                f"store {store_times[0]:.2f} s (cpu {store_times[1]:.2f}) · "
                f"commit {commit_times[0]:.2f} s (cpu {commit_times[1]:.2f})"
            )
            ok = ok and met60 and met_ratio
        db.session.remove()
        db.engine.dispose()
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rows", type=int, default=150_000)
    parser.add_argument("--seed", type=int, default=2026)
    parser.add_argument("--keep", help="also save the generated file here")
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-roster-"))
    os.environ.setdefault("INSTANCE_PATH", str(tmp / "instance"))
    path = tmp / "roster.xlsx"
    started = time.perf_counter()
    generate_roster(path, args.rows, args.seed)
    print(
        f"generated {args.rows:,} rows in {time.perf_counter() - started:.1f} s "
        f"({path.stat().st_size / 1e6:.1f} MB)"
    )
    if args.keep:
        shutil.copy(path, args.keep)

    baseline, _cpu = openpyxl_pass(path)
    print(f"{'openpyxl':<11} {'read-only pass':<13} {baseline:7.2f} s  {args.rows / baseline:9,.0f} rows/s")
    one, five, fifteen = os.getloadavg()
    print(f"load average (1, 5, 15 min): {one:.2f} {five:.2f} {fifteen:.2f} on {os.cpu_count()} cores")

    ok = run_import(f"sqlite:///{tmp / 'bench.db'}", path, "SQLite", args.rows)
    server = None if args.no_postgres else _pg_server()
    if server:
        from tests.conftest import create_pg_database  # lazy: imports pytest (test-only); PostgreSQL only

        url, drop = create_pg_database(server)
        try:
            ok = run_import(url, path, "PostgreSQL", args.rows) and ok
        finally:
            drop()
    elif args.no_postgres:
        print("PostgreSQL  skipped (--no-postgres)")
    else:
        print("PostgreSQL  not reachable on 127.0.0.1:5432: skipped")
    print("ALL TARGETS MET" if ok else "SOME TARGETS MISSED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
