"""run_file: the file entry point behind `flask admissions allocate-file IN.json OUT.json`."""

from __future__ import annotations

import io
import json

import pytest

from admissions import allocation
from admissions.allocation import allocate_instance
from admissions.allocation.file import EXIT_BAD_INPUT, EXIT_OK, EXIT_WRITE_FAILED, run_file

INSTANCE = {
    "format": "school-allocation-instance/1",
    "schools": [{"id": "TH-DICHVONG", "capacity": 1}, {"id": "TH-NGHIATAN", "capacity": 2}],
    "students": [
        {"id": "HS0001", "choices": ["TH-DICHVONG", "TH-NGHIATAN"], "catchment": "TH-DICHVONG",
         "sibling_schools": [], "lottery": 17},
        {"id": "HS0002", "choices": ["TH-DICHVONG"], "catchment": None, "sibling_schools": [],
         "lottery": 3},
        {"id": "HS0003", "choices": ["TH-NGHIATAN"], "catchment": None,
         "sibling_schools": ["TH-NGHIATAN"], "lottery": 5, "note": "unknown keys are ignored"},
    ],
}  # fmt: skip


def run(tmp_path, content: bytes | str, out_name="out.json"):
    src = tmp_path / "in.json"
    src.write_bytes(content.encode("utf-8") if isinstance(content, str) else content)
    out = tmp_path / out_name
    stdout, stderr = io.StringIO(), io.StringIO()
    code = run_file(src, out, stdout=stdout, stderr=stderr)
    return code, out, stdout.getvalue(), stderr.getvalue()


def leftovers(tmp_path):
    return sorted(p.name for p in tmp_path.iterdir() if p.name != "in.json")


def strip_seconds(result):
    result = dict(result)
    result["stats"] = {k: v for k, v in result["stats"].items() if k != "seconds"}
    return result


def test_valid_file_is_allocated(tmp_path):
    code, out, stdout, stderr = run(tmp_path, json.dumps(INSTANCE))
    assert code == EXIT_OK == 0
    assert stderr == ""
    written = json.loads(out.read_text("utf-8"))
    assert strip_seconds(written) == strip_seconds(allocate_instance(INSTANCE))
    # HS0001 is in TH-DICHVONG's catchment: class 0 beats HS0002's better lottery number
    assert written["assignment"] == {"HS0001": "TH-DICHVONG", "HS0002": None, "HS0003": "TH-NGHIATAN"}
    assert "allocated 2 of 3 students (1 unassigned) in 1 round -> " in stdout
    assert leftovers(tmp_path) == ["out.json"], "no temporary file left behind"


def test_output_replaces_an_existing_file(tmp_path):
    (tmp_path / "out.json").write_text("old")
    code, out, _, _ = run(tmp_path, json.dumps(INSTANCE))
    assert code == 0 and json.loads(out.read_text())["format"] == "school-allocation-result/1"


def test_byte_order_mark_and_unicode_ids(tmp_path):
    inst = json.loads(json.dumps(INSTANCE))
    inst["students"][0]["id"] = "Nguyễn Văn A"
    code, out, _, stderr = run(tmp_path, b"\xef\xbb\xbf" + json.dumps(inst, ensure_ascii=False).encode())
    assert code == 0, stderr
    assert "Nguyễn Văn A" in json.loads(out.read_text("utf-8"))["assignment"]


BAD_INPUTS = [
    ("not json", "{'format': 1}", "not valid JSON"),
    ("empty file", "", "not valid JSON"),
    ("truncated", json.dumps(INSTANCE)[:-5], "not valid JSON"),
    ("nan", json.dumps(INSTANCE).replace('"lottery": 3', '"lottery": NaN'), "not valid JSON"),
    ("not utf-8", b'{"format": "\xff"}', "not valid JSON: not UTF-8"),
    ("array", "[]", "instance: expected a JSON object, got list"),
    ("wrong format", json.dumps({**INSTANCE, "format": "x"}), 'instance: "format" must be'),
    ("unknown choice", json.dumps(INSTANCE).replace('["TH-DICHVONG"]', '["TH-X"]'),
     'student "HS0002": choice 1 "TH-X" is not a known school'),
    ("duplicate lottery", json.dumps(INSTANCE).replace('"lottery": 5', '"lottery": 3'),
     'student "HS0003": lottery 3 is also held by student "HS0002"'),
    ("huge lottery", json.dumps(INSTANCE).replace('"lottery": 5', '"lottery": 123456789012345678901234567890'),
     'student "HS0003": lottery 123456789012345678901234567890 is out of the 64-bit integer range'),
    ("negative capacity", json.dumps(INSTANCE).replace('"capacity": 2', '"capacity": -2'),
     'school "TH-NGHIATAN": capacity must be a non-negative integer, got -2'),
]  # fmt: skip


@pytest.mark.parametrize(("kind", "content", "message"), BAD_INPUTS, ids=[b[0] for b in BAD_INPUTS])
def test_bad_input_exits_2_and_writes_nothing(tmp_path, kind, content, message):
    code, out, stdout, stderr = run(tmp_path, content)
    assert code == EXIT_BAD_INPUT == 2
    assert message in stderr
    assert str(tmp_path / "in.json") in stderr
    assert stdout == ""
    assert not out.exists()
    assert leftovers(tmp_path) == []


def test_bad_input_leaves_an_existing_output_untouched(tmp_path):
    (tmp_path / "out.json").write_text("previous result")
    code, out, _, _ = run(tmp_path, "nope")
    assert code == 2 and out.read_text() == "previous result"


def test_missing_input_file(tmp_path):
    stderr = io.StringIO()
    code = run_file(tmp_path / "absent.json", tmp_path / "out.json", stderr=stderr)
    assert code == 2
    assert "absent.json: cannot read" in stderr.getvalue()
    assert list(tmp_path.iterdir()) == []


def test_unwritable_output(tmp_path):
    code, out, _, stderr = run(tmp_path, json.dumps(INSTANCE), out_name="missing-dir/out.json")
    assert code == EXIT_WRITE_FAILED == 1
    assert "cannot write" in stderr
    assert leftovers(tmp_path) == []


def test_run_file_is_reexported_from_allocation(tmp_path):
    src = tmp_path / "in.json"
    src.write_text(json.dumps(INSTANCE))
    assert allocation.run_file(src, tmp_path / "o.json") == 0
