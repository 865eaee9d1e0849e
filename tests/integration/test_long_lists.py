"""Long lists page and search instead of being cut: the contact book's
schools, the staff accounts, a school's pupils."""

from __future__ import annotations

import re

from app import jobs
from tests.contactbook_factories import create_class, create_pupil, create_year
from tests.factories import create_district, create_school, create_user


def _client(make_client, user):
    client = make_client()
    client.login_as(user)
    client.post_form("/lang", {"lang": "en"}, token_from="/home")
    return client


def _school_links(body):
    return re.findall(r'href="/contactbook/schools/\d+">([^<]+)</a>', body)


def test_schools_page_and_search(app, make_client):
    district = create_district()
    for i in range(60):
        create_school(district, code=f"TH-{i:03d}", name=f"Trường Tiểu học Số {i:03d}")
    admin = create_user("city_admin")
    jobs.commit()
    client = _client(make_client, admin)

    first = client.get("/contactbook/schools").get_data(as_text=True)
    assert len(_school_links(first)) == 50 and 'href="/contactbook/schools?page=2"' in first
    second = client.get("/contactbook/schools?page=2").get_data(as_text=True)
    assert len(_school_links(second)) == 10 and 'rel="next"' not in second and "Page 2" in second
    names = set(_school_links(first)) | set(_school_links(second))
    assert len(names) == 60  # nothing cut, nothing twice

    found = client.get("/contactbook/schools?q=th-007").get_data(as_text=True)
    assert _school_links(found) == ["Trường Tiểu học Số 007"]
    # Every word must appear: "05" is in 005 and in 050…059.
    assert _school_links(client.get("/contactbook/schools?q=Số+05").get_data(as_text=True)) == [
        "Trường Tiểu học Số 005",
        *(f"Trường Tiểu học Số 05{i}" for i in range(10)),
    ]
    for odd in ("?q=%25", "?q=_", "?page=abc", "?page=99999999999999999999", "?page=-3"):
        resp = client.get("/contactbook/schools" + odd)
        assert resp.status_code == 200, odd
    assert "No school matches this search." in client.get("/contactbook/schools?q=%25").get_data(as_text=True)


def test_staff_accounts_search(app, make_client):
    admin = create_user("city_admin", full_name="Quản Trị Viên")
    create_user("teacher", full_name="Phạm Thị Lan", email="lan@example.edu.vn")
    create_user("teacher", full_name="Đỗ Văn Hùng", email="hung@example.edu.vn")
    jobs.commit()
    client = _client(make_client, admin)
    body = client.get("/admin/users?q=lan").get_data(as_text=True)
    assert "Phạm Thị Lan" in body and "Đỗ Văn Hùng" not in body
    body = client.get("/admin/users?q=hung%40example").get_data(as_text=True)
    assert "Đỗ Văn Hùng" in body and "Phạm Thị Lan" not in body
    assert "No account matches this search." in client.get("/admin/users?q=zzz").get_data(as_text=True)


def test_a_schools_pupils_search_and_page(app, make_client):
    school = create_school(create_district())
    create_year()
    c1 = create_class(school, "1A")
    c2 = create_class(school, "1B")
    for i in range(55):
        create_pupil(c1 if i % 2 else c2, code=f"HS{i:03d}", full_name=f"Nguyễn Văn Minh {i:03d}")
    create_pupil(c2, code="HS900", full_name="Trần Thị Bình")
    staff = create_user("school_staff", school=school)
    other = create_school(create_district())
    stranger = create_pupil(create_class(other, "1A"), code="HS901", full_name="Trần Thị Bình Khác")
    jobs.commit()
    client = _client(make_client, staff)
    url = f"/contactbook/schools/{school.id}"

    body = client.get(url + "?q=bình").get_data(as_text=True)
    assert "Trần Thị Bình" in body and "Class 1B" in body and stranger.full_name not in body
    assert "HS900" in client.get(url + "?q=hs900").get_data(as_text=True)
    first = client.get(url + "?q=minh").get_data(as_text=True)
    assert first.count("Nguyễn Văn Minh") == 50 and f'href="{url}?page=2&amp;q=minh"' in first
    second = client.get(url + "?q=minh&page=2").get_data(as_text=True)
    assert second.count("Nguyễn Văn Minh") == 5
    assert "No pupil matches this search." in client.get(url + "?q=zzz").get_data(as_text=True)
