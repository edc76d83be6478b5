"""Who owns a journal record, and whether that owner still lives.

A process is identified by its pid *and* its start time (field 22 of
``/proc/<pid>/stat``, in clock ticks since boot), so a reused pid never
passes for the process that wrote a record.  The boot id and the pid
namespace say whether the pid can be looked up here at all: a record of an
earlier boot is dead, one from another pid namespace (a container) or
another host cannot be judged, and what cannot be judged is treated as
alive, so nothing in use is ever undone.

The process table is a collaborator: tests pass a fake, production reads
``/proc``.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from typing import Any
from typing import Protocol


@dataclasses.dataclass(frozen=True)
class Owner:
    """One process on one host, in one boot, in one pid namespace."""

    host: str
    boot_id: str
    pid_namespace: str
    pid: int
    start_time: int

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> Owner:
        """An owner read back from a record; ValueError if malformed."""
        if not isinstance(data, dict):
            raise ValueError("owner is not an object: %r" % (data,))
        try:
            owner = cls(host=str(data["host"]),
                        boot_id=str(data["boot_id"]),
                        pid_namespace=str(data["pid_namespace"]),
                        pid=int(data["pid"]),
                        start_time=int(data["start_time"]))
        except (KeyError, TypeError) as exc:
            raise ValueError("owner is incomplete: %r" % (data,)) from exc
        return owner


class ProcessTable(Protocol):
    """What the journal needs to know about processes on this host."""

    def boot_id(self) -> str: ...

    def pid_namespace(self) -> str: ...

    def current_pid(self) -> int: ...

    def start_time(self, pid: int) -> int | None:
        """The process's start time, or None when there is no such pid."""


class ProcFs:
    """The process table of ``/proc`` (Linux)."""

    def __init__(self, proc: str = "/proc") -> None:
        self._proc = proc

    def boot_id(self) -> str:
        path = os.path.join(self._proc, "sys/kernel/random/boot_id")
        with open(path, encoding="ascii") as f:
            return f.read().strip()

    def pid_namespace(self) -> str:
        return str(os.stat(os.path.join(self._proc, "self/ns/pid")).st_ino)

    def current_pid(self) -> int:
        return os.getpid()

    def start_time(self, pid: int) -> int | None:
        try:
            with open(os.path.join(self._proc, str(pid), "stat"),
                      encoding="ascii", errors="replace") as f:
                stat = f.read()
        except (FileNotFoundError, ProcessLookupError):
            return None
        return parse_start_time(stat)


def parse_start_time(stat: str) -> int:
    """Field 22 of a ``/proc/<pid>/stat`` line.

    The command name (field 2) is in parentheses and may itself contain
    spaces and parentheses: the fields are counted after the last ``)``.
    """
    rest = stat[stat.rindex(")") + 2:].split()
    # rest[0] is field 3 (state), so field 22 is rest[19].
    return int(rest[19])


@dataclasses.dataclass(frozen=True)
class Verdict:
    """Whether an owner may still use what it recorded, and why."""

    alive: bool
    reason: str


class Owners:
    """This process as an owner, and the liveness of others."""

    def __init__(self, table: ProcessTable,
                 host: Callable[[], str]) -> None:
        self._table = table
        # Asked lazily: it is os-brick's connector host name, which
        # costs a root helper call, and most starts have nothing to judge.
        self._host_fn = host
        self._host: str | None = None
        self._me: Owner | None = None

    @property
    def host(self) -> str:
        if self._host is None:
            self._host = self._host_fn()
        return self._host

    def boot_id(self) -> str:
        return self._table.boot_id()

    def me(self) -> Owner:
        pid = self._table.current_pid()
        # Cached per pid: a forked worker is a new owner.
        if self._me is None or self._me.pid != pid:
            start = self._table.start_time(pid)
            if start is None:
                raise RuntimeError("this process (pid %d) is not in the "
                                   "process table" % pid)
            self._me = Owner(host=self.host,
                             boot_id=self._table.boot_id(),
                             pid_namespace=self._table.pid_namespace(),
                             pid=pid, start_time=start)
        return self._me

    def judge(self, owner: Owner) -> Verdict:
        if owner.host != self.host:
            return Verdict(True, "owned on another host (%s): not ours to "
                           "judge" % owner.host)
        if owner.boot_id != self._table.boot_id():
            return Verdict(False, "owner pid %d ran before the last boot"
                           % owner.pid)
        if owner.pid_namespace != self._table.pid_namespace():
            return Verdict(True, "owner pid %d is in another pid "
                           "namespace: cannot be judged" % owner.pid)
        start = self._table.start_time(owner.pid)
        if start is None:
            return Verdict(False, "owner pid %d has exited" % owner.pid)
        if start != owner.start_time:
            return Verdict(False, "owner pid %d has exited (the pid now "
                           "belongs to another process)" % owner.pid)
        return Verdict(True, "owner pid %d is running" % owner.pid)
