"""The notification outbox's settings and clock, read from the app's configuration."""

from __future__ import annotations

from datetime import datetime

from flask import current_app

from ..models import utcnow


def clock() -> datetime:
    """Now, naive UTC. Tests freeze it with app.config["NOTIFY_CLOCK"] = lambda: datetime(...)."""
    fn = current_app.config.get("NOTIFY_CLOCK")
    return fn() if fn else utcnow()


def clock_function():
    """The clock itself, for threads that run without an app context (lease heartbeats)."""
    return current_app.config.get("NOTIFY_CLOCK") or utcnow


def chunk_size() -> int:
    return int(current_app.config.get("NOTIFY_CHUNK_SIZE", 500))


def lease_seconds() -> float:
    """A sending job's claim on its deliveries lapses this long after its last renewal."""
    return float(current_app.config.get("NOTIFY_LEASE_SECONDS", 30))


def stale_seconds() -> float:
    """A due delivery handed to a job and still queued after this long is handed over again."""
    return float(current_app.config.get("NOTIFY_STALE_SECONDS", 300))
