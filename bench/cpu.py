"""CPU seconds around a timed call (this process's and the machine's),
and the bytes of the devices under the export.

The process figures (``getrusage``) cover every thread of the worker: the
drivers hash in threads.  The machine figures (``/proc/stat``) also cover
what the call makes others do: the kernel's writeback and loop-device
threads, the privsep daemon, Cinder's services on this host.  For the
end-to-end rows, a process tree (a glance-api: its gunicorn master and
everything below it, workers, sudo, privsep daemons) is measured too, from
``/proc/<pid>/stat``: its live processes' user and system time and what
they collected from children they reaped.
"""

from __future__ import annotations

import dataclasses
import os
import resource
import time
from collections.abc import Iterator
from contextlib import contextmanager

from bench import disks

_TICK = float(os.sysconf("SC_CLK_TCK"))
# Columns of /proc/stat's "cpu" line, in order.
_COLUMNS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq",
            "steal")


@dataclasses.dataclass(frozen=True)
class Snapshot:
    proc_user: float
    proc_sys: float
    machine: dict[str, float]


def machine_times() -> dict[str, float]:
    """Seconds the machine's CPUs spent in each state since boot."""
    try:
        with open("/proc/stat", encoding="ascii") as f:
            fields = f.readline().split()[1:]
    except OSError:
        return {}
    return {name: int(value) / _TICK
            for name, value in zip(_COLUMNS, fields, strict=False)}


def _proc_stat(pid: str) -> tuple[int, float, float] | None:
    """(parent pid, user, system seconds, reaped children's included)."""
    try:
        with open("/proc/%s/stat" % pid, encoding="ascii",
                  errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    # Fields after "(comm)": state is field 3, so field n is rest[n - 3].
    rest = text[text.rindex(")") + 2:].split()
    user = (int(rest[11]) + int(rest[13])) / _TICK
    system = (int(rest[12]) + int(rest[14])) / _TICK
    return int(rest[1]), user, system


def tree_times(root: int) -> dict[int, tuple[float, float]]:
    """User and system seconds of ``root`` and of its descendants."""
    table = {int(p): st for p in os.listdir("/proc") if p.isdigit()
             and (st := _proc_stat(p)) is not None}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out: dict[int, tuple[float, float]] = {}
    todo = [root] if root in table else []
    while todo:
        pid = todo.pop()
        out[pid] = table[pid][1:]
        todo += children.get(pid, [])
    return out


def tree_between(start: dict[int, tuple[float, float]],
                 end: dict[int, tuple[float, float]]) -> dict[str, float]:
    """The tree's CPU seconds from ``start`` to ``end`` (a process that
    exited meanwhile counts through its parent's reaped children)."""
    user = sum(u - start.get(pid, (0.0, 0.0))[0]
               for pid, (u, _) in end.items())
    system = sum(s - start.get(pid, (0.0, 0.0))[1]
                 for pid, (_, s) in end.items())
    return {"api_user_s": user, "api_sys_s": system}


def snapshot() -> Snapshot:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return Snapshot(usage.ru_utime, usage.ru_stime, machine_times())


def between(start: Snapshot, end: Snapshot) -> dict[str, float]:
    """The CPU seconds spent from ``start`` to ``end``."""
    m = {k: end.machine.get(k, 0.0) - start.machine.get(k, 0.0)
         for k in _COLUMNS}
    out = {"proc_user_s": end.proc_user - start.proc_user,
           "proc_sys_s": end.proc_sys - start.proc_sys}
    if end.machine:
        out.update({
            "machine_user_s": m["user"] + m["nice"],
            "machine_sys_s": m["system"] + m["irq"] + m["softirq"],
            "machine_iowait_s": m["iowait"],
            "machine_idle_s": m["idle"],
            "machine_steal_s": m["steal"],
        })
        out["machine_busy_s"] = out["machine_user_s"] + out["machine_sys_s"]
    return out


def background_rate(seconds: float = 1.0) -> float:
    """Busy CPU seconds per second of the machine while this process
    sleeps: what others (on a shared machine) are using."""
    start = snapshot()
    time.sleep(seconds)
    return between(start, snapshot()).get("machine_busy_s", 0.0) / seconds


def own_share(cpu: dict[str, float], wall: float, background: float
              ) -> float:
    """The machine's busy seconds of a call minus the others' usual
    share, at least the process's own."""
    own = cpu["proc_user_s"] + cpu["proc_sys_s"]
    return max(own, cpu.get("machine_busy_s", own) - background * wall)


class Meter:
    """``with meter.measure(): ...``; then ``meter.seconds`` (CPU) and
    ``meter.io`` (bytes of the devices named in ``devices``, see
    :mod:`bench.disks`)."""

    def __init__(self, devices: dict[str, str] | None = None,
                 tree: int | None = None) -> None:
        self.devices = devices or {}
        self.tree = tree     # a process whose tree is measured too
        self.seconds: dict[str, float] = {}
        self.io: dict[str, int] = {}

    @contextmanager
    def measure(self) -> Iterator[Meter]:
        io_start = disks.counters(self.devices)
        tree = tree_times(self.tree) if self.tree else {}
        start = snapshot()
        try:
            yield self
        finally:
            self.seconds = between(start, snapshot())
            if self.tree:
                self.seconds.update(tree_between(
                    tree, tree_times(self.tree)))
            io_end = disks.counters(self.devices)
            self.io = {k: v - io_start[k] for k, v in io_end.items()
                       if k in io_start}
