"""Long lists: one page at a time, with a search box, never cut silently.

`page_arg()` and `search_arg()` read `?page=` and `?q=` (clamped and cleaned), `contains()` builds
a case-insensitive LIKE on several columns that works on SQLite and PostgreSQL, and `paginate()`
runs a SELECT for one page, telling whether another page follows. Lists that can reach a whole
district (200,000 rows) page by keyset instead: `keyset_paginate()` and `cursor_arg()`, below."""

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


# ---- keyset paging: long lists read one page from an index, whatever the page number ---------
# OFFSET reads and drops every row before the page (page 4,000 of 200,000 children reads them
# all), and a count of every row costs a pass over the list on each request. A keyset page
# continues from the last row shown instead: the links carry that row's id (`after`, `before`),
# never a name (ids only in addresses and logs); `page` is only the number shown.


def cursor_arg(name: str) -> int | None:
    """A row id from the query string (`after` / `before`), or None when absent or not an id."""
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and 0 < len(value) < 19 else None


@dataclass
class KeysetPage(Page):
    """A page of a keyset-paged list: `first_id` / `last_id` go into the previous / next links."""

    prev: bool = False
    first_id: int | None = None
    last_id: int | None = None

    @property
    def has_prev(self) -> bool:
        return self.prev


def keyset_paginate(
    query: sa.Select,
    order: list,
    anchor: tuple | None,
    *,
    backwards: bool,
    page: int,
    per_page: int,
    id_of,
) -> KeysetPage:
    """One page of `query` in `order` (whose last key is unique), starting after `anchor` (the
    sort key of the last row shown), or ending before it when `backwards`. `id_of(row)` is the id
    that links carry. Reads at most per_page + 1 rows past the anchor."""
    q = query
    if anchor is not None:
        key = sa.tuple_(*order)
        q = q.where(key < sa.tuple_(*anchor) if backwards else key > sa.tuple_(*anchor))
    q = q.order_by(*(c.desc() for c in order) if backwards and anchor is not None else order)
    rows = list(db.session.execute(q.limit(per_page + 1)))
    more = len(rows) > per_page
    rows = rows[:per_page]
    if backwards and anchor is not None:
        rows.reverse()
        has_prev, has_next = more, True
        page = max(page, 2) if more else 1
    else:
        has_prev, has_next = anchor is not None, more
        page = page if anchor is not None else 1
    return KeysetPage(
        rows,
        page,
        has_next,
        prev=has_prev,
        first_id=id_of(rows[0]) if rows else None,
        last_id=id_of(rows[-1]) if rows else None,
    )
