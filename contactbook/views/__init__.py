"""The contact book's pages: one module per audience, each with one blueprint named
`contactbook_<module>`, all under /contactbook (docs/LAYOUT.md)."""

from __future__ import annotations

from . import kindergarten, messages, parent, primary, public, results, staff, teacher, urgent, years

BLUEPRINTS = (
    public.bp,
    parent.bp,
    teacher.bp,
    staff.bp,
    messages.bp,
    years.bp,
    results.bp,
    urgent.bp,
    kindergarten.bp,
    primary.bp,
)
