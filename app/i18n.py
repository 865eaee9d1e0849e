"""Language choice and formatting: Vietnamese by default, English on request, Asia/Ho_Chi_Minh."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from flask import current_app, g, has_app_context, session
from flask.globals import _cv_app  # the app context itself, without its proxy
from flask_babel import Domain, format_decimal, get_translations
from flask_login import current_user
from jinja2 import pass_context
from markupsafe import Markup


def N_(msgid: str) -> str:
    """Marks an English msgid kept in a plain string and translated where it is shown (with
    `_()` or `gettext`): the extractor finds it (`scripts/i18n` passes `-k N_`), the code gets
    the string unchanged."""
    return msgid


def select_locale() -> str:
    lang = session.get("lang")
    if lang in current_app.config["LANGUAGES"]:
        return lang
    if current_user and getattr(current_user, "is_authenticated", False) and current_user.locale:
        return current_user.locale
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["BABEL_DEFAULT_TIMEZONE"]


def local_today() -> date:
    """Today where the schools are (BABEL_DEFAULT_TIMEZONE), not on the server's clock: from 00:00
    to 07:00 in Hanoi a server on UTC is still on the day before, the very hours when homeroom
    teachers take the morning's attendance."""
    tz = current_app.config["BABEL_DEFAULT_TIMEZONE"] if has_app_context() else "Asia/Ho_Chi_Minh"
    return datetime.now(ZoneInfo(tz)).date()


def filesize(size: int | None) -> str:
    """A file's size as people read it, in the current language: 512 B, 38 KB, 2,4 MB."""
    size = size or 0
    if size < 1024:
        return f"{size} B"
    if size < 1024 * 1024:
        return f"{format_decimal(round(size / 1024))} KB"
    return f"{format_decimal(round(size / (1024 * 1024), 1))} MB"


def translations():
    """The request's translations, looked up once per request: each of a page's dozens of
    `_()` in templates otherwise walks Flask-Babel's context, domain, locale and catalog cache
    again. Kept where Flask-Babel keeps its own per-request state, so that `refresh()` and
    `force_locale()` (which drop it) still take effect at once; a first lookup goes through the
    app's domain (`RequestDomain`, which keeps what it found there)."""
    kept = _kept()
    return kept if kept is not None else get_translations()


def _kept():
    """The translations this request found already, or None."""
    app_ctx = _cv_app.get(None)  # the app context itself: `g` and has_app_context() each resolve it again
    ctx = app_ctx.g.get("_flask_babel") if app_ctx is not None else None
    return getattr(ctx, "babel_translations", None)


class RequestDomain(Domain):
    """Flask-Babel's default domain, its translations looked up once per request (as
    `translations()`): every lazy string shown (form labels, home cards) otherwise walks the
    context, the domain, the locale and the catalog cache again."""

    def get_translations(self):
        kept = _kept()
        if kept is not None:
            return kept
        found = super().get_translations()
        ctx = g.get("_flask_babel") if has_app_context() else None
        if ctx is not None:
            ctx.babel_translations = found
        return found


def install_template_gettext(app, babel) -> None:
    """Templates' `_()`, `gettext()`, `ngettext()`, `pgettext()` and `npgettext()` through
    `translations()` (replacing Flask-Babel's, which look everything up again on every call);
    `_()` and `gettext()` called directly (Jinja's newstyle wrappers go through two more
    context calls each), with the same result: translated, marked safe when autoescaping, and
    formatted with its variables (escaped). Lazy strings use `RequestDomain`."""
    app.jinja_env.install_gettext_callables(
        gettext=lambda s: translations().ugettext(s),
        ngettext=lambda s, p, n: translations().ungettext(s, p, n),
        pgettext=lambda c, s: translations().upgettext(c, s),
        npgettext=lambda c, s, p, n: translations().unpgettext(c, s, p, n),
        newstyle=True,
    )

    @pass_context
    def gettext(__context, __string: str, **variables):
        rv = translations().ugettext(__string)
        if __context.eval_ctx.autoescape:
            rv = Markup(rv)  # noqa: S704 - the catalog's own text, as Jinja marks it; variables are escaped by %
        # Formatting a text without "%" and no variables gives the text itself: skipped (most
        # of a page's `_()`; Markup's % costs more than the lookup).
        return rv % variables if variables or "%" in rv else rv

    app.jinja_env.globals.update(gettext=gettext, _=gettext)
    babel.domain_instance = RequestDomain(domain=app.config.get("BABEL_DOMAIN", "messages"))
