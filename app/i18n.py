"""Language choice and formatting: Vietnamese by default, English on request, Asia/Ho_Chi_Minh."""
from __future__ import annotations

from flask import current_app, session
from flask_login import current_user


def select_locale() -> str:
    lang = session.get("lang")
    if lang in current_app.config["LANGUAGES"]:
        return lang
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.locale:
        return current_user.locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]
