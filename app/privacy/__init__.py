"""Personal-data rights: the versioned privacy notice, consents per purpose (docs/privacy.md).

The platform names no area: each area tells it, from its register(app), which of a parent's
children it processes (`register_children(app, name, fn)`, fn(user) → list of `Child`), so that
the parent can record a child's own consent from the age the law sets.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from ..audit import action_words, register_wording
from ..auth.devices import device_label
from ..auth.lifecycle import role_labels
from ..extensions import db
from ..i18n import N_
from ..models import Role
from ..notifications.kinds import KIND_LABELS
from ..views import register_home_card
from . import models  # noqa: F401 - registers the tables
from .children import Child, register_children
from .cli import privacy_cli
from .consent import LABELS, notice_accepted, notice_version
from .corrections import AUDIT_ACTIONS
from .deletion import Item, register_eraser
from .downloads import ACCESS_LOG, access_log, register_provider, section
from .models import Consent
from .reading import register_reading
from .retention import Removal, register_retention
from .views import bp

__all__ = [
    "Child",
    "access_log",
    "register",
    "register_children",
    "register_provider",
    "register_retention",
    "register_eraser",
    "register_reading",
    "Item",
    "Removal",
    "section",
    "notice_accepted",
    "notice_version",
    "record",
]

NOTICE_VERSIONS = ("2026-12-01",)  # templates/privacy/notice_<version>_<lang>.html


def record(user_id: int, purpose: str) -> None:
    """Record a new account's consent to `purpose` under the current notice (its form ticked the
    box): one INSERT, the row is its own record (the account's creation is audited already)."""
    db.session.add(Consent(user_id=user_id, purpose=purpose, notice_version=notice_version()))


def register(app: Flask) -> None:
    app.config.setdefault("PRIVACY_NOTICE_VERSION", NOTICE_VERSIONS[-1])
    app.config.setdefault("PRIVACY_CHILD_CONSENT_AGE", 7)
    app.config.setdefault("PRIVACY_EXPORT_DAYS", 7)
    app.config.setdefault("PRIVACY_ANSWER_HOURS", 72)
    app.config.setdefault("PRIVACY_ADMISSION_RECORD_YEARS", 5)
    register_wording(actions=AUDIT_ACTIONS)
    register_reading(
        fields={
            "device": N_("Device"),
            "last_success_at": N_("Last notification received"),
            ("Consents", "subject"): N_("Child's record code"),
        },
        words={
            "role": lambda v: role_labels().get(v, v),
            "purpose": lambda v: LABELS.get(v, v),
            ("Notifications", "kind"): lambda v: KIND_LABELS.get(v, v),
            (ACCESS_LOG, "action"): action_words,
            "device": device_label,
        },
    )
    for key, days in (
        ("PRIVACY_SESSION_DAYS", 90),
        ("PRIVACY_CODE_DAYS", 30),
        ("PRIVACY_NOTIFICATION_DAYS", 730),
    ):
        app.config.setdefault(key, days)
    app.cli.add_command(privacy_cli)
    app.register_blueprint(bp)
    app.add_template_global(notice_version, "privacy_version")
    register_home_card(
        app, _l("Your personal data and consents"), "privacy.account", roles=(Role.PARENT,), order=850
    )
    register_home_card(
        app,
        _l("Personal-data requests: corrections"),
        "privacy.queue",
        roles=(Role.CITY_ADMIN, Role.DISTRICT_OFFICER),
        order=860,
    )
