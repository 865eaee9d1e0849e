"""The load generator's form parsing (scripts/load/client.py): what a browser would post."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _client():
    spec = importlib.util.spec_from_file_location("load_client", ROOT / "scripts" / "load" / "client.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


PAGE = """<!doctype html><html><head><title>x</title></head><body>
<header><form method="post" action="/auth/logout"><input type="hidden" name="csrf_token" value="t1">
<button type="submit">Out</button></form></header>
<input name="stray" value="outside any form">
<main><FORM action="/apply" method="POST">
  <input type="hidden" name="csrf_token" value="t2">
  <select name="choice_1"><option value="">-</option><option value="7" selected>B</option></select>
  <input type="checkbox" name="agree" value="yes">
  <textarea name="note">a &amp; b</textarea>
  <input type="submit" name="go" value="Send">
</form></main></body></html>"""


def test_forms_are_read_as_a_browser_posts_them():
    client = _client()
    forms = client.forms_of(PAGE)
    assert [f.action for f in forms] == ["/auth/logout", "/apply"]
    apply = forms[1]
    assert apply.method == "post"
    assert "stray" not in apply.names
    assert apply.payload({"agree": True}) == "csrf_token=t2&choice_1=7&note=a+%26+b&agree=yes"
    assert client.form_with(PAGE, "choice_1", "apply").action == "/apply"
