"""classes.xlsx import (docs/excel-formats.md): CLI contract, all-or-nothing, idempotent upsert, one guardian
account per phone across schools, accounts without passwords, the staff upload page."""

from __future__ import annotations

import io
import logging
import os
import re
import uuid
from io import BytesIO

import openpyxl
import sqlalchemy as sa

from app import jobs
from app.extensions import db
from app.imports import runner
from app.models import ImportJob, Role, User
from contactbook.models import (
    ActivationCode,
    Enrolment,
    Guardian,
    Pupil,
    SchoolClass,
    Subject,
    TeachingAssignment,
)
from tests.contactbook_factories import classes_xlsx, create_year
from tests.factories import create_district, create_school, create_user


def _setup():
    d = create_district()
    primary = create_school(d, level="grade1", code="TH-A")
    secondary = create_school(d, level="grade6", code="THCS-B")
    create_year()
    jobs.commit()
    return primary, secondary


PUPILS = [
    [
        "TH-A",
        "1A",
        "HS001",
        "Nguyễn Văn An",
        "05/03/2019",
        "Nam",
        "Nguyễn Văn Bố",
        "0912000001",
        "bo.an@example.vn",
    ],
    ["TH-A", "1A", "HS002", "Trần Thị Bình", "12/11/2019", "Nữ", "Trần Văn Cha", "0912000002", None],
    ["TH-A", "1B", "HS003", "Lê Minh Châu", "01/01/2019", "female", "Lê Thị Mẹ", "0912000003", None],
    # Same family, second school: one account for phone 0912000001.
    [
        "THCS-B",
        "6A1",
        "HS001",
        "Nguyễn Thị Anh",
        "02/02/2014",
        "Nữ",
        "Nguyễn Văn Bố",
        "+84 912 000 001",
        None,
    ],
    # A second guardian of HS002.
    ["TH-A", "1A", "HS002", "Trần Thị Bình", "12/11/2019", "Nữ", "Phạm Thị Mẹ", "0912000004", None],
]
TEACHERS = [
    ["TH-A", "1A", "Toán", "Phạm Thị Lan", "lan@example.edu.vn", "0987000001", "có"],
    ["TH-A", "1A", "Tiếng Việt", "Phạm Thị Lan", "lan@example.edu.vn", "0987000001", "yes"],
    ["TH-A", "1B", "", "Đỗ Văn Hùng", "hung@example.edu.vn", None, "x"],
    ["THCS-B", "6A1", "Toán", "Vũ Thị Hoa", "hoa@example.edu.vn", None, "no"],
    ["THCS-B", "6A1", "Giáo dục thể chất", "Vũ Thị Hoa", "hoa@example.edu.vn", None, None],
]


def _run(runner, tmp_path, content: bytes, name="classes.xlsx"):
    path = tmp_path / name
    path.write_bytes(content)
    return runner.invoke(args=["contactbook", "import-classes", str(path)])


def test_cli_imports_and_reimport_changes_nothing(app, runner, tmp_path):
    _setup()
    content = classes_xlsx(PUPILS, TEACHERS)
    result = _run(runner, tmp_path, content)
    assert result.exit_code == 0, result.output
    checked, summary = result.stdout.strip().splitlines()[-2:]
    assert summary == "created 10, updated 0, unchanged 0"
    assert re.fullmatch(r"10 rows checked in \d+\.\d s", checked), checked

    db.session.expire_all()
    assert db.session.scalar(sa.select(sa.func.count(Pupil.id))) == 4
    assert db.session.scalar(sa.select(sa.func.count(SchoolClass.id))) == 3
    # One guardian account for the family with children in both schools, no password yet.
    dad = db.session.scalar(sa.select(User).where(User.phone == "0912000001"))
    assert dad.role == Role.PARENT and dad.password_hash is None and dad.email == "bo.an@example.vn"
    assert db.session.scalar(sa.select(sa.func.count(Guardian.id)).where(Guardian.user_id == dad.id)) == 2
    assert db.session.scalar(sa.select(sa.func.count(User.id)).where(User.role == Role.PARENT)) == 4
    # HS002 has two guardians.
    hs002 = db.session.scalar(sa.select(Pupil).where(Pupil.pupil_code == "HS002"))
    assert db.session.scalar(sa.select(sa.func.count(Guardian.id)).where(Guardian.pupil_id == hs002.id)) == 2
    # Teachers: created by email, without password, at the school; homeroom set.
    lan = db.session.scalar(sa.select(User).where(User.email == "lan@example.edu.vn"))
    assert lan.role == Role.TEACHER and lan.password_hash is None and lan.phone == "0987000001"
    c1a = db.session.scalar(sa.select(SchoolClass).where(SchoolClass.name == "1A"))
    assert c1a.homeroom_teacher_id == lan.id and c1a.grade == 1
    c1b = db.session.scalar(sa.select(SchoolClass).where(SchoolClass.name == "1B"))
    assert c1b.homeroom_teacher.email == "hung@example.edu.vn"
    assert db.session.scalar(sa.select(sa.func.count(TeachingAssignment.id))) == 4
    pe = db.session.scalar(sa.select(Subject).where(Subject.name == "Giáo dục thể chất"))
    assert pe.assessment == "comment" and pe.grade == 6
    math1 = db.session.scalar(sa.select(Subject).where(Subject.name == "Toán", Subject.grade == 1))
    assert math1.assessment == "primary" and math1.has_test

    again = _run(runner, tmp_path, content)
    assert again.exit_code == 0, again.output
    assert again.stdout.strip().splitlines()[-1] == "created 0, updated 0, unchanged 10"


def test_reimport_moves_a_pupil_and_replaces_a_guardian(app, runner, tmp_path):
    _setup()
    assert _run(runner, tmp_path, classes_xlsx(PUPILS, TEACHERS)).exit_code == 0
    changed = [row[:] for row in PUPILS]
    changed[0][1] = "1B"  # HS001 moves to 1B
    changed[2][7] = "0912000009"  # HS003's guardian phone changes
    teachers = [row[:] for row in TEACHERS]
    teachers[3][4] = "lan@example.edu.vn"  # Toán 6A1: another teacher… of another school → refused
    bad = _run(runner, tmp_path, classes_xlsx(changed, teachers))
    assert bad.exit_code == 2
    assert "row 5, column teacher_email:" in bad.stderr
    result = _run(runner, tmp_path, classes_xlsx(changed, TEACHERS))
    assert result.exit_code == 0, result.output
    assert result.stdout.strip().splitlines()[-1] == "created 0, updated 2, unchanged 8"
    db.session.expire_all()
    hs1 = db.session.scalar(
        sa.select(Pupil).where(Pupil.pupil_code == "HS001", Pupil.school.has(code="TH-A"))
    )
    enrol = db.session.scalar(sa.select(Enrolment).where(Enrolment.pupil_id == hs1.id))
    assert enrol.school_class.name == "1B"
    hs3 = db.session.scalar(sa.select(Pupil).where(Pupil.pupil_code == "HS003"))
    phones = set(
        db.session.scalars(
            sa.select(User.phone)
            .join(Guardian, Guardian.user_id == User.id)
            .where(Guardian.pupil_id == hs3.id)
        )
    )
    assert phones == {"0912000009"}  # the old guardian no longer reaches the child


def test_bad_rows_are_reported_and_nothing_is_stored(app, runner, tmp_path):
    _setup()
    staff = create_user("teacher", school=None, phone="0987999999")
    jobs.commit()
    pupils = [
        ["TH-A", "1A", "HS001", "Nguyễn Văn An", "05/03/2019", "Nam", "Bố An", "0912000001", None],
        ["TH-A", "1A", 1234, '=HYPERLINK("x")', "31/02/2019", "khác", "Bố", "12345", "not-an-email"],
        ["NOPE", "7A", "HS009", "Lê Văn Em", "01/01/2019", "Nam", "Lê Văn Bố", "0912000008", None],
        ["TH-A", "9A", "HS010", "Lê Văn Em", "01/01/2019", "Nam", "Lê Văn Bố", staff.phone, None],
        ["TH-A", "1A", "HS001", "Nguyễn Văn Khác", "05/03/2019", "Nam", "Bố An", "0912000001", None],
    ]
    teachers = [["TH-A", "1A", "", "Phạm Thị Lan", "lan@example.edu.vn", None, "no"]]
    result = _run(runner, tmp_path, classes_xlsx(pupils, teachers))
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    text = "\n".join(lines)
    assert "row 3, column pupil_code:" in text  # a number cell
    assert "row 3, column full_name:" in text  # formula injection
    assert "row 3, column date_of_birth:" in text  # 31/02
    assert "row 3, column gender:" in text
    assert "row 3, column guardian_phone:" in text
    assert "row 3, column guardian_email:" in text
    assert "row 4, column school_code:" in text  # unknown school
    assert "row 5, column class_name:" in text  # grade 9 at a primary school
    assert "row 6, column pupil_code:" in text  # same pupil written differently (and dup phone)
    assert "row 2, column subject:" in text  # teachers: no subject and not homeroom
    *problem_lines, last = lines
    assert all(
        line.startswith("row ") and line.endswith(("(sheet pupils)", "(sheet teachers)"))
        for line in problem_lines
    ), lines
    assert last == f"rejected: {len(problem_lines)} problem(s); nothing was stored"
    assert db.session.scalar(sa.select(sa.func.count(Pupil.id))) == 0
    assert db.session.scalar(sa.select(sa.func.count(User.id)).where(User.role == Role.PARENT)) == 0


def test_guardian_phone_of_a_staff_account_is_refused(app, runner, tmp_path):
    _setup()
    teacher = create_user("teacher", phone="0987111111")
    jobs.commit()
    pupils = [["TH-A", "1A", "HS001", "Nguyễn Văn An", "05/03/2019", "Nam", "Bố An", teacher.phone, None]]
    teachers = [["TH-A", "1A", "Toán", "Phạm Thị Lan", "lan@example.edu.vn", None, "yes"]]
    result = _run(runner, tmp_path, classes_xlsx(pupils, teachers))
    assert result.exit_code == 2
    assert "row 2, column guardian_phone:" in result.stderr


def test_vietnamese_headers_and_whole_file_rejections(app, runner, tmp_path):
    _setup()
    vi_pupils = [
        "Mã trường",
        "Lớp",
        "Mã học sinh",
        "Họ và tên",
        "Ngày sinh",
        "Giới tính",
        "Họ tên cha/mẹ/người giám hộ",
        "Số điện thoại",
        "Email",
    ]
    vi_teachers = [
        "Mã trường",
        "Lớp",
        "Môn học",
        "Họ tên giáo viên",
        "Email giáo viên",
        "Số điện thoại giáo viên",
        "Chủ nhiệm",
    ]
    ok = _run(
        runner,
        tmp_path,
        classes_xlsx(PUPILS[:1], TEACHERS[:1], pupil_headers=vi_pupils, teacher_headers=vi_teachers),
    )
    assert ok.exit_code == 0, ok.output
    assert ok.stdout.strip().splitlines()[-1] == "created 2, updated 0, unchanged 0"

    no_sheet = _run(runner, tmp_path, classes_xlsx(PUPILS, TEACHERS, sheets=("pupils",)))
    assert no_sheet.exit_code == 2 and "teachers" in no_sheet.stderr
    missing_col = _run(
        runner,
        tmp_path,
        classes_xlsx([r[:7] for r in PUPILS], TEACHERS, pupil_headers=PUPIL_HEADERS_NO_PHONE),
    )
    assert missing_col.exit_code == 2 and "guardian_phone" in missing_col.stderr
    empty = _run(runner, tmp_path, classes_xlsx([], TEACHERS))
    assert empty.exit_code == 2
    not_xlsx = _run(runner, tmp_path, b"school_code,class_name\n", name="x.xlsx")
    assert not_xlsx.exit_code == 2 and not_xlsx.stderr.strip()


PUPIL_HEADERS_NO_PHONE = [
    "school_code",
    "class_name",
    "pupil_code",
    "full_name",
    "date_of_birth",
    "gender",
    "guardian_name",
]


def test_class_lists_may_write_gender_as_a_letter(app, runner, tmp_path):
    _setup()
    pupils = [
        ["TH-A", "1A", "HS001", "Nguyễn Văn An", "05/03/2019", "M", "Bố An", "0912000001", None],
        ["TH-A", "1A", "HS002", "Trần Thị Bình", "12/11/2019", "f", "Mẹ Bình", "0912000002", None],
    ]
    result = _run(runner, tmp_path, classes_xlsx(pupils, TEACHERS[:1]))
    assert result.exit_code == 0, result.output
    genders = dict(db.session.execute(sa.select(Pupil.pupil_code, Pupil.gender)).all())
    assert genders == {"HS001": "male", "HS002": "female"}


def test_formula_cells_are_refused(app, runner, tmp_path):
    _setup()
    pupils = [["TH-A", "1A", "HS001", "Nguyễn Văn An", "05/03/2019", "Nam", "Bố An", '="0912000001"', None]]
    result = _run(runner, tmp_path, classes_xlsx(pupils, TEACHERS[:1]))
    assert result.exit_code == 2
    assert "row 2, column guardian_phone:" in result.stderr


def test_new_teachers_get_an_activation_email(app, runner, tmp_path, caplog, run_jobs):
    _setup()

    caplog.set_level(logging.INFO, logger="app.mail")
    assert _run(runner, tmp_path, classes_xlsx(PUPILS[:1], TEACHERS[:1])).exit_code == 0
    run_jobs()

    lan = db.session.scalar(sa.select(User).where(User.email == "lan@example.edu.vn"))
    assert (
        db.session.scalar(sa.select(sa.func.count(ActivationCode.id)).where(ActivationCode.user_id == lan.id))
        == 1
    )
    assert any("lan@example.edu.vn" in r.getMessage() for r in caplog.records)


# ----------------------------------------------------------------------------- upload page


def test_staff_upload_page_imports_for_own_school_only(app, make_client, run_jobs):
    """The upload runs as an import job; its page shows the report, only to the uploader."""

    primary, secondary = _setup()
    staff = create_user("school_staff", school=primary)
    colleague = create_user("school_staff", school=primary)
    jobs.commit()
    client = make_client()
    client.login_as(staff)
    client.post_form("/lang", {"lang": "en"}, token_from="/home")
    page = client.get("/contactbook/import")
    assert page.status_code == 200
    token = client.csrf("/contactbook/import")

    resp = client.post(
        "/contactbook/import",
        data={"csrf_token": token, "file": (BytesIO(classes_xlsx(PUPILS, TEACHERS)), "classes.xlsx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    status_url = resp.headers["Location"]
    assert status_url.startswith("/contactbook/import/")
    run_jobs()
    body = client.get(status_url).get_data(as_text=True)
    assert "Nothing was imported" in body
    assert "school THCS-B is not one you manage" in body  # rows of the other school are named
    assert db.session.scalar(sa.select(sa.func.count(Pupil.id))) == 0
    state = client.get(status_url + "/status").get_json()
    assert (state["status"], state["final"], state["problems"]) == ("rejected", True, state["problems"])
    assert state["problems"] >= 1

    own = [r for r in PUPILS if r[0] == "TH-A"]
    own_t = [r for r in TEACHERS if r[0] == "TH-A"]
    resp = client.post(
        "/contactbook/import",
        data={"csrf_token": token, "file": (BytesIO(classes_xlsx(own, own_t)), "classes.xlsx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    run_jobs()
    body = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "rows imported: created" in body and "New guardian accounts: " in body
    assert db.session.scalar(sa.select(sa.func.count(Pupil.id))) == 3
    listing = client.get("/contactbook/import").get_data(as_text=True)
    assert listing.count(">classes.xlsx<") == 2  # both uploads listed with their results

    # Another staff member of the same school does not see this import, nor its JSON.
    other = make_client()
    other.login_as(colleague)
    assert other.get(status_url).status_code == 404
    assert other.get(status_url + "/status").status_code == 404
    assert ">classes.xlsx<" not in other.get("/contactbook/import").get_data(as_text=True)


def test_upload_that_is_not_a_workbook_is_refused_on_the_page(app, make_client):
    primary, _secondary = _setup()
    staff = create_user("school_staff", school=primary)
    jobs.commit()
    client = make_client()
    client.login_as(staff)
    client.post_form("/lang", {"lang": "en"}, token_from="/home")
    token = client.csrf("/contactbook/import")
    resp = client.post(
        "/contactbook/import",
        data={"csrf_token": token, "file": (BytesIO(b"name,class\n"), "classes.xlsx")},
        content_type="multipart/form-data",
    )
    assert resp.status_code == 422
    assert "This is not an Excel .xlsx file." in resp.get_data(as_text=True)


def test_import_of_an_account_closed_before_its_job_ran_stores_nothing(app, run_jobs, tmp_path):
    """The job imports on behalf of its uploader as that account is when it runs."""

    primary, _secondary = _setup()
    staff = create_user("school_staff", school=primary)
    staff.active = False
    token = uuid.uuid4().hex
    os.makedirs(runner.upload_dir(), exist_ok=True)
    own = [r for r in PUPILS if r[0] == "TH-A"]
    with open(runner.upload_path(token), "wb") as fh:
        fh.write(classes_xlsx(own, [r for r in TEACHERS if r[0] == "TH-A"]))
    job = ImportJob(kind="classes", file_token=token, user_id=staff.id)
    db.session.add(job)
    jobs.commit()
    job_id = job.id  # running the job detaches objects
    jobs.run_job("app.imports.runner:run_import", [job_id], {})
    job = db.session.get(ImportJob, job_id)
    assert job.status == "rejected" and job.report["problems"][0]["code"] == "uploader_gone"
    assert db.session.scalar(sa.select(sa.func.count(Pupil.id))) == 0


def test_template_download_has_both_sheets(app, make_client):
    primary, _ = _setup()
    staff = create_user("school_staff", school=primary)
    jobs.commit()
    client = make_client()
    client.login_as(staff)
    resp = client.get("/contactbook/import/template.xlsx")
    assert resp.status_code == 200
    wb = openpyxl.load_workbook(io.BytesIO(resp.data))
    assert wb.sheetnames == ["pupils", "teachers"]
    assert wb["pupils"]["C1"].value == "Mã học sinh"


def test_one_email_or_phone_for_two_accounts_is_reported_not_a_crash(app, runner, tmp_path):
    """Two new guardians with one email, two new teachers with one phone, one teacher written two
    ways: each is a row of the report (the file used to crash on the unique constraint)."""
    _setup()
    pupils = [
        [
            "TH-A",
            "1A",
            "HS001",
            "Nguyễn Văn An",
            "05/03/2019",
            "Nam",
            "Nguyễn Văn Bố",
            "0912000001",
            "nha@example.vn",
        ],
        [
            "TH-A",
            "1A",
            "HS002",
            "Trần Thị Bình",
            "12/11/2019",
            "Nữ",
            "Trần Văn Cha",
            "0912000002",
            "NHA@example.vn",
        ],
    ]
    teachers = [
        ["TH-A", "1A", "Toán", "Phạm Thị Lan", "lan@example.edu.vn", "0987000001", "yes"],
        ["TH-A", "1A", "Tiếng Việt", "Phạm Thị Hoa", "hoa@example.edu.vn", "0987000001", None],
        ["TH-A", "1B", "Toán", "Phạm Thị Lan Anh", "lan@example.edu.vn", None, None],
        ["TH-A", "1B", "Tiếng Việt", "Phạm Thị Lan", "lan@example.edu.vn", "0987000009", None],
    ]
    result = _run(runner, tmp_path, classes_xlsx(pupils, teachers))
    assert result.exit_code == 2, result.output
    text = result.stderr
    assert (
        "row 3, column guardian_email:" in text and "row 2" in text.split("row 3, column guardian_email:")[1]
    )
    assert "row 3, column teacher_phone:" in text  # Hoa has Lan's phone
    assert "row 4, column teacher_name:" in text  # lan@ written with another name
    assert "row 5, column teacher_phone:" in text  # lan@ with another phone
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_a_guardian_written_two_ways_keeps_the_first_and_reimport_changes_nothing(app, runner, tmp_path):
    _setup()
    pupils = [
        ["TH-A", "1A", "HS001", "Nguyễn Văn An", "05/03/2019", "Nam", "Nguyễn Văn Bố", "0912000001", None],
        [
            "TH-A",
            "1B",
            "HS003",
            "Nguyễn Văn Em",
            "05/03/2018",
            "Nam",
            "Nguyễn văn Bố",
            "0912000001",
            "bo@example.vn",
        ],
    ]
    assert _run(runner, tmp_path, classes_xlsx(pupils, TEACHERS[:1])).exit_code == 0
    dad = db.session.scalar(sa.select(User).where(User.phone == "0912000001"))
    assert (dad.full_name, dad.email) == ("Nguyễn Văn Bố", "bo@example.vn")
    for _ in range(2):
        again = _run(runner, tmp_path, classes_xlsx(pupils, TEACHERS[:1]))
        assert again.stdout.strip().splitlines()[-1] == "created 0, updated 0, unchanged 3", again.output


def test_the_job_page_names_columns_by_their_vietnamese_header(app, make_client, run_jobs):
    """A problem names its column as the format's Vietnamese header (not `gender`) on the page."""

    primary, _secondary = _setup()
    staff = create_user("school_staff", school=primary)
    jobs.commit()
    client = make_client()
    client.login_as(staff)  # Vietnamese, the default
    bad = [list(r) for r in PUPILS if r[0] == "TH-A"]
    bad[0][5] = "X"  # gender
    resp = client.post(
        "/contactbook/import",
        data={
            "csrf_token": client.csrf("/contactbook/import"),
            "file": (BytesIO(classes_xlsx(bad, [r for r in TEACHERS if r[0] == "TH-A"])), "classes.xlsx"),
        },
        content_type="multipart/form-data",
    )
    assert resp.status_code == 302
    run_jobs()
    page = client.get(resp.headers["Location"]).get_data(as_text=True)
    assert "cột Giới tính:" in page and "cột gender" not in page
