"""A parent's download: asked for on the account page, built by a job (through the outbox) with
its progress shown, everything about the parent and each child (account, consents,
notifications, contact book, who among the staff viewed the record) as JSON and as a readable
document, for its owner only, until it expires."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import sqlalchemy as sa

from app import jobs
from app.audit import audit
from app.extensions import db
from app.models import utcnow
from app.notifications import notify
from app.privacy.models import DataRequest
from tests.factories import create_user

pytest_plugins = ["tests.contactbook_factories"]


def _ask(client) -> int:
    resp = client.post_form("/privacy/downloads", {}, token_from="/privacy/")
    assert resp.status_code == 302
    return int(re.search(r"/privacy/downloads/(\d+)$", resp.headers["Location"]).group(1))


def test_parent_downloads_everything_about_her_and_her_child(app, world, cb_world, make_client, run_jobs):
    parent = world["users"]["parent"]
    child = cb_world["child"]
    teacher = world["users"]["teacher"]
    audit("contactbook.view_roster", cb_world["a1"], actor_id=teacher.id)
    notify("announcement", [parent.id], {"title": "Họp phụ huynh đầu năm"})
    jobs.commit()

    c = make_client()
    c.login_as(parent)
    assert "Chuẩn bị bản tải về" in c.get("/privacy/").get_data(as_text=True)
    rid = _ask(c)
    run_jobs()
    page = c.get(f"/privacy/downloads/{rid}").get_data(as_text=True)
    assert "100%" in page or "Đã xong" in page
    data = c.get(f"/privacy/downloads/{rid}/data.json")
    assert data.status_code == 200 and "attachment" in data.headers["Content-Disposition"]
    doc = json.loads(data.get_data(as_text=True))
    titles = [(s["title"], s["about"]) for s in doc["sections"]]
    assert ("Account", None) in titles and ("Consents", None) in titles and ("Notifications", None) in titles
    assert ("Grades", child.full_name) in titles and ("Attendance", child.full_name) in titles
    account = next(s for s in doc["sections"] if s["title"] == "Account")["rows"][0]
    assert account["phone"] == parent.phone
    notes = next(s for s in doc["sections"] if s["title"] == "Notifications")["rows"]
    assert any(n["title"] == "Họp phụ huynh đầu năm" for n in notes)
    log = next(
        s
        for s in doc["sections"]
        if s["title"].startswith("Who at the school") and s["about"] == child.full_name
    )
    assert [(r["action"], r["by"]) for r in log["rows"]] == [("contactbook.view_roster", teacher.full_name)]
    # Nothing about another family's child.
    assert cb_world["b_pupil"].full_name not in data.get_data(as_text=True)

    readable = c.get(f"/privacy/downloads/{rid}/document").get_data(as_text=True)
    assert child.full_name in readable and "Điểm" in readable

    # Only its owner: another parent gets 404 for the page and the files.
    other = make_client()
    other.login_as(cb_world["b_parent"])
    for path in ("", "/data.json", "/document"):
        assert other.get(f"/privacy/downloads/{rid}{path}").status_code == 404

    # Expired: the files are gone (410), the page says to ask again.
    row = db.session.get(DataRequest, rid)
    assert row.expires_at - row.ready_at == timedelta(days=7)
    row.expires_at = utcnow() - timedelta(seconds=1)
    jobs.commit()
    assert c.get(f"/privacy/downloads/{rid}/data.json").status_code == 410
    assert c.get(f"/privacy/downloads/{rid}/document").status_code == 410
    assert "hết hạn" in c.get(f"/privacy/downloads/{rid}").get_data(as_text=True)


def test_progress_is_shown_before_the_job_runs(app, world, make_client):
    parent = create_user("parent")
    jobs.commit()
    row = DataRequest(user_id=parent.id, status="running", progress=40)
    db.session.add(row)
    jobs.commit()
    c = make_client()
    c.login_as(parent)
    page = c.get(f"/privacy/downloads/{row.id}").get_data(as_text=True)
    assert 'value="40"' in page and 'http-equiv="refresh"' in page
    assert c.get(f"/privacy/downloads/{row.id}/data.json").status_code == 410
    assert db.session.scalar(sa.select(sa.func.count()).select_from(DataRequest)) == 1
