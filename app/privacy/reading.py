"""The download as a person reads it: the JSON keeps plain values under English keys; the
readable document gives each key its label, each coded value its words and each date the
Vietnamese form (dd/mm/yyyy, local time), in the reader's language. The platform and each area
register their words (`register_reading`, from register(app)), like the audit page's."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime

from flask_babel import format_datetime, gettext

from ..i18n import N_

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?([+-]\d{2}:\d{2}|Z)?$")

# key → English msgid (translated when shown); (section title, key) → … where a key means another thing
_FIELDS: dict[object, str] = {
    "full_name": N_("Full name"),
    "phone": N_("Phone"),
    "email": N_("Email"),
    "role": N_("Role"),
    "language": N_("Language"),
    "created_at": N_("Created on"),
    "last_login_at": N_("Last signed in"),
    "purpose": N_("Purpose"),
    "subject": N_("Subject"),
    "child": N_("Child"),
    "notice_version": N_("Notice version"),
    "given_at": N_("Given on"),
    "withdrawn_at": N_("Withdrawn on"),
    "at": N_("Time"),
    "kind": N_("Type"),
    ("Notifications", "kind"): N_("Kind"),
    "title": N_("Title"),
    "child_name": N_("Child"),
    "channel": N_("Channel"),
    "status": N_("Status"),
    "action": N_("What was done"),
    "by": N_("By"),
}
# key → coded value → English msgid; (section title, key) → … where a key means another thing
_VALUES: dict[object, dict[str, str]] = {
    "language": {"vi": N_("Vietnamese"), "en": N_("English")},
    "gender": {"male": N_("Male"), "female": N_("Female")},
    "channel": {"in_app": N_("In the app"), "email": N_("Email"), "sms": N_("SMS"), "push": N_("Push")},
    ("Notifications", "status"): {
        "queued": N_("Waiting to be sent"),
        "sending": N_("Being sent"),
        "sent": N_("Sent"),
        "failed": N_("Failed"),
    },
}
# key → fn(value) → words, for words that live elsewhere (roles, purposes, audit actions)
_WORDS: dict[object, object] = {}


def register_reading(
    *, fields: dict | None = None, values: dict | None = None, words: dict | None = None
) -> None:
    """Labels of keys, words of coded values and functions giving words, each keyed by the key or
    by (section title, key) where a key means something else in that section."""
    _FIELDS.update(fields or {})
    for key, mapping in (values or {}).items():
        _VALUES.setdefault(key, {}).update(mapping)
    _WORDS.update(words or {})


@dataclass
class Part:
    title: str
    about: str | None
    headers: list[str]
    rows: list[list[str]]


def label(title: str, key: str) -> str:
    msgid = _FIELDS.get((title, key)) or _FIELDS.get(key)
    return gettext(msgid) if msgid else key.replace("_", " ")


def when(value) -> str:
    """A date or time (or its ISO text) as read in Vietnam: 05/12/2026, 14:30 05/12/2026."""
    if isinstance(value, str):
        if _DATE.match(value):
            value = date.fromisoformat(value)
        elif _TIME.match(value):
            value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    if isinstance(value, datetime):
        return format_datetime(value, "HH:mm dd/MM/yyyy")
    if isinstance(value, date):
        return value.strftime("%d/%m/%Y")
    return str(value)


def value(title: str, key: str, raw) -> str:
    if raw is None or raw == "":
        return "—"
    if isinstance(raw, bool):
        return gettext("yes") if raw else gettext("no")
    fn = _WORDS.get((title, key)) or _WORDS.get(key)
    if fn is not None:
        return str(fn(raw))
    words = _VALUES.get((title, key)) or _VALUES.get(key) or {}
    if isinstance(raw, str) and raw in words:
        return gettext(words[raw])
    if isinstance(raw, str):
        return when(raw)
    if isinstance(raw, float):
        return f"{raw:g}".replace(".", ",")
    return str(raw)


def readable(doc: dict) -> list[Part]:
    """The document's sections with translated titles, labelled columns and words for values."""
    parts = []
    for s in doc.get("sections", []):
        rows = s.get("rows") or []
        keys = list(rows[0].keys()) if rows else []
        parts.append(
            Part(
                gettext(s["title"]),
                s.get("about"),
                [label(s["title"], k) for k in keys],
                [[value(s["title"], k, r.get(k)) for k in keys] for r in rows],
            )
        )
    return parts
