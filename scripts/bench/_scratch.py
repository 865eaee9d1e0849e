"""Scratch PostgreSQL databases for the benchmarks: created empty on the named server, dropped after."""

from __future__ import annotations

import uuid
from collections.abc import Callable

import sqlalchemy as sa

from app import normalize_database_url


def scratch_postgres(server_url: str, prefix: str) -> tuple[str, str, Callable[[], None]]:
    """Create an empty database `<prefix>_<8 hex>` on the server of `server_url`.

    Returns (its URL, its name, a function that drops it, even while connections remain open)."""
    server_url = normalize_database_url(server_url)
    base = server_url.rsplit("/", 1)[0] if server_url.count("/") > 2 else server_url
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(f"{base}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return f"{base}/{name}", name, drop
