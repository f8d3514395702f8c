"""Keep-alive connections spread evenly over a service's workers.

The kernel places each new connection on one worker's socket by a hash of its addresses
(SO_REUSEPORT), and a keep-alive connection then stays with that worker for its whole life. A
client's eight connections were seen split 1:7, 2:6 and 3:5 between two workers: the worker with
seven queued requests while the other idled. Even, the split took about 2 ms off the p99 of eight
concurrent requests, and no run was left to the hash's luck (docs/experiments/2026-12-07-serving-speed.md).

So each worker publishes how many connections it holds, in a slot of its own in a small file the
supervisor makes, and a worker holding more than its share (all the workers' connections over their
number, rounded up) answers the request in hand with ``Connection: close``. The client opens a new
connection, which the kernel places afresh, and after a few such rounds the split is even. Nothing is
refused or lost: the request is answered in full first, and a client with one connection is never
asked to move it.
"""

from __future__ import annotations

import fcntl
import mmap
import os
from collections.abc import Sized
from pathlib import Path

from farga.errors import FargaError

SLOT = 8  # bytes: one signed 64-bit count per worker


def make_slots(path: Path, workers: int) -> None:
    """The supervisor's file of ``workers`` zeroed slots, which its workers then share."""
    path.write_bytes(bytes(SLOT * workers))


class ConnectionShare:
    """One worker's view of the slots: its own, which it writes, and everybody's, which it sums."""

    def __init__(self, path: Path, held: Sized):
        self.held = held  # the worker's open connections (uvicorn's own set: exact, nothing to keep in step)
        self._fd = os.open(path, os.O_RDWR)
        self._map = mmap.mmap(self._fd, os.fstat(self._fd).st_size)
        self.counts = memoryview(self._map).cast("q")
        self.slot = self._claim()
        self.counts[self.slot] = 0

    def _claim(self) -> int:
        """The first slot no living worker holds. The lock is the kernel's, so a worker killed with
        -9 frees its slot for the one the supervisor starts in its place."""
        for slot in range(len(self.counts)):
            try:
                fcntl.lockf(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB, SLOT, slot * SLOT)
            except OSError:
                continue
            return slot
        raise FargaError(f"every one of the {len(self.counts)} connection slots is held by a living worker")

    def over_share(self) -> bool:
        """Whether this worker holds more connections than its share, and should let one go; when it
        should, its slot already counts that one as gone, so that the other workers see the new split."""
        mine = len(self.held)
        self.counts[self.slot] = mine
        share = -(-sum(self.counts) // len(self.counts))
        if mine <= share:
            return False
        self.counts[self.slot] = mine - 1
        return True

    def close(self) -> None:
        self.counts.release()
        self._map.close()
        os.close(self._fd)


class Balance:
    """This process's share, once it is a worker of several (``None``: one worker, nothing to spread)."""

    share: ConnectionShare | None = None

    @classmethod
    def should_let_go(cls) -> bool:
        return cls.share is not None and cls.share.over_share()
