"""The population registry adapter: its client's answers, and adding a child whose record the
registry holds (a fresher address and name than the roster's; the registry down or not confirming).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

import pytest
import sqlalchemy as sa

from admissions.models import AdmissionCode, Child
from admissions.registry import RegistryClient, RegistryUnavailable
from app.models import District
from tests.admissions_parent_cases import add_child, register, text


class _Registry(BaseHTTPRequestHandler):
    records: dict = {}
    delay = 0.0

    def do_GET(self):  # noqa: N802 - http.server API
        time.sleep(self.delay)
        parts = urlsplit(self.path)
        pid = parts.path.rsplit("/", 1)[-1]
        dob = parse_qs(parts.query).get("date_of_birth", [""])[0]
        if pid == "500500500500":
            self.send_response(500)
            self.end_headers()
            return
        if pid == "777777777777":
            body = b"not json"
        else:
            record = self.records.get(pid)
            if record is None or record["date_of_birth"] != dob:
                self.send_response(404)
                self.end_headers()
                return
            body = json.dumps(record).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def registry_server():
    handler = type("Handler", (_Registry,), {"records": {}, "delay": 0.0})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server, handler, f"http://127.0.0.1:{server.server_address[1]}/api"
    server.shutdown()
    server.server_close()


def test_registry_client_answers(registry_server):
    _server, handler, url = registry_server
    handler.records["001220012345"] = {
        "personal_id": "001220012345",
        "full_name": "Phạm Minh Khang",
        "date_of_birth": "2020-03-04",
        "gender": "male",
        "district": "Quận X",
        "ward": "Phường Y",
        "residential_group": "Tổ 2",
        "residence_type": "temporary",
    }
    client = RegistryClient(url, timeout=2)
    rec = client.lookup("001220012345", date(2020, 3, 4))
    assert rec is not None and rec.full_name == "Phạm Minh Khang" and rec.residential_group == "Tổ 2"
    assert client.lookup("001220012345", date(2020, 3, 5)) is None  # wrong birth date: 404
    assert client.lookup("001220099999", date(2020, 3, 4)) is None
    with pytest.raises(RegistryUnavailable):
        client.lookup("500500500500", date(2020, 3, 4))
    with pytest.raises(RegistryUnavailable):
        client.lookup("777777777777", date(2020, 3, 4))
    handler.delay = 0.5
    with pytest.raises(RegistryUnavailable):
        RegistryClient(url, timeout=0.1).lookup("001220012345", date(2020, 3, 4))
    with pytest.raises(ValueError):
        RegistryClient("file:///etc/passwd")


def test_add_child_through_the_registry(client, db, app, season_world, registry_server):
    _server, handler, url = registry_server
    area = season_world["area"]
    roster = area.children[0]
    code = season_world["codes"][roster.id]
    district = db.session.get(District, area.district.id)
    # The registry knows a fresher address: ward W2 (no group) and a corrected name.
    handler.records[roster.personal_id] = {
        "personal_id": roster.personal_id,
        "full_name": "Tên Mới Đúng",
        "date_of_birth": roster.date_of_birth.isoformat(),
        "gender": roster.gender,
        "district": district.name,
        "ward": area.ward2.name,
        "residential_group": None,
        "residence_type": "temporary",
    }
    app.config["REGISTRY_URL"] = url
    register(client, "0986666666")
    # a birth date the registry does not confirm counts as a failure
    resp = add_child(client, code.code, roster, dob=roster.date_of_birth + timedelta(days=1))
    assert "do not match" in text(resp)
    assert add_child(client, code.code, roster).status_code == 302
    child = db.session.scalar(sa.select(Child))
    assert (
        child.full_name,
        child.ward_id,
        child.residential_group_id,
        child.residence_type,
        child.source,
    ) == ("Tên Mới Đúng", area.ward2.id, None, "temporary", "registry")
    # the catchment follows the registry's address
    assert area.other.name in text(client.get(f"/children/{child.id}"))
    # registry down: a clear message, and the attempt is not counted
    app.config["REGISTRY_URL"] = "http://127.0.0.1:9/"  # nothing listens on the discard port
    second = area.children[1]
    resp = add_child(client, season_world["codes"][second.id].code, second)
    assert "does not answer" in text(resp)
    db.session.expire_all()
    assert db.session.get(AdmissionCode, season_world["codes"][second.id].id).failed_attempts == 0
