"""Electronic contact book: classes, grades, comments, attendance, messages, announcements."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.api import register_blueprint as register_api
from app.audit import register_wording
from app.imports import register_import
from app.models import Role
from app.notifications import register_kind, register_read_hook
from app.privacy import (
    register_children,
    register_eraser,
    register_provider,
    register_reading,
    register_retention,
)
from app.security import mask_phone
from app.views import register_home_card

from . import api
from .announcements import read_in_inbox
from .cli import contactbook_cli
from .demo import load_demo
from .imports import import_kinds
from .privacy import READING as PRIVACY_READING
from .privacy import children as privacy_children
from .privacy import erase as privacy_erase
from .privacy import retention as privacy_retention
from .privacy import sections as privacy_sections
from .views import BLUEPRINTS


def register(app) -> None:
    """Plug the area into the app (called by create_app only)."""
    for bp in BLUEPRINTS:
        app.register_blueprint(bp)
    app.add_template_global(mask_phone, "mask_phone")  # guardians' numbers, masked, on class lists
    # Parents created from class lists activate their account instead of registering again.
    app.config.setdefault("ACCOUNT_ACTIVATION_ENDPOINT", "contactbook_public.activate")
    app.cli.add_command(contactbook_cli)
    register_api(app, api.blp)
    app.extensions.setdefault("demo_loaders", []).append(load_demo)
    for kind in import_kinds():
        register_import(app, kind)
    register_kind("announcement", _l("School and office announcements"), order=10)
    register_kind(
        "contact_book", _l("Contact book: grades, comments, attendance"), about_child=True, order=30
    )
    register_kind("message", _l("Messages from teachers"), about_child=True, order=40)
    register_read_hook("announcement", read_in_inbox)  # an opened inbox item opens the announcement
    register_children(app, "contactbook", privacy_children)  # their own consent from age 7
    register_provider(app, "contactbook", privacy_sections)  # the parent's download
    register_reading(**PRIVACY_READING)  # its readable document's words
    register_retention(app, "contactbook", privacy_retention)  # old activation codes
    register_eraser(app, "contactbook", privacy_erase)  # account deletion
    register_home_card(
        app, _l("Contact book: grades, attendance, messages"), "contactbook_public.index", order=100
    )
    register_home_card(
        app,
        _l("Send an urgent notice (closure, incident)"),
        "contactbook_urgent.new",
        roles=(Role.SCHOOL_STAFF, Role.DISTRICT_OFFICER),
        order=105,
    )
    register_wording(
        actions={
            "contactbook.urgent_notice": _l("Sent an urgent notice"),
            "contactbook.primary_evaluation": _l("Saved the qualities and competences of a class"),
            "contactbook.primary_results.confirm": _l("Confirmed the year results of a primary class"),
        },
        targets={"cb_announcement": _l("School notice")},
        fields={
            "families": _l("Families"),
            "sms": _l("SMS"),
            "schools": _l("Schools"),
            "class_ids": _l("Classes"),
            "announcement_ids": _l("Announcements"),
        },
    )
