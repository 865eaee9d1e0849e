"""Leases: a claim on database rows that lapses unless its holder keeps renewing it.

A runner that claims work (a platform job in the outbox, a chunk of notification deliveries)
writes a token and a time on the rows. While the work runs, a `Heartbeat` thread renews that time
every `every` seconds on a connection of its own, so a slow step (a mail server taking its time, a
long computation) never lets a live claim lapse. A runner killed with -9 stops renewing: its claim
lapses after the lease, and the relay hands the work to another runner (docs/notifications.md).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

import sqlalchemy as sa

log = logging.getLogger(__name__)


class Heartbeat:
    """`with Heartbeat(engine, renew, every):` calls `renew(connection)` in its own transaction
    every `every` seconds until the block ends. A failed renewal is logged and tried again at the
    next beat (the database may be briefly busy or unreachable)."""

    def __init__(self, engine: sa.Engine, renew: Callable[[sa.Connection], None], every: float, name: str):
        self.engine, self.renew, self.every, self.name = engine, renew, max(float(every), 0.05), name
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, name=f"lease-{name}", daemon=True)

    def __enter__(self) -> Heartbeat:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop.set()
        self.thread.join(timeout=self.every + 10)

    def _run(self) -> None:
        while not self.stop.wait(self.every):
            try:
                with self.engine.begin() as conn:
                    self.renew(conn)
            except Exception:  # noqa: BLE001 - the next beat tries again; the claim lapses only after the lease
                log.warning("lease %s: renewal failed", self.name, exc_info=True)
