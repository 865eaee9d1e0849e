"""Personal-data rights: the versioned privacy notice, consents per purpose (docs/privacy.md).

The platform names no area: each area tells it, from its register(app), which of a parent's
children it processes (`register_children(app, name, fn)`, fn(user) → list of `Child`), so that
the parent can record a child's own consent from the age the law sets.
"""

from __future__ import annotations

from flask import Flask
from flask_babel import lazy_gettext as _l

from ..extensions import db
from ..models import Role
from ..views import register_home_card
from . import models  # noqa: F401 - registers the tables
from .children import Child, register_children
from .consent import notice_accepted, notice_version
from .models import Consent
from .views import bp

__all__ = ["Child", "register", "register_children", "notice_accepted", "notice_version", "record"]

NOTICE_VERSIONS = ("2026-12-01",)  # templates/privacy/notice_<version>_<lang>.html


def record(user_id: int, purpose: str) -> None:
    """Record a new account's consent to `purpose` under the current notice (its form ticked the
    box): one INSERT, the row is its own record (the account's creation is audited already)."""
    db.session.add(Consent(user_id=user_id, purpose=purpose, notice_version=notice_version()))


def register(app: Flask) -> None:
    app.config.setdefault("PRIVACY_NOTICE_VERSION", NOTICE_VERSIONS[-1])
    app.config.setdefault("PRIVACY_CHILD_CONSENT_AGE", 7)
    app.register_blueprint(bp)
    app.add_template_global(notice_version, "privacy_version")
    register_home_card(
        app, _l("Your personal data and consents"), "privacy.account", roles=(Role.PARENT,), order=850
    )
