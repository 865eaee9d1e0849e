"""Starting and stopping the gunicorn servers of the load test, and what they cost: CPU seconds
read from /proc for the master and its workers, statements counted by gunicorn_hooks."""

from __future__ import annotations

import glob
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from gunicorn_hooks import empty_row

HERE = Path(__file__).resolve().parent
ROOT = HERE.parents[1]
TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_of(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def cpu_of(pids) -> float:
    """CPU seconds used so far by these processes (those gone count nothing)."""
    return sum(_cpu_of(p) for p in pids)


def generator_cpu() -> float:
    """CPU seconds of this process's reaped children (the generator's processes, once joined)."""
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def _children(pid: int) -> list[int]:
    out = []
    for path in glob.glob("/proc/[0-9]*/stat"):
        try:
            with open(path) as fh:
                fields = fh.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            out.append(int(path.split("/")[2]))
    return out


class Server:
    """One gunicorn on 127.0.0.1:`port` serving `target` with `workers` sync worker processes."""

    def __init__(self, name: str, target: str, port: int, workers: int, env: dict, pythonpath: str):
        self.name, self.port = name, port
        self.base = f"http://127.0.0.1:{port}"
        self.stats_dir = tempfile.mkdtemp(prefix=f"tsll-load-{name}-")
        conf = os.path.join(self.stats_dir, "gunicorn.conf.py")
        with open(conf, "w") as fh:
            fh.write(
                f"import sys\nsys.path.insert(0, {str(HERE)!r})\n"
                "import gunicorn_hooks\n"
                f"gunicorn_hooks.STATS_DIR = {self.stats_dir!r}\n"
                "from gunicorn_hooks import post_fork, post_request, pre_request, worker_exit\n"
            )
        gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
        cmd = [
            gunicorn,
            "--config",
            conf,
            "--workers",
            str(workers),
            "--bind",
            f"127.0.0.1:{port}",
            "--pythonpath",
            pythonpath,
            "--chdir",
            str(ROOT),
            "--timeout",
            "120",
            "--log-level",
            "warning",
            target,
        ]
        self.log = open(os.path.join(self.stats_dir, "server.log"), "w")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(cmd, env=env, stdout=self.log, stderr=subprocess.STDOUT)  # noqa: S603

    def wait_ready(self, path: str, timeout: float = 90.0) -> None:
        until = time.time() + timeout
        while time.time() < until:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} server exited: see {self.log.name}")
            try:
                with urllib.request.urlopen(self.base + path, timeout=5) as resp:  # noqa: S310 - loopback
                    if resp.status == 200 and len(_children(self.proc.pid)) > 0:
                        return
            except OSError:
                pass
            time.sleep(0.3)
        raise RuntimeError(f"{self.name} server did not answer {path} in {timeout:.0f} s")

    def cpu(self) -> float:
        """CPU seconds used so far by the master and its live workers."""
        pids = [self.proc.pid, *_children(self.proc.pid)]
        return sum(_cpu_of(p) for p in pids)

    def stop(self) -> dict[str, list]:
        """Stop gracefully; return the workers' counts per "phase step" and per phase, summed."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        total: dict[str, list] = {}
        for path in glob.glob(os.path.join(self.stats_dir, "*.json")):
            with open(path) as fh:
                for key, row in json.load(fh).items():
                    for k in {key, key.split(" ")[0]}:
                        acc = total.setdefault(k, empty_row())
                        for i, v in enumerate(row):
                            acc[i] += v
        return total
