"""At most one password hash per core at a time, across the processes of one server.

argon2id is memory-hard on purpose: each hash walks 19 MiB. A web server runs more processes
than cores (they wait on the database most of the time), so in a burst of logins or
registrations several hashes share a core and evict each other's memory from the core's cache
at every switch: measured on a 2-core machine, a verify cost 18.5 ms of CPU with one hash per
core and 23 ms with two per core (docs/performance.md). Taking a slot (an exclusive `flock` on
one of N lock files, N = cores) before hashing keeps them one per core; the others wait a few
milliseconds instead of slowing everyone down. The kernel releases a slot when its process dies.

`PASSWORD_HASH_SLOTS`: the number of slots (default: the number of cores; 0 = no limit). The
files live in the instance folder, so the processes of one installation share them.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator


class HashSlots:
    def __init__(self, directory: str, count: int):
        self.paths = [os.path.join(directory, f"password-hash-slot-{i}.lock") for i in range(count)]
        self._local = threading.local()  # each thread (and each forked process) its own descriptors

    def _descriptors(self) -> list[int]:
        local = self._local
        if getattr(local, "pid", None) != os.getpid():
            # A forked child shares its parent's open files, and with them their locks: open anew.
            local.fds = [os.open(p, os.O_CREAT | os.O_RDWR, 0o600) for p in self.paths]
            local.pid = os.getpid()
        return local.fds

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        fds = self._descriptors()
        taken = None
        for fd in fds:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue
            taken = fd
            break
        if taken is None:  # every slot busy: wait for one (spread over the slots by process)
            taken = fds[(os.getpid() + threading.get_ident()) % len(fds)]
            fcntl.flock(taken, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(taken, fcntl.LOCK_UN)


def _cores() -> int:
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may use (containers, taskset)
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def hash_slots(directory: str, configured: int | None) -> HashSlots | None:
    """The slots for this installation, or None when there is no limit to keep."""
    count = _cores() if configured is None else configured
    if count <= 0:
        return None
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError:
        return None
    return HashSlots(directory, count)
