"""Two app instances behind HAProxy share sessions, rate limits and jobs (scripts/load/scaleout.py).

Runs the script itself: it starts its own scratch database, two gunicorn instances, two workers
and HAProxy on private loopback ports. Needs PostgreSQL, Redis and the haproxy binary."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.redis, pytest.mark.postgres]

ROOT = Path(__file__).resolve().parents[2]


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


@pytest.mark.skipif(
    shutil.which("haproxy") is None and not os.path.exists("/usr/sbin/haproxy"), reason="no haproxy"
)
@pytest.mark.skipif(not (_answers(5432) and _answers(6379)), reason="needs PostgreSQL and Redis on 127.0.0.1")
@pytest.mark.timeout(600)
def test_a_journey_hops_between_two_instances_that_share_sessions_limits_and_jobs():
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL",)}
    if not env.get("REDIS_URL"):
        env["REDIS_URL"] = "redis://127.0.0.1:6379/0"
    done = subprocess.run(  # noqa: S603 - our own script
        [sys.executable, str(ROOT / "scripts" / "load" / "scaleout.py"), "--journeys", "4"],
        env=env,
        cwd=str(ROOT),
        capture_output=True,
        text=True,
        timeout=540,
        check=False,
    )
    lines = done.stdout.strip().splitlines()
    assert lines, done.stderr[-2000:]
    assert lines[-1] == "SCALEOUT ok=yes journeys=4 hops=4 lost=0 duplicates=0", (
        done.stdout + done.stderr[-2000:]
    )
    assert "sessions: login on A honoured by B, logout on B ends it on A: yes" in lines
    assert "rate limits: one count for both instances: yes" in lines
