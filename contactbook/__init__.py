"""Electronic contact book: classes, grades, comments, attendance, messages, announcements."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from app.imports import register_import
from app.notifications import register_kind
from app.privacy import register_children, register_eraser, register_provider, register_retention
from app.security import mask_phone
from app.views import register_home_card

from .cli import contactbook_cli
from .demo import load_demo
from .imports import import_kinds
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
    app.extensions.setdefault("demo_loaders", []).append(load_demo)
    for kind in import_kinds():
        register_import(app, kind)
    register_kind("announcement", _l("School and office announcements"), order=10)
    register_kind(
        "contact_book", _l("Contact book: grades, comments, attendance"), about_child=True, order=30
    )
    register_kind("message", _l("Messages from teachers"), about_child=True, order=40)
    register_children(app, "contactbook", privacy_children)  # their own consent from age 7
    register_provider(app, "contactbook", privacy_sections)  # the parent's download
    register_retention(app, "contactbook", privacy_retention)  # old activation codes
    register_eraser(app, "contactbook", privacy_erase)  # account deletion
    register_home_card(
        app, _l("Contact book: grades, attendance, messages"), "contactbook_public.index", order=100
    )
