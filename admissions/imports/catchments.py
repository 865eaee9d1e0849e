"""catchments.xlsx: one line per school and ward or residential group (docs/excel-formats.md)."""

from __future__ import annotations

import sqlalchemy as sa

from app import xlsx
from app.extensions import db
from app.models import School
from app.xlsx import CellError

from ..models import Catchment
from .places import Places
from .reading import RowChecker, Sheet, bulk_insert, check_field, data_rows, in_scope, place_text
from .report import ImportReport


def check(sheet: Sheet, chk: RowChecker, places: Places, scope, prog) -> list:
    names = ("school_code", "district", "ward", "residential_group")
    schools = {
        code.casefold(): (sid, did)
        for sid, code, did in db.session.execute(sa.select(School.id, School.code, School.district_id))
    }
    seen: dict[tuple, int] = {}
    rows = []
    for rownum, cells in data_rows(sheet, chk, names, prog):
        c_code, c_district, c_ward, c_group = cells
        code = check_field(chk, rownum, "school_code", c_code, xlsx.code, c_code[1] if c_code else "s")
        school = None
        if code is not None:
            school = schools.get(code.casefold())
            if school is None:
                chk.error(rownum, "school_code", CellError("unknown_school", code=code))
            elif scope is not None and school[1] != scope:
                chk.error(rownum, "school_code", CellError("school_other_district", code=code))
        district_name = check_field(chk, rownum, "district", c_district, place_text)
        district = ward = group = None
        if district_name is not None:
            district = places.resolve("district", district_name, None)
            if not in_scope(district, scope):
                chk.error(rownum, "district", CellError("other_district"))
        ward_name = check_field(chk, rownum, "ward", c_ward, place_text)
        if ward_name is not None and district is not None:
            ward = places.resolve("ward", ward_name, district)
        group_name = check_field(chk, rownum, "residential_group", c_group, place_text, required=False)
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


def store(sheet: Sheet, rows: list, report: ImportReport) -> None:
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
    bulk_insert(Catchment.__table__, inserts)
    report.created = len(inserts)
