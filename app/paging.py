"""Long lists: one page at a time, with a search box, never cut silently.

`page_arg()` and `search_arg()` read `?page=` and `?q=` (clamped and cleaned), `contains()` builds
a case-insensitive LIKE on several columns that works on SQLite and PostgreSQL, and `paginate()`
runs a SELECT for one page, telling whether another page follows."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from flask import request

from .extensions import db

# The largest page number a list accepts: beyond every list's end, and small enough that
# OFFSET = (page - 1) × page size stays far inside a 64-bit integer (page=10**25 was a 500).
MAX_PAGE = 100_000
MAX_SEARCH = 60


def page_number(value) -> int:
    """A page number from a query string or a form: 1 … MAX_PAGE; anything else is page 1
    (or the last page allowed)."""
    try:
        page = int(str(value).strip()) if value is not None else 1
    except ValueError:
        return 1
    return min(max(page, 1), MAX_PAGE)


def page_arg(name: str = "page", source=None) -> int:
    """The page asked for in the current request's query string (or in `source`, e.g. a form)."""
    return page_number((request.args if source is None else source).get(name))


def search_arg(name: str = "q") -> str:
    """The search text: spaces collapsed, control characters dropped, at most MAX_SEARCH long."""
    raw = request.args.get(name, "")
    text = "".join(ch for ch in raw if ch.isprintable())
    return " ".join(text.split())[:MAX_SEARCH]


def contains(term: str, *columns) -> sa.ColumnElement[bool]:
    """Every word of `term` appears in one of `columns` (case-insensitive; % and _ are literal)."""
    words = term.split()
    return sa.and_(*(sa.or_(*(c.icontains(w, autoescape=True) for c in columns)) for w in words))


@dataclass
class Page:
    items: list
    page: int
    has_next: bool

    @property
    def has_prev(self) -> bool:
        return self.page > 1


def paginate(query: sa.Select, page: int, per_page: int, *, scalars: bool = True) -> Page:
    """One page of `query` (already ordered, with a unique last sort key)."""
    q = query.limit(per_page + 1).offset((page - 1) * per_page)
    rows = list(db.session.scalars(q) if scalars else db.session.execute(q))
    return Page(rows[:per_page], page, len(rows) > per_page)
