"""Public form pages rendered once per language and served with the visitor's own CSRF token.

The login and sign-up pages are what every family opens first on opening day, and their
rendering (the layout, the form's fields, the privacy notice) cost more than all the rest of
the request. For a visitor who is not logged in, asking with a plain GET (no query string) and
with no message waiting to be shown, the page differs from one visitor to the next only by the
CSRF token, which is the session's own: so it is rendered once per (page, language, path) and
app, with the token marked, and each visitor gets the copy with their token in its place.

The code-entry page after signing up is served the same way: it also shows the visitor's masked
phone number, put in its place in the cached copy (`texts`).

Anything else (a logged-in account, a query string, a flashed message, a form posted back with
its errors) is rendered as before. Debug and template auto-reload render every time. The pages
hold nothing read from the database; their text changes only with a new deployment.
"""

from __future__ import annotations

from collections.abc import Callable

import flask_wtf.csrf
from flask import current_app, render_template, request, session
from flask_babel import get_locale
from flask_login import current_user
from markupsafe import escape

_MARK = "\x00csrf\x00"
_LIMIT = 64  # pages × languages × paths: a handful; bounded all the same


def _cacheable() -> bool:
    return (
        request.method == "GET"
        and not request.query_string
        and "_flashes" not in session
        and not current_user.is_authenticated
        and not current_app.debug
        and not current_app.jinja_env.auto_reload
    )


def marker(name: str) -> str:
    """A stand-in for a visitor's own text in a cached page (see `public_form_page`)."""
    return f"\x00{name}\x00"


def public_form_page(
    template: str, context: Callable[[], dict], texts: dict[str, str] | None = None
) -> str | None:
    """`template`'s cached copy with this visitor's CSRF token (rendered with `context()` the
    first time); None when this request must be rendered by the view as before.

    `texts`: the visitor's own short texts, by `marker(name)`: `context()` gives the markers in
    their place, and each visitor's copy has the texts (escaped) where the markers were."""
    if not _cacheable():
        return None
    # The visitor's token (a new session gets one here, as on any form page), looked up by name:
    # app.hotpath installs its reuse of the signature there.
    token = flask_wtf.csrf.generate_csrf()
    pages: dict = current_app.extensions.setdefault("public_form_pages", {})
    key = (template, str(get_locale()), request.script_root, request.path)
    page = pages.get(key)
    if page is None:
        page = render_template(template, **context()).replace(token, _MARK)
        if len(pages) >= _LIMIT:
            pages.clear()
        pages[key] = page
    page = page.replace(_MARK, token)
    for mark, text in (texts or {}).items():
        page = page.replace(mark, escape(text))
    return page
