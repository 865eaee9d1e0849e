"""The area's pages, one module per audience, each with one blueprint named `admissions_<module>`."""

from . import council, dashboard, imports, office, parent, public, rounds

BLUEPRINTS = (office.bp, rounds.bp, parent.bp, council.bp, dashboard.bp, public.bp, imports.bp)
