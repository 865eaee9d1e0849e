"""schools.xlsx: upsert by school code (docs/excel-formats.md).

An update never loses what a file does not say: an optional cell left empty keeps the stored
value (the address and coordinates feed the nearest-school suggestions), and only `-` in that
cell clears it."""

from __future__ import annotations

import sqlalchemy as sa

from app import xlsx
from app.extensions import db
from app.models import School
from app.xlsx import CellError

from . import cells as v
from .places import Places
from .reading import RowChecker, Sheet, bulk_insert, bulk_update, check_field, data_rows, in_scope, place_text
from .report import ImportReport

CLEAR = "-"  # in an optional cell: clear the stored value


class _Clear:
    def __repr__(self) -> str:
        return "CLEARED"


CLEARED = _Clear()  # the value of an optional cell that says CLEAR


def _clearing(cell) -> bool:
    return cell is not None and isinstance(cell[0], str) and cell[0].strip() == CLEAR


def check(sheet: Sheet, chk: RowChecker, places: Places, scope, prog) -> list:
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
    for rownum, cells in data_rows(sheet, chk, names, prog):
        c_code, c_name, c_level, c_district, c_ward, c_addr, c_cap, c_lat, c_lon = cells
        code = check_field(chk, rownum, "school_code", c_code, xlsx.code, c_code[1] if c_code else "s")
        if code is not None:
            first = seen.get(code.casefold())
            if first is not None:
                chk.error(rownum, "school_code", CellError("duplicate", first=first))
            else:
                seen[code.casefold()] = rownum
        name = check_field(chk, rownum, "name", c_name, xlsx.text, max_len=200, min_len=2)
        level = check_field(chk, rownum, "level", c_level, v.level)
        district_name = check_field(chk, rownum, "district", c_district, place_text)
        district = ward = None
        if district_name is not None:
            district = places.resolve("district", district_name, None)
            if not in_scope(district, scope):
                chk.error(rownum, "district", CellError("other_district"))
            elif (
                scope is not None
                and code is not None
                and existing_district.get(code.casefold(), scope) != scope
            ):
                chk.error(rownum, "school_code", CellError("school_other_district", code=code))
        if _clearing(c_ward):
            ward = CLEARED
        else:
            ward_name = check_field(chk, rownum, "ward", c_ward, place_text, required=False)
            if ward_name is not None and district is not None:
                ward = places.resolve("ward", ward_name, district)
        address = (
            CLEARED
            if _clearing(c_addr)
            else check_field(chk, rownum, "address", c_addr, xlsx.text, max_len=300, required=False)
        )
        capacity = check_field(chk, rownum, "capacity", c_cap, xlsx.integer, minimum=0, maximum=10_000)
        lat = (
            CLEARED
            if _clearing(c_lat)
            else check_field(
                chk, rownum, "latitude", c_lat, xlsx.number, minimum=8.0, maximum=24.0, required=False
            )
        )
        lon = (
            CLEARED
            if _clearing(c_lon)
            else check_field(
                chk, rownum, "longitude", c_lon, xlsx.number, minimum=102.0, maximum=110.0, required=False
            )
        )
        rows.append((code, name, level, district, ward, address, capacity, lat, lon))
    return rows


def store(sheet: Sheet, rows: list, report: ImportReport) -> None:
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
        # None: the cell was empty (keep what is stored); CLEARED: the cell said "-" (clear it).
        optional = {
            "ward_id": ward if ward is None or ward is CLEARED else ward.id,
            "address": address,
            "latitude": lat,
            "longitude": lon,
        }
        old = existing.get(code.casefold())
        if old is None:
            inserts.append({"code": code, **values, **{k: _stored(k, v) for k, v in optional.items()}})
            continue
        for key, value in optional.items():
            if value is not None:
                values[key] = _stored(key, value)
        if ward is None and old.district_id != district.id:
            values["ward_id"] = None  # the stored ward is in the district the school left
        if any(getattr(old, k) != val for k, val in values.items()):
            updates.append({"id": old.id, **values})
        else:
            report.unchanged += 1
    bulk_insert(School.__table__, inserts)
    bulk_update(School, updates)
    report.created, report.updated = len(inserts), len(updates)


def _stored(key: str, value):
    """The column value of an optional cell: empty or cleared is '' for the address, else NULL."""
    if value is None or value is CLEARED:
        return "" if key == "address" else None
    return value
