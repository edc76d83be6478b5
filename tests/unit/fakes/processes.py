"""A process table for the journal's owners: who runs, since when.

Tests start and end "processes" by hand; the current process is one of
them.  Nothing reads /proc.
"""

from __future__ import annotations

import itertools

BOOT_ID = "0b0b0b0b-1111-4222-8333-444444444444"
PID_NAMESPACE = "4026531836"


class FakeProcessTable:
    """Implements glance_store_cinder.owners.ProcessTable."""

    def __init__(self, pid: int = 4242, start_time: int = 1000) -> None:
        self.boot = BOOT_ID
        self.namespace = PID_NAMESPACE
        self.pid = pid
        self.running: dict[int, int] = {pid: start_time}
        self._ticks = itertools.count(start_time + 1)

    # -- ProcessTable -------------------------------------------------------
    def boot_id(self) -> str:
        return self.boot

    def pid_namespace(self) -> str:
        return self.namespace

    def current_pid(self) -> int:
        return self.pid

    def start_time(self, pid: int) -> int | None:
        return self.running.get(pid)

    # -- test-facing ----------------------------------------------------------
    def spawn(self, pid: int) -> int:
        """A new process with ``pid`` (replacing one that had it)."""
        self.running[pid] = next(self._ticks)
        return pid

    def become(self, pid: int) -> None:
        """Act as another (e.g. a freshly forked) worker."""
        if pid not in self.running:
            self.spawn(pid)
        self.pid = pid

    def kill(self, pid: int) -> None:
        self.running.pop(pid, None)

    def reboot(self) -> None:
        self.boot = "1c1c1c1c-1111-4222-8333-444444444444"
        self.running = {self.pid: next(self._ticks)}
