"""Password hashes at most one per slot, across threads and forked processes."""

import os
import threading
import time

from app.hashslots import hash_slots
from app.security import Passwords


def test_a_second_hash_waits_for_the_slot(tmp_path):
    slots = hash_slots(str(tmp_path), 1)
    inside, release, order = threading.Event(), threading.Event(), []

    def first():
        with slots.held():
            order.append("first in")
            inside.set()
            release.wait(5)
            order.append("first out")

    def second():
        with slots.held():
            order.append("second in")

    a = threading.Thread(target=first)
    a.start()
    assert inside.wait(5)
    b = threading.Thread(target=second)
    b.start()
    time.sleep(0.2)
    assert order == ["first in"]  # the second waits while the only slot is held
    release.set()
    a.join(5)
    b.join(5)
    assert order == ["first in", "first out", "second in"]


def test_two_slots_let_two_hashes_run_together(tmp_path):
    slots = hash_slots(str(tmp_path), 2)
    both, done = threading.Barrier(2, timeout=5), []

    def hold():
        with slots.held():
            both.wait()  # raises BrokenBarrierError if the other could not get in
            done.append(1)

    threads = [threading.Thread(target=hold) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(5)
    assert done == [1, 1]


def test_a_forked_process_does_not_inherit_the_parents_slot(tmp_path):
    slots = hash_slots(str(tmp_path), 1)
    with slots.held():
        pid = os.fork()
        if pid == 0:  # the child: must wait, not share the parent's lock
            import fcntl

            fd = slots._descriptors()[0]
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                os._exit(1)  # it got the slot the parent holds
            except BlockingIOError:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_no_limit_when_configured_off(tmp_path):
    assert hash_slots(str(tmp_path), 0) is None
    ph = Passwords(1, 8, 1, hash_slots(str(tmp_path), 1))
    assert ph.verify(ph.hash("mot ngay dep troi"), "mot ngay dep troi")
    assert not ph.verify(None, "x")
