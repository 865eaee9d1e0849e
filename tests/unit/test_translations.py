"""The Vietnamese catalog covers every source string and stays well-formed.

Fast and self-contained: no app, no database. Extraction runs in-process with the
same options as scripts/i18n (keep KEYWORDS in step with that script).
"""

from __future__ import annotations

import io
import re
import unicodedata
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from babel.messages.frontend import CommandLineInterface
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

import app.i18n as i18n

ROOT = Path(__file__).resolve().parents[2]
PO_PATH = ROOT / "app" / "translations" / "vi" / "LC_MESSAGES" / "messages.po"
KEYWORDS = ["_l", "lazy_gettext", "lazy_ngettext:1,2", "N_"]

# %(name)s, %(n)d, %(x)05.2f ... (named printf-style placeholders)
PLACEHOLDER = re.compile(r"%\((\w+)\)[#0 +\-]*(?:\d+|\*)?(?:\.(?:\d+|\*))?[diouxXeEfFgGcrsa]")


def _ids(message):
    return message.id if isinstance(message.id, tuple) else (message.id,)


def _strings(message):
    return message.string if isinstance(message.string, tuple) else (message.string,)


def _placeholders(text: str) -> list[str]:
    return sorted(m.group(0) for m in PLACEHOLDER.finditer(text))


@pytest.fixture(scope="module")
def catalog():
    with PO_PATH.open("rb") as f:
        return read_po(f, locale="vi")


@pytest.fixture(scope="module")
def extracted(tmp_path_factory):
    pot = tmp_path_factory.mktemp("i18n") / "messages.pot"
    argv = ["pybabel", "-q", "extract", "-F", str(ROOT / "babel.cfg")]
    for keyword in KEYWORDS:
        argv += ["-k", keyword]
    argv += ["--no-location", "-o", str(pot), str(ROOT)]
    CommandLineInterface().run(argv)
    with pot.open("rb") as f:
        return read_po(f)


def test_every_source_string_is_translated(extracted, catalog):
    missing = []
    for message in extracted:
        if not message.id:
            continue
        entry = catalog.get(message.id, message.context)
        if entry is None or entry.fuzzy or not all(s and s.strip() for s in _strings(entry)):
            missing.append(_ids(message)[0])
    assert not missing, (
        f"{len(missing)} msgid(s) lack a Vietnamese translation "
        "(run scripts/i18n extract and translate app/translations/vi/LC_MESSAGES/messages.po):\n  "
        + "\n  ".join(repr(m) for m in missing)
    )


def test_no_fuzzy_or_empty_entries(catalog):
    assert not catalog.fuzzy, "the catalog header is marked fuzzy; pybabel compile would skip it"
    bad = [_ids(m)[0] for m in catalog if m.id and (m.fuzzy or not all(_strings(m)))]
    assert not bad, "fuzzy or empty entries in vi/messages.po:\n  " + "\n  ".join(map(repr, bad))


def test_plural_forms_header(catalog):
    assert catalog.num_plurals == 1
    assert catalog.plural_expr.strip() == "0"


def test_placeholders_are_kept(catalog):
    problems = []
    for message in catalog:
        if not message.id:
            continue
        expected = _placeholders(_ids(message)[-1])
        for string in _strings(message):
            if string and _placeholders(string) != expected:
                problems.append(f"{_ids(message)[0]!r}: expected {expected}, got {_placeholders(string)}")
    assert not problems, "placeholders differ between msgid and msgstr:\n  " + "\n  ".join(problems)


def test_translations_are_nfc(catalog):
    bad = [
        _ids(m)[0]
        for m in catalog
        if m.id and any(s and unicodedata.normalize("NFC", s) != s for s in _strings(m))
    ]
    assert not bad, "msgstr not in Unicode NFC form:\n  " + "\n  ".join(map(repr, bad))


def test_catalog_compiles(catalog):
    errors = [f"{_ids(m)[0]!r}: {'; '.join(map(str, errs))}" for m, errs in catalog.check()]
    assert not errors, "catalog check failed:\n  " + "\n  ".join(errors)
    buf = io.BytesIO()
    write_mo(buf, catalog)
    assert len(buf.getvalue()) > 0


def test_local_today_is_the_date_in_hanoi_not_on_the_server_clock(monkeypatch):
    """23:30 UTC on 22 Nov is 06:30 on 23 Nov in Hanoi: the morning's attendance is for the 23rd."""

    instant = datetime(2026, 11, 22, 23, 30, tzinfo=UTC)

    class Clock(datetime):
        @classmethod
        def now(cls, tz=None):
            return instant.astimezone(tz)

    monkeypatch.setattr(i18n, "datetime", Clock)
    assert i18n.local_today() == date(2026, 11, 23)
