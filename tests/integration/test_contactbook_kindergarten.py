"""Kindergarten (age 5, grade 0) in the contact book: the class import accepts its classes."""

from __future__ import annotations

import sqlalchemy as sa

from app import jobs
from app.extensions import db
from contactbook.models import Enrolment, Pupil, SchoolClass
from tests.contactbook_factories import classes_xlsx, create_year
from tests.factories import create_district, create_school

KG_PUPILS = [
    ["MN-A", "MG5A", "MN001", "Nguyễn Bé An", "05/03/2021", "Nam", "Nguyễn Văn Bố", "0912000101", None],
    ["MN-A", "Lá 2", "MN002", "Trần Bé Bình", "12/11/2021", "Nữ", "Trần Văn Cha", "0912000102", None],
]
KG_TEACHERS = [["MN-A", "MG5A", "", "Phạm Thị Cô", "co@example.edu.vn", None, "có"]]


def _run(runner, tmp_path, content: bytes):
    path = tmp_path / "classes.xlsx"
    path.write_bytes(content)
    return runner.invoke(args=["contactbook", "import-classes", str(path)])


def test_class_import_accepts_kindergarten_classes(app, runner, tmp_path):
    d = create_district()
    create_school(d, level="kindergarten", code="MN-A")
    create_school(d, level="grade1", code="TH-A")
    create_year()
    jobs.commit()
    result = _run(runner, tmp_path, classes_xlsx(KG_PUPILS, KG_TEACHERS))
    assert result.exit_code == 0, result.output
    classes = {c.name: c.grade for c in db.session.scalars(sa.select(SchoolClass))}
    assert classes == {"MG5A": 0, "LÁ2": 0}
    assert db.session.scalar(sa.select(sa.func.count(Enrolment.id))) == 2
    # A primary school has no kindergarten class, and a kindergarten no grade 1.
    wrong = [["TH-A", "MG5B", "TH009", "Lê Bé Cường", "01/01/2021", "Nam", "Lê Văn Bố", "0912000103", None]]
    wrong.append(["MN-A", "1A", "MN009", "Lê Bé Dung", "01/01/2021", "Nữ", "Lê Văn Bố", "0912000103", None])
    refused = _run(runner, tmp_path, classes_xlsx(wrong, KG_TEACHERS))
    assert refused.exit_code != 0 and "is not taught at school" in refused.output + refused.stderr
    assert db.session.scalar(sa.select(sa.func.count(Pupil.id))) == 2
