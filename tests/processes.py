"""Real processes for the fault tests: a private redis-server, `flask --app app worker` and
`flask --app app notifications relay --loop` subprocesses, each in a process group of its own."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PrivateRedis:
    """A redis-server of the test's own on a free port (no persistence: a restart comes back
    empty, like a crashed Redis), stopped and started again on the same port. Never the shared
    server on 6379."""

    def __init__(self, tmp_path):
        exe = shutil.which("redis-server")
        if exe is None:
            pytest.skip("redis-server is not installed")
        self.exe, self.dir = exe, tmp_path
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.proc: subprocess.Popen | None = None

    def start(self) -> PrivateRedis:
        args = [self.exe, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"]
        self.proc = subprocess.Popen(
            [*args, "--dir", str(self.dir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return self
            except OSError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def worker_env(database_url: str, redis_url: str, mail_url: str, instance_path, **settings) -> dict:
    env = dict(
        os.environ,
        DATABASE_URL=database_url,
        REDIS_URL=redis_url,
        MAIL_URL=mail_url,
        SECRET_KEY="worker-test",
        PUBLIC_URL="http://localhost",  # a production process: required (app/links.py)
        MAIL_SENDER="Thông báo <thongbao@example.edu.vn>",
        INSTANCE_PATH=str(instance_path),
        PYTHONUNBUFFERED="1",
    )
    env.update({k: str(v) for k, v in settings.items()})
    return env


def process_group(pgid: int) -> list[int]:
    """Live (not zombie) processes of a process group, from /proc."""
    members = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            members.append(int(entry))
    return members


class Service:
    """A long-running `flask --app app …` subprocess in its own process group (as a supervisor
    runs it), its output in a log file for the failure message."""

    def __init__(self, args: list[str], env: dict, log_path: Path):
        self.args, self.env, self.log_path = args, env, log_path
        self.proc: subprocess.Popen | None = None
        self.starts = 0

    def start(self) -> Service:
        self.starts += 1
        log = open(self.log_path, "ab")  # noqa: SIM115 - handed to the child, closed below
        log.write(f"\n--- start {self.starts} ---\n".encode())
        log.flush()
        try:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "flask", "--app", "app", *self.args],
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        finally:
            log.close()
        return self

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def kill_group(self) -> None:
        """SIGKILL to the whole process group, as when a machine or container goes away; wait
        until none of its processes is left."""
        assert self.proc is not None
        pid = self.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        self.proc.wait(timeout=30)
        deadline = time.monotonic() + 10
        while process_group(pid):
            assert time.monotonic() < deadline, f"processes of the killed group survive: {process_group(pid)}"
            time.sleep(0.02)

    def stop(self, timeout: float = 15) -> bool:
        """SIGTERM to the group; True if the process then exited by itself within `timeout`."""
        if self.proc is None or self.proc.poll() is not None:
            return False
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
            return True
        except subprocess.TimeoutExpired:
            self.kill_group()
            return False

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""


def worker(env: dict, queue: str, log_path: Path) -> Service:
    return Service(["worker", queue], env, log_path)


def relay_loop(env: dict, log_path: Path, interval: float = 1.0) -> Service:
    return Service(["notifications", "relay", "--loop", "--interval", str(interval)], env, log_path)


def wait_until(condition, timeout: float, message, poll: float = 0.05):
    """Poll `condition()` until it returns something true; fail with message() after timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(message() if callable(message) else message)
        time.sleep(poll)
