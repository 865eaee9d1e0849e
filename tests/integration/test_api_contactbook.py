"""The contact book through the API: a school's class rosters and published grades (never the
drafts), by scope (another district's school: 404)."""

from __future__ import annotations

from app import jobs
from app.api.clients import create_client
from tests.contactbook_factories import add_grade


def bearer(**scope) -> dict:
    _client, token = create_client("school system", **scope)
    jobs.commit()
    return {"Authorization": f"Bearer {token}"}


def test_classes_and_published_grades_of_a_school(app, world, cb_world):
    cb = cb_world
    term1 = cb["terms_a"][0]
    add_grade(cb["child"], cb["math_a"], term1, "midterm", 8.5)
    add_grade(cb["child"], cb["math_a"], term1, "endterm", 9, status="draft")
    add_grade(cb["b_pupil"], cb["math_b"], cb["terms_b"][0], "midterm", 7)
    jobs.commit()
    school_a, school_b = world["schools"]
    own = bearer(school_id=school_a.id)
    http = app.test_client()

    classes = http.get(f"/api/v1/schools/{school_a.id}/classes", headers=own).get_json()
    assert [c["name"] for c in classes] == ["1A", "1B"]
    assert len(classes[0]["pupils"]) == 3 and len(classes[1]["pupils"]) == 1
    assert cb["child"].pupil_code in {p["pupil_code"] for p in classes[0]["pupils"]}

    grades = http.get(f"/api/v1/schools/{school_a.id}/grades", headers=own).get_json()
    assert [(g["pupil_code"], g["class_name"], g["subject"], g["kind"], g["score"]) for g in grades] == [
        (cb["child"].pupil_code, "1A", "Toán", "midterm", 8.5)
    ]  # the draft stays the teacher's
    assert http.get(f"/api/v1/schools/{school_a.id}/grades?term=2", headers=own).get_json() == []

    for url in (f"/api/v1/schools/{school_b.id}/classes", f"/api/v1/schools/{school_b.id}/grades"):
        assert http.get(url, headers=own).status_code == 404
        assert http.get(url, headers=bearer(district_id=world["districts"][0].id)).status_code == 404
        assert http.get(url, headers=bearer()).status_code == 200
