"""Excel imports of schools, catchments and the residency roster (DESIGN §4b, a contract).

Each import reads one sheet with openpyxl in read-only mode (formulas kept, so they are seen and
refused), checks every row, and only if no row has a problem writes everything in bulk — all or
nothing. Existing records are matched by key (school code, personal ID, catchment line) and the
report counts `created N, updated M, unchanged K`.

Speed (150,000 roster rows): one pass over the cells, pure checks with cached place lookups,
existing keys loaded in a few batched queries, bulk INSERT/UPDATE in chunks; no query per row.

`import_workbook(kind, source, scope=...)` is the entry point; the caller commits (CLI, job).
Services flush only; nothing here commits.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from app import xlsx
from app.extensions import db
from app.models import District, ResidentialGroup, School, Ward, utcnow
from app.xlsx import CellError, Column, FileRejected

from . import validation as v
from .models import Catchment, RosterEntry

log = logging.getLogger(__name__)

KINDS = ("schools", "catchments", "roster")
MAX_ROWS = 1_000_000
CHUNK = 5_000
STORED_PROBLEMS = 1_000  # kept in an ImportJob's report; the CLI prints them all

ProgressFn = Callable[[str, float], None]


# --------------------------------------------------------------------------- the report


class Problem(xlsx.Problem):
    """One thing wrong (app.xlsx.Problem), its message from admissions' own codes too."""

    messages = v.MESSAGES


@dataclass
class ImportReport:
    kind: str
    rows: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    problems: list[Problem] = field(default_factory=list)
    problem_count: int | None = None  # set when problems were truncated for storage
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.problems and not self.problem_count

    @property
    def total_problems(self) -> int:
        return self.problem_count if self.problem_count is not None else len(self.problems)

    def summary(self) -> str:
        """The contract's last CLI line (always English, scripts read it)."""
        return f"created {self.created}, updated {self.updated}, unchanged {self.unchanged}"

    def localized_summary(self) -> str:
        return xlsx.localize(_l("created %(created)d, updated %(updated)d, unchanged %(unchanged)d")) % {
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
        }

    def to_json(self, max_problems: int = STORED_PROBLEMS) -> dict:
        return {
            "kind": self.kind,
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "seconds": round(self.seconds, 3),
            "problems": [p.to_json() for p in self.problems[:max_problems]],
            "problem_count": self.total_problems,
        }

    @classmethod
    def from_json(cls, data: dict) -> ImportReport:
        return cls(
            kind=data.get("kind", ""),
            rows=data.get("rows", 0),
            created=data.get("created", 0),
            updated=data.get("updated", 0),
            unchanged=data.get("unchanged", 0),
            problems=[Problem.from_json(p) for p in data.get("problems", [])],
            problem_count=data.get("problem_count"),
            seconds=data.get("seconds", 0.0),
        )


# --------------------------------------------------------------------------- columns and reading


COLUMNS: dict[str, tuple[Column, ...]] = {
    "schools": (
        Column("school_code", "Mã trường"),
        Column("name", "Tên trường"),
        Column("level", "Cấp học"),
        Column("district", "Quận/Huyện"),
        Column("ward", "Phường/Xã", False),
        Column("address", "Địa chỉ", False),
        Column("capacity", "Chỉ tiêu"),
        Column("latitude", "Vĩ độ", False),
        Column("longitude", "Kinh độ", False),
    ),
    "catchments": (
        Column("school_code", "Mã trường"),
        Column("district", "Quận/Huyện"),
        Column("ward", "Phường/Xã"),
        Column("residential_group", "Tổ dân phố", False),
    ),
    "roster": (
        Column("personal_id", "Mã định danh"),
        Column("full_name", "Họ và tên"),
        Column("date_of_birth", "Ngày sinh"),
        Column("gender", "Giới tính"),
        Column("district", "Quận/Huyện"),
        Column("ward", "Phường/Xã"),
        Column("residential_group", "Tổ dân phố", False),
        Column("residence_type", "Loại cư trú"),
        Column("guardian_name", "Họ tên cha/mẹ/người giám hộ"),
        Column("guardian_phone", "Số điện thoại", False),
    ),
}
SHEETS = {"schools": "schools", "catchments": "catchments", "roster": "roster"}


def match_headers(kind: str, header_cells: list) -> tuple[dict[str, int], dict[str, str]]:
    """Map each known column to its 0-based index and to the header text as written.

    Raises FileRejected for a missing required column or a column named twice.
    """
    return xlsx.match_headers(COLUMNS[kind], header_cells)


class Sheet:
    """An open read-only sheet: its header mapping and an iterator over the data rows."""

    def __init__(self, kind: str, source):
        self.kind = kind
        self.workbook = xlsx.open_workbook(source)
        try:
            self._open_sheet()
        except BaseException:
            self.close()
            raise

    def _open_sheet(self):
        self.ws = xlsx.get_sheet(self.workbook, SHEETS[self.kind])
        self._count_bytes()
        # Do not trust the stored dimension (some writers store "A1"): read every cell there is.
        self.ws.reset_dimensions()
        self._rows = self.ws.iter_rows()
        try:
            header = next(self._rows)
        except StopIteration:
            header = ()
        except Exception:  # noqa: BLE001
            raise FileRejected(Problem(None, None, "not_xlsx")) from None
        self.index, self.written = match_headers(self.kind, [c.value for c in header])

    def _count_bytes(self) -> None:
        """Progress = bytes of the sheet's XML parsed so far / its size (works without a dimension)."""
        self.bytes_total = 0
        self.reader = None
        try:
            path = self.ws._worksheet_path  # openpyxl 3.1 read-only internals; progress only
            self.bytes_total = self.workbook._archive.getinfo(path).file_size
            original = self.ws._get_source
        except Exception:  # noqa: BLE001 - no progress figure, the import still works
            return
        sheet = self

        def counting_source():
            sheet.reader = _CountingReader(original())
            return sheet.reader

        self.ws._get_source = counting_source

    def fraction_read(self) -> float:
        if not self.bytes_total or self.reader is None:
            return 0.0
        return min(self.reader.count / self.bytes_total, 1.0)

    def rows(self) -> Iterator[tuple[int, tuple]]:
        """(spreadsheet row number, cells) for every row below the header, blank ones included."""
        try:
            yield from enumerate(self._rows, start=2)
        except FileRejected:
            raise
        except Exception:  # noqa: BLE001 - a corrupt sheet part fails mid-way
            raise FileRejected(Problem(None, None, "not_xlsx")) from None

    def close(self):
        with contextlib.suppress(Exception):  # closing a half-read archive may fail; nothing to keep
            self.workbook.close()


class _CountingReader:
    """A file wrapper that counts the bytes read through it."""

    def __init__(self, raw):
        self.raw, self.count = raw, 0

    def read(self, size=-1):
        data = self.raw.read(size)
        self.count += len(data)
        return data

    def close(self):
        self.raw.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# --------------------------------------------------------------------------- places


class Place:
    """A district, ward or residential group: existing (id set) or to be created (id None)."""

    __slots__ = ("id", "name", "parent", "kind", "district_id")

    def __init__(
        self,
        kind: str,
        name: str,
        parent: Place | None,
        id: int | None = None,
        district_id: int | None = None,
    ):
        self.kind, self.name, self.parent, self.id = kind, name, parent, id
        self.district_id = district_id

    @property
    def district(self) -> Place:
        place = self
        while place.parent is not None:
            place = place.parent
        return place


class Places:
    """Resolve district/ward/group names to existing records, or plan new ones.

    Names match case-insensitively and whatever the tone-mark placement ("Hòa" = "Hoà"); an
    administrative prefix may be left out ("Cầu Giấy" = "Quận Cầu Giấy") when that is unambiguous.
    Everything is loaded once; each distinct name is resolved once.
    """

    def __init__(self):
        self._by_key: dict[tuple, Place] = {}
        self._by_short: dict[tuple, list[Place]] = {}
        self._cache: dict[tuple, Place] = {}
        self.pending: list[Place] = []
        self.codes = set()
        self.ward_district: dict[int, int] = {}
        for d_id, d_code, d_name in db.session.execute(sa.select(District.id, District.code, District.name)):
            self.codes.add(d_code.casefold())
            self._index(Place("district", d_name, None, d_id, d_id), None)
        districts = {p.id: p for p in self._all("district")}
        wards = {}
        for w_id, d_id, w_name in db.session.execute(sa.select(Ward.id, Ward.district_id, Ward.name)):
            wards[w_id] = self._index(Place("ward", w_name, districts[d_id], w_id, d_id), districts[d_id])
            self.ward_district[w_id] = d_id
        for g_id, w_id, g_name in db.session.execute(
            sa.select(ResidentialGroup.id, ResidentialGroup.ward_id, ResidentialGroup.name)
        ):
            self._index(Place("group", g_name, wards[w_id], g_id, wards[w_id].district_id), wards[w_id])

    def _all(self, kind):
        return [p for p in self._by_key.values() if p.kind == kind]

    def _index(self, place: Place, parent: Place | None) -> Place:
        key = (place.kind, id(parent), v.place_key(place.name))
        self._by_key.setdefault(key, place)
        short = (place.kind, id(parent), v.place_short_key(place.name, place.kind))
        self._by_short.setdefault(short, []).append(place)
        return place

    def resolve(self, kind: str, name: str, parent: Place | None) -> Place:
        cache_key = (kind, id(parent), name)
        place = self._cache.get(cache_key)
        if place is not None:
            return place
        place = self._by_key.get((kind, id(parent), v.place_key(name)))
        if place is None:
            candidates = self._by_short.get((kind, id(parent), v.place_short_key(name, kind)), [])
            if len(candidates) == 1:
                place = candidates[0]
        if place is None:
            place = Place(kind, name, parent, None, parent.district_id if parent else None)
            self.pending.append(place)
            self._index(place, parent)
        self._cache[cache_key] = place
        return place

    def create_pending(self) -> int:
        """Insert the planned places (parents first) and give every Place its id."""
        created = 0
        for kind in ("district", "ward", "group"):
            for place in self.pending:
                if place.kind != kind or place.id is not None:
                    continue
                if kind == "district":
                    obj = District(name=place.name, code=self._new_code(place.name))
                elif kind == "ward":
                    obj = Ward(name=place.name, district_id=place.parent.id)
                else:
                    obj = ResidentialGroup(name=place.name, ward_id=place.parent.id)
                db.session.add(obj)
                db.session.flush()
                place.id = obj.id
                if kind == "district":
                    place.district_id = obj.id
                else:
                    place.district_id = place.parent.district_id
                    if kind == "ward":
                        self.ward_district[obj.id] = place.parent.id
                created += 1
        return created

    def _new_code(self, name: str) -> str:
        base = v.slugify(name, 20)
        candidate, n = base, 2
        while candidate.casefold() in self.codes:
            suffix = f"-{n}"
            candidate = base[: 20 - len(suffix)].rstrip("-") + suffix
            n += 1
        self.codes.add(candidate.casefold())
        return candidate


# --------------------------------------------------------------------------- row checking


class RowChecker:
    """Collects problems for one file; `get` reads and checks one cell of one row."""

    def __init__(self, sheet: Sheet, problems: list[Problem]):
        self.index = sheet.index
        self.written = sheet.written
        self.problems = problems

    def cells(self, row: tuple, names: tuple[str, ...]) -> list | None:
        """[(value, data_type) or None] for `names`; None when the whole row is blank."""
        n = len(row)
        out = []
        blank = True
        for name in names:
            i = self.index.get(name)
            if i is None or i >= n:
                out.append(None)
                continue
            cell = row[i]
            value = cell.value
            if value is None or (value.__class__ is str and not value.strip()):
                out.append(None)
            else:
                out.append((value, cell.data_type))
                blank = False
        return None if blank else out

    def error(self, rownum: int, name: str | None, err: CellError) -> None:
        self.problems.append(Problem(rownum, name, err.code, err.params, header=self.written.get(name)))


def _field(chk: RowChecker, rownum: int, name: str, cell, fn, *args, required: bool = True, **kw):
    """Check one cell with `fn(value, *args)`; record a problem and return None when refused."""
    if cell is None:
        if required:
            chk.error(rownum, name, CellError("required"))
        return None
    value, data_type = cell
    try:
        if data_type == "f" or data_type == "e":
            xlsx.check_cell(value, data_type)
        return fn(value, *args, **kw)
    except CellError as err:
        chk.error(rownum, name, err)
        return None


def _cached(check, limit: int = 200_000):
    """Memoize a pure one-argument check (names repeat a lot in a roster)."""
    memo: dict = {}

    def cached(value):
        hit = memo.get(value)
        if hit is None:
            try:
                hit = (check(value), None)
            except CellError as err:
                hit = (None, err)
            if len(memo) < limit:
                memo[value] = hit
        if hit[1] is not None:
            raise CellError(hit[1].code, **hit[1].params)
        return hit[0]

    return cached


def _place_text(value):
    return xlsx.text(value, max_len=120)


def _in_scope(place: Place | None, scope: int | None) -> bool:
    return scope is None or (place is not None and place.id is not None and place.district_id == scope)


class _Progress:
    """Calls `progress(phase, fraction)` at most every half second while rows are read."""

    def __init__(self, fn: ProgressFn | None, sheet: Sheet):
        self.fn, self.sheet, self.last = fn, sheet, time.monotonic()

    def tick(self, done: int) -> None:
        if self.fn is None:
            return
        now = time.monotonic()
        if now - self.last >= 0.5:
            self.last = now
            self.fn("reading", self.sheet.fraction_read())

    def phase(self, name: str, fraction: float) -> None:
        if self.fn is not None:
            self.fn(name, fraction)


def _data_rows(
    sheet: Sheet, chk: RowChecker, names: tuple[str, ...], prog: _Progress
) -> Iterator[tuple[int, list]]:
    """(row number, cells of `names`) for each non-blank row; FileRejected past MAX_ROWS rows."""
    count = 0
    for rownum, row in sheet.rows():
        cells = chk.cells(row, names)
        if cells is None:
            continue
        count += 1
        if count > MAX_ROWS:
            raise FileRejected(Problem(None, None, "too_many_rows", {"max": MAX_ROWS}))
        if count % 1000 == 0:
            prog.tick(count)
        yield rownum, cells


# --------------------------------------------------------------------------- schools


def _check_schools(sheet: Sheet, chk: RowChecker, places: Places, scope, prog) -> list:
    names = (
        "school_code",
        "name",
        "level",
        "district",
        "ward",
        "address",
        "capacity",
        "latitude",
        "longitude",
    )
    seen: dict[str, int] = {}
    existing_district = {
        c.casefold(): d for c, d in db.session.execute(sa.select(School.code, School.district_id))
    }
    rows = []
    for rownum, cells in _data_rows(sheet, chk, names, prog):
        c_code, c_name, c_level, c_district, c_ward, c_addr, c_cap, c_lat, c_lon = cells
        code = _field(chk, rownum, "school_code", c_code, xlsx.code, c_code[1] if c_code else "s")
        if code is not None:
            first = seen.get(code.casefold())
            if first is not None:
                chk.error(rownum, "school_code", CellError("duplicate", first=first))
            else:
                seen[code.casefold()] = rownum
        name = _field(chk, rownum, "name", c_name, xlsx.text, max_len=200, min_len=2)
        level = _field(chk, rownum, "level", c_level, v.level)
        district_name = _field(chk, rownum, "district", c_district, _place_text)
        district = ward = None
        if district_name is not None:
            district = places.resolve("district", district_name, None)
            if not _in_scope(district, scope):
                chk.error(rownum, "district", CellError("other_district"))
            elif (
                scope is not None
                and code is not None
                and existing_district.get(code.casefold(), scope) != scope
            ):
                chk.error(rownum, "school_code", CellError("school_other_district", code=code))
        ward_name = _field(chk, rownum, "ward", c_ward, _place_text, required=False)
        if ward_name is not None and district is not None:
            ward = places.resolve("ward", ward_name, district)
        address = _field(chk, rownum, "address", c_addr, xlsx.text, max_len=300, required=False)
        capacity = _field(chk, rownum, "capacity", c_cap, xlsx.integer, minimum=0, maximum=10_000)
        lat = _field(chk, rownum, "latitude", c_lat, xlsx.number, minimum=8.0, maximum=24.0, required=False)
        lon = _field(
            chk, rownum, "longitude", c_lon, xlsx.number, minimum=102.0, maximum=110.0, required=False
        )
        rows.append((code, name, level, district, ward, address, capacity, lat, lon))
    return rows


def _store_schools(sheet: Sheet, rows: list, report: ImportReport) -> None:
    present = set(sheet.index)
    existing = {
        r.code.casefold(): r
        for r in db.session.execute(
            sa.select(
                School.id,
                School.code,
                School.name,
                School.level,
                School.district_id,
                School.ward_id,
                School.address,
                School.capacity,
                School.latitude,
                School.longitude,
            )
        )
    }
    inserts, updates = [], []
    for code, name, level, district, ward, address, capacity, lat, lon in rows:
        values = {"name": name, "level": level, "district_id": district.id, "capacity": capacity}
        optional = {
            "ward_id": ward.id if ward else None,
            "address": address or "",
            "latitude": lat,
            "longitude": lon,
        }
        column_of = {
            "ward_id": "ward",
            "address": "address",
            "latitude": "latitude",
            "longitude": "longitude",
        }
        old = existing.get(code.casefold())
        if old is None:
            inserts.append({"code": code, **values, **optional})
            continue
        for key, col in column_of.items():
            if col in present:  # a column left out of the file keeps what is stored
                values[key] = optional[key]
        if any(getattr(old, k) != val for k, val in values.items()):
            updates.append({"id": old.id, **values})
        else:
            report.unchanged += 1
    _bulk_insert(School.__table__, inserts)
    _bulk_update(School, updates)
    report.created, report.updated = len(inserts), len(updates)


# --------------------------------------------------------------------------- catchments


def _check_catchments(sheet: Sheet, chk: RowChecker, places: Places, scope, prog) -> list:
    names = ("school_code", "district", "ward", "residential_group")
    schools = {
        code.casefold(): (sid, did)
        for sid, code, did in db.session.execute(sa.select(School.id, School.code, School.district_id))
    }
    seen: dict[tuple, int] = {}
    rows = []
    for rownum, cells in _data_rows(sheet, chk, names, prog):
        c_code, c_district, c_ward, c_group = cells
        code = _field(chk, rownum, "school_code", c_code, xlsx.code, c_code[1] if c_code else "s")
        school = None
        if code is not None:
            school = schools.get(code.casefold())
            if school is None:
                chk.error(rownum, "school_code", CellError("unknown_school", code=code))
            elif scope is not None and school[1] != scope:
                chk.error(rownum, "school_code", CellError("school_other_district", code=code))
        district_name = _field(chk, rownum, "district", c_district, _place_text)
        district = ward = group = None
        if district_name is not None:
            district = places.resolve("district", district_name, None)
            if not _in_scope(district, scope):
                chk.error(rownum, "district", CellError("other_district"))
        ward_name = _field(chk, rownum, "ward", c_ward, _place_text)
        if ward_name is not None and district is not None:
            ward = places.resolve("ward", ward_name, district)
        group_name = _field(chk, rownum, "residential_group", c_group, _place_text, required=False)
        if group_name is not None and ward is not None:
            group = places.resolve("group", group_name, ward)
        if school is not None and ward is not None and (group_name is None or group is not None):
            key = (school[0], id(ward), id(group) if group else None)
            first = seen.get(key)
            if first is not None:
                chk.error(rownum, "school_code", CellError("duplicate", first=first))
            else:
                seen[key] = rownum
        rows.append((school[0] if school else None, ward, group))
    return rows


def _store_catchments(sheet: Sheet, rows: list, report: ImportReport) -> None:
    existing = set(
        db.session.execute(
            sa.select(Catchment.school_id, Catchment.ward_id, Catchment.residential_group_id)
        ).all()
    )
    inserts = []
    for school_id, ward, group in rows:
        key = (school_id, ward.id, group.id if group else None)
        if key in existing:
            report.unchanged += 1
        else:
            inserts.append({"school_id": key[0], "ward_id": key[1], "residential_group_id": key[2]})
    _bulk_insert(Catchment.__table__, inserts)
    report.created = len(inserts)


# --------------------------------------------------------------------------- roster


def _check_roster(sheet: Sheet, chk: RowChecker, places: Places, scope, prog) -> list:
    names = (
        "personal_id",
        "full_name",
        "date_of_birth",
        "gender",
        "district",
        "ward",
        "residential_group",
        "residence_type",
        "guardian_name",
        "guardian_phone",
    )
    seen: dict[str, int] = {}
    rows = []
    today = date.today()
    now = datetime.now()
    person_name = _cached(xlsx.person_name)
    # Place names repeat on every row: check each distinct name once.
    place_cache: dict[tuple, Place | None] = {}
    gender_of = _cached(xlsx.gender)  # a handful of spellings, checked once each
    residence_of = _cached(v.residence_type)
    for rownum, cells in _data_rows(sheet, chk, names, prog):
        c_pid, c_name, c_dob, c_gender, c_district, c_ward, c_group, c_res, c_gname, c_phone = cells
        pid = _field(chk, rownum, "personal_id", c_pid, v.personal_id, c_pid[1] if c_pid else "s")
        if pid is not None:
            first = seen.get(pid)
            if first is not None:
                chk.error(rownum, "personal_id", CellError("duplicate", first=first))
            else:
                seen[pid] = rownum
        full_name = _field(chk, rownum, "full_name", c_name, person_name)
        if c_dob is not None and c_dob[0].__class__ is datetime and c_dob[0].year >= 1900 and c_dob[0] <= now:
            dob = c_dob[0].date()  # fast path: a date cell in range
        else:
            dob = _field(
                chk, rownum, "date_of_birth", c_dob, xlsx.a_date, c_dob[1] if c_dob else "s", today=today
            )
        gender = _field(chk, rownum, "gender", c_gender, gender_of)
        residence = _field(chk, rownum, "residence_type", c_res, residence_of)
        guardian = _field(chk, rownum, "guardian_name", c_gname, person_name)
        phone = _field(
            chk, rownum, "guardian_phone", c_phone, xlsx.phone, c_phone[1] if c_phone else "s", required=False
        )
        if pid is not None and gender is not None and dob is not None:
            mismatch = v.personal_id_problem(pid, gender, dob)
            if mismatch is not None:
                chk.error(rownum, "personal_id", mismatch)

        # Places: district → ward → group, each distinct spelling checked once.
        pkey = (
            c_district and c_district[0],
            c_ward and c_ward[0],
            c_group and c_group[0],
            c_district and c_district[1],
            c_ward and c_ward[1],
            c_group and c_group[1],
        )
        if pkey in place_cache:
            ward, group, place_error = place_cache[pkey]
        else:
            ward, group, place_error = _roster_places(places, scope, c_district, c_ward, c_group)
            place_cache[pkey] = (ward, group, place_error)
        if place_error:
            for name, err in place_error:
                chk.error(rownum, name, err)
        rows.append((rownum, pid, full_name, dob, gender, ward, group, residence, guardian, phone))
    return rows


def _roster_places(places: Places, scope, c_district, c_ward, c_group):
    errors = []

    def check(name, cell, required):
        if cell is None:
            if required:
                errors.append((name, CellError("required")))
            return None
        try:
            xlsx.check_cell(*cell)
            return xlsx.text(cell[0], max_len=120)
        except CellError as err:
            errors.append((name, err))
            return None

    d_name, w_name, g_name = (
        check("district", c_district, True),
        check("ward", c_ward, True),
        check("residential_group", c_group, False),
    )
    ward = group = None
    if d_name is not None:
        district = places.resolve("district", d_name, None)
        if not _in_scope(district, scope):
            errors.append(("district", CellError("other_district")))
        elif w_name is not None:
            ward = places.resolve("ward", w_name, district)
            if g_name is not None:
                group = places.resolve("group", g_name, ward)
    return ward, group, errors


def _store_roster(
    sheet: Sheet, rows: list, report: ImportReport, places: Places, scope, chk: RowChecker
) -> bool:
    """Write the roster; returns False (and records problems) if an existing entry is out of scope."""
    present = set(sheet.index)
    table = RosterEntry.__table__
    existing: dict[str, tuple] = {}
    pids = [r[1] for r in rows]
    cols = (
        table.c.personal_id,
        table.c.id,
        table.c.full_name,
        table.c.date_of_birth,
        table.c.gender,
        table.c.ward_id,
        table.c.residential_group_id,
        table.c.residence_type,
        table.c.guardian_name,
        table.c.guardian_phone,
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(table)) or 0
    if total <= 2 * len(pids):
        wanted = set(pids)
        for r in db.session.execute(sa.select(*cols)):
            if r[0] in wanted:
                existing[r[0]] = tuple(r)
    else:
        for start in range(0, len(pids), 2000):
            batch = pids[start : start + 2000]
            for r in db.session.execute(sa.select(*cols).where(table.c.personal_id.in_(batch))):
                existing[r[0]] = tuple(r)

    if scope is not None and existing:
        bad = False
        for rownum, pid, *_ in rows:
            old = existing.get(pid)
            if old is not None and places.ward_district.get(old[5]) != scope:
                chk.error(rownum, "personal_id", CellError("roster_other_district"))
                bad = True
        if bad:
            return False

    places.create_pending()
    now = utcnow()
    keep_group = "residential_group" in present
    keep_phone = "guardian_phone" in present
    inserts, updates = [], []
    for _rownum, pid, full_name, dob, gender, ward, group, residence, guardian, phone in rows:
        group_id = group.id if group is not None else None
        old = existing.get(pid)
        if old is None:
            inserts.append(
                {
                    "personal_id": pid,
                    "full_name": full_name,
                    "date_of_birth": dob,
                    "gender": gender,
                    "ward_id": ward.id,
                    "residential_group_id": group_id,
                    "residence_type": residence,
                    "guardian_name": guardian,
                    "guardian_phone": phone,
                    "imported_at": now,
                }
            )
            continue
        if not keep_group:
            group_id = old[6]
        if not keep_phone:
            phone = old[9]
        new = (full_name, dob, gender, ward.id, group_id, residence, guardian, phone)
        if new == old[2:]:
            report.unchanged += 1
        else:
            updates.append(
                {
                    "b_id": old[1],
                    "full_name": full_name,
                    "date_of_birth": dob,
                    "gender": gender,
                    "ward_id": ward.id,
                    "residential_group_id": group_id,
                    "residence_type": residence,
                    "guardian_name": guardian,
                    "guardian_phone": phone,
                    "imported_at": now,
                }
            )
    _bulk_insert(table, inserts)
    if updates:
        stmt = (
            table.update()
            .where(table.c.id == sa.bindparam("b_id"))
            .values({k: sa.bindparam(k) for k in updates[0] if k != "b_id"})
        )
        for start in range(0, len(updates), CHUNK):
            db.session.execute(stmt, updates[start : start + CHUNK])
    report.created, report.updated = len(inserts), len(updates)
    return True


# --------------------------------------------------------------------------- bulk writes


def _bulk_insert(table: sa.Table, rows: list[dict]) -> None:
    if not rows:
        return
    stmt = table.insert()
    for start in range(0, len(rows), CHUNK):
        db.session.execute(stmt, rows[start : start + CHUNK])


def _bulk_update(model, rows: list[dict]) -> None:
    if rows:
        for start in range(0, len(rows), CHUNK):
            db.session.execute(sa.update(model), rows[start : start + CHUNK])


# --------------------------------------------------------------------------- entry point

_CHECKERS = {"schools": _check_schools, "catchments": _check_catchments, "roster": _check_roster}


def import_workbook(
    kind: str, source, *, scope: int | None = None, progress: ProgressFn | None = None
) -> ImportReport:
    """Import `source` (a path or a binary file object) as `kind`; all or nothing.

    `scope`: a district id to which every row must belong (district officers), or None (city).
    `progress(phase, fraction)` is called while reading ("reading", 0..1) and before writing
    ("saving", 1.0). Writes are flushed, not committed: the caller commits, or rolls back.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown import kind {kind!r}")
    started = time.perf_counter()
    report = ImportReport(kind=kind)
    try:
        sheet = Sheet(kind, source)
    except FileRejected as err:
        report.problems = err.problems
        return report
    try:
        chk = RowChecker(sheet, report.problems)
        places = Places()
        prog = _Progress(progress, sheet)
        try:
            rows = _CHECKERS[kind](sheet, chk, places, scope, prog)
        except FileRejected as err:
            report.problems[:] = err.problems
            return report
    finally:
        sheet.close()
    report.rows = len(rows)
    if not rows and not report.problems:
        report.problems.append(Problem(None, None, "no_rows"))
    if report.problems:
        report.seconds = time.perf_counter() - started
        return report
    prog.phase("saving", 1.0)
    if kind == "roster":
        if not _store_roster(sheet, rows, report, places, scope, chk):
            report.created = report.updated = report.unchanged = 0
            report.seconds = time.perf_counter() - started
            return report
    else:
        places.create_pending()
        (_store_schools if kind == "schools" else _store_catchments)(sheet, rows, report)
    db.session.flush()
    report.seconds = time.perf_counter() - started
    return report
